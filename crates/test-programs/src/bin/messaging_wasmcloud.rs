//! A `wasmcloud:messaging@0.2.0` component: an HTTP front that publishes
//! and requests through `consumer`, and the `handler` the messaging
//! trigger calls.
//!
//! HTTP (query parameters, percent-decoded):
//! - `?publish=SUBJECT&body=B[&reply_to=R]` answers `published` or
//!   `error: …`;
//! - `?request=SUBJECT&body=B&timeout=MS` answers `subject=S|body=B` of the
//!   reply, or `error: …`;
//! - `?get=KEY` answers the value of `KEY` in key-value store `default`
//!   (`none` when absent).
//!
//! Each message handed to `handle-message`: body `trap` traps, `fail`
//! returns an error; anything else is counted in `wc-count:SUBJECT` and
//! stored in `wc-msg:SUBJECT:N` as `body|reply-to`, and, when it has a
//! `reply-to`, answered there with the body upper-cased.

use test_programs::http::respond_text;
use test_programs::query_param;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:messaging-wasmcloud;
            world guest {
                import wasmcloud:messaging/consumer@0.2.0;
                import wasi:keyvalue/store@0.2.0-draft;
                import wasi:keyvalue/atomics@0.2.0-draft;
                export wasmcloud:messaging/handler@0.2.0;
            }
        ",
        path: [
            "../../wit/deps/wasmcloud-messaging@0.2.0",
            "../../wit/deps/wasi-keyvalue@0.2.0-draft",
        ],
        generate_all,
    });
}

use bindings::wasi::keyvalue::{atomics, store};
use bindings::wasmcloud::messaging::consumer;
use bindings::wasmcloud::messaging::types::BrokerMessage;

struct Component;

wasip2::http::proxy::export!(Component);

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let body = query_param(&path, "body").unwrap_or_default().into_bytes();
        let result = if let Some(subject) = query_param(&path, "publish") {
            consumer::publish(&BrokerMessage {
                subject,
                body,
                reply_to: query_param(&path, "reply_to"),
            })
            .map(|()| "published".to_string())
        } else if let Some(subject) = query_param(&path, "request") {
            let timeout = query_param(&path, "timeout")
                .and_then(|t| t.parse().ok())
                .unwrap_or(5000);
            consumer::request(&subject, &body, timeout).map(|reply| {
                format!(
                    "subject={}|body={}",
                    reply.subject,
                    String::from_utf8_lossy(&reply.body)
                )
            })
        } else if let Some(key) = query_param(&path, "get") {
            store::open("default")
                .and_then(|bucket| bucket.get(&key))
                .map(|value| {
                    value.map_or("none".to_string(), |v| String::from_utf8_lossy(&v).into())
                })
                .map_err(|e| format!("key-value: {e:?}"))
        } else {
            Err("expected ?publish=, ?request= or ?get=".to_string())
        };
        match result {
            Ok(body) => respond_text(out, 200, &body),
            Err(error) => respond_text(out, 200, &format!("error: {error}")),
        }
    }
}

impl bindings::exports::wasmcloud::messaging::handler::Guest for Component {
    fn handle_message(msg: BrokerMessage) -> Result<(), String> {
        match msg.body.as_slice() {
            b"trap" => panic!("asked to trap"),
            b"fail" => return Err("asked to fail".to_string()),
            _ => {}
        }
        let subject = &msg.subject;
        let record = || -> Result<(), store::Error> {
            let bucket = store::open("default")?;
            let n = atomics::increment(&bucket, &format!("wc-count:{subject}"), 1)?;
            let text = format!(
                "{}|{}",
                String::from_utf8_lossy(&msg.body),
                msg.reply_to.as_deref().unwrap_or("")
            );
            bucket.set(&format!("wc-msg:{subject}:{n}"), text.as_bytes())
        };
        record().map_err(|e| format!("key-value: {e:?}"))?;
        if let Some(reply_to) = &msg.reply_to {
            consumer::publish(&BrokerMessage {
                subject: reply_to.clone(),
                body: msg.body.to_ascii_uppercase(),
                reply_to: None,
            })?;
        }
        Ok(())
    }
}

bindings::export!(Component with_types_in bindings);

fn main() {}
