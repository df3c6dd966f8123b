//! A `wasi:messaging@0.2.0-draft` component: an HTTP front that sends and
//! requests, and an `incoming-handler` the messaging trigger calls.
//!
//! HTTP (query parameters, percent-decoded):
//! - `?send=SUBJECT&body=B[&broker=L][&ct=TYPE][&meta=K=V]` connects to
//!   broker `L` (default `default`) and sends; answers `sent`, or
//!   `error: <variant>: <message>` (`metadata: …` when `K` is refused);
//! - `?request=SUBJECT&body=B[&broker=L][&timeout=MS][&replies=N]` answers
//!   one line per reply, `topic=T|data=D|ct=C|meta=K=V,…`, or `error: …`;
//! - `?get=KEY` answers the value of `KEY` in key-value store `default`
//!   (`none` when absent).
//!
//! Each message handed to `handle`:
//! - data `trap` traps; `fail` returns `other("asked to fail")`; `spin`
//!   loops until the host stops it;
//! - anything else is counted in key `count:TOPIC` (atomic increment) and
//!   described, as in a request's answer, in `msg:TOPIC:N`; then it is
//!   answered with `reply` (a no-op for a message that expects none): the
//!   data upper-cased, content type `text/plain`, metadata
//!   `handled-by=wasi`.

use test_programs::http::respond_text;
use test_programs::query_param;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:messaging-wasi;
            world guest {
                import wasi:messaging/producer@0.2.0-draft;
                import wasi:messaging/request-reply@0.2.0-draft;
                import wasi:keyvalue/store@0.2.0-draft;
                import wasi:keyvalue/atomics@0.2.0-draft;
                export wasi:messaging/incoming-handler@0.2.0-draft;
            }
        ",
        path: [
            "../../wit/deps/wasi-messaging@0.2.0-draft",
            "../../wit/deps/wasi-keyvalue@0.2.0-draft",
        ],
        generate_all,
    });
}

use bindings::wasi::keyvalue::{atomics, store};
use bindings::wasi::messaging::types::{Client, Error, Message};
use bindings::wasi::messaging::{producer, request_reply};

fn describe_error(error: &Error) -> String {
    match error {
        Error::Timeout => "error: timeout".to_string(),
        Error::Connection(m) => format!("error: connection: {m}"),
        Error::PermissionDenied(m) => format!("error: permission-denied: {m}"),
        Error::Other(m) => format!("error: other: {m}"),
    }
}

/// `topic=T|data=D|ct=C|meta=K=V,…`.
fn describe(message: &Message) -> String {
    let meta = message
        .metadata()
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "topic={}|data={}|ct={}|meta={meta}",
        message.topic().unwrap_or_default(),
        String::from_utf8_lossy(&message.data()),
        message.content_type().unwrap_or_default(),
    )
}

/// The message `?body=…&ct=…&meta=…` describe, or why it cannot be built.
fn build(path: &str) -> Result<Message, String> {
    let message = Message::new(query_param(path, "body").unwrap_or_default().as_bytes());
    if let Some(ct) = query_param(path, "ct") {
        message
            .set_content_type(&ct)
            .map_err(|()| "error: content type refused".to_string())?;
    }
    if let Some(meta) = query_param(path, "meta") {
        let (k, v) = meta.split_once('=').unwrap_or((&meta, ""));
        message
            .add_metadata(k, v)
            .map_err(|e| format!("error: metadata: {e:?}"))?;
    }
    Ok(message)
}

fn connect(path: &str) -> Result<Client, String> {
    let broker = query_param(path, "broker").unwrap_or_else(|| "default".to_string());
    Client::connect(&broker).map_err(|e| describe_error(&e))
}

fn send(path: &str, subject: &str) -> Result<String, String> {
    let client = connect(path)?;
    let message = build(path)?;
    producer::send(&client, subject, message).map_err(|e| describe_error(&e))?;
    Ok("sent".to_string())
}

fn ask(path: &str, subject: &str) -> Result<String, String> {
    let client = connect(path)?;
    let message = build(path)?;
    let timeout = query_param(path, "timeout").and_then(|t| t.parse().ok());
    let replies = query_param(path, "replies").and_then(|n| n.parse().ok());
    let options = (timeout.is_some() || replies.is_some()).then(|| {
        let options = request_reply::RequestOptions::new();
        if let Some(ms) = timeout {
            options.set_timeout_ms(ms);
        }
        if let Some(n) = replies {
            options.set_expected_replies(n);
        }
        options
    });
    let replies = request_reply::request(&client, subject, &message, options)
        .map_err(|e| describe_error(&e))?;
    Ok(replies.iter().map(describe).collect::<Vec<_>>().join("\n"))
}

struct Component;

wasip2::http::proxy::export!(Component);

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
        let path = incoming.path_with_query().unwrap_or_default();
        let result = if let Some(subject) = query_param(&path, "send") {
            send(&path, &subject)
        } else if let Some(subject) = query_param(&path, "request") {
            ask(&path, &subject)
        } else if let Some(key) = query_param(&path, "get") {
            store::open("default")
                .and_then(|bucket| bucket.get(&key))
                .map(|value| {
                    value.map_or("none".to_string(), |v| String::from_utf8_lossy(&v).into())
                })
                .map_err(|e| format!("error: key-value: {e:?}"))
        } else {
            Err("expected ?send=, ?request= or ?get=".to_string())
        };
        match result {
            Ok(body) => respond_text(out, 200, &body),
            Err(body) => respond_text(out, 200, &body),
        }
    }
}

impl bindings::exports::wasi::messaging::incoming_handler::Guest for Component {
    fn handle(message: Message) -> Result<(), Error> {
        match message.data().as_slice() {
            b"trap" => panic!("asked to trap"),
            b"fail" => return Err(Error::Other("asked to fail".to_string())),
            b"spin" => test_programs::spin_forever(),
            _ => {}
        }
        let topic = message.topic().unwrap_or_default();
        let record = || -> Result<(), store::Error> {
            let bucket = store::open("default")?;
            let n = atomics::increment(&bucket, &format!("count:{topic}"), 1)?;
            bucket.set(&format!("msg:{topic}:{n}"), describe(&message).as_bytes())
        };
        record().map_err(|e| Error::Other(format!("key-value: {e:?}")))?;
        let answer = Message::new(&message.data().to_ascii_uppercase());
        answer
            .set_content_type("text/plain")
            .map_err(|()| Error::Other("content type refused".to_string()))?;
        answer
            .add_metadata("handled-by", "wasi")
            .map_err(|e| Error::Other(format!("metadata: {e:?}")))?;
        request_reply::reply(&message, answer)
    }
}

bindings::export!(Component with_types_in bindings);

fn main() {}
