//! A page-view counter: a `wasi:http` component that keeps its count in the
//! key-value store `default` through `wasi:keyvalue@0.2.0-draft`.
//!
//! - `GET /` increments the key `hits` and answers
//!   `Hello! This page has been viewed N times.`
//! - `GET /reset` deletes the key, so the count starts again.
//!
//! The component only names the store's label; whether `default` is the
//! embedded store under `.skiff/` or a Redis server is decided by whoever runs
//! it (see README.md).

use std::io::Write as _;

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

mod bindings {
    // Bindings for the imports only, from the WIT files Skiff vendors.
    wit_bindgen::generate!({
        inline: "
            package skiff-example:kv-counter;
            world counter {
                import wasi:keyvalue/store@0.2.0-draft;
                import wasi:keyvalue/atomics@0.2.0-draft;
            }
        ",
        path: "../../wit/deps/wasi-keyvalue@0.2.0-draft",
        generate_all,
    });
}

use bindings::wasi::keyvalue::{atomics, store};

/// The store label the manifest grants, and the key holding the count.
const STORE: &str = "default";
const KEY: &str = "hits";

/// Counts one more view; returns the new count.
fn count_view() -> Result<u64, store::Error> {
    let bucket = store::open(STORE)?;
    atomics::increment(&bucket, KEY, 1)
}

/// Forgets the count.
fn reset() -> Result<(), store::Error> {
    store::open(STORE)?.delete(KEY)
}

fn describe(err: store::Error) -> String {
    match err {
        store::Error::NoSuchStore => format!("key-value store `{STORE}` does not exist"),
        store::Error::AccessDenied => format!("access to key-value store `{STORE}` was denied"),
        store::Error::Other(message) => format!("key-value store `{STORE}` failed: {message}"),
    }
}

struct Counter;

impl Guest for Counter {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_default();
        let path = path_with_query.split('?').next().unwrap_or_default();
        if !matches!(request.method(), Method::Get) {
            return respond(out, 405, "Only GET is supported.\n");
        }
        match path {
            "/" => match count_view() {
                Ok(n) => respond(
                    out,
                    200,
                    &format!("Hello! This page has been viewed {n} times.\n"),
                ),
                Err(err) => respond(out, 500, &format!("{}\n", describe(err))),
            },
            "/reset" => match reset() {
                Ok(()) => respond(out, 200, "The counter is reset.\n"),
                Err(err) => respond(out, 500, &format!("{}\n", describe(err))),
            },
            _ => respond(out, 404, "Not found. Try / or /reset.\n"),
        }
    }
}

wasip2::http::proxy::export!(Counter);

/// Sends a `text/plain` response.
fn respond(out: ResponseOutparam, status: u16, text: &str) {
    let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
        .expect("valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let body = response.body().expect("body is taken once");
    ResponseOutparam::set(out, Ok(response));

    let mut stream = body.write().expect("stream is taken once");
    stream.write_all(text.as_bytes()).expect("write the body");
    stream.flush().expect("flush the body");
    // The stream must be dropped before the body is finished.
    drop(stream);
    OutgoingBody::finish(body, None).expect("finish the body");
}
