//! Publishes through `fermyon:spin/mqtt@2.0.0` with Spin's Rust SDK
//! (`spin_sdk::mqtt`, spin-sdk 5.2).
//!
//! `POST /?address=ADDRESS&topic=T[&qos=0|1|2][&user=U&password=P][&keep_alive=S]`
//! with the payload as the body (QoS 1 by default, keep-alive 30 s),
//! answered `200 text/plain`: `ok`, or `error: <variant>` (`invalid-address`,
//! `too-many-connections`, `connection-failed: <message>`,
//! `other: <message>`).

use spin_sdk::mqtt::{Connection, Error, Qos};
use test_programs::http::{read_body, respond_text};
use test_programs::query_param;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

fn error_text(err: Error) -> String {
    match err {
        Error::InvalidAddress => "error: invalid-address".into(),
        Error::TooManyConnections => "error: too-many-connections".into(),
        Error::ConnectionFailed(m) => format!("error: connection-failed: {m}"),
        Error::Other(m) => format!("error: other: {m}"),
    }
}

fn run(path: &str, address: &str, body: Vec<u8>) -> Result<(), Error> {
    let qos = match query_param(path, "qos").as_deref() {
        Some("0") => Qos::AtMostOnce,
        Some("2") => Qos::ExactlyOnce,
        _ => Qos::AtLeastOnce,
    };
    let keep_alive = query_param(path, "keep_alive")
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let conn = Connection::open(
        address,
        &query_param(path, "user").unwrap_or_default(),
        &query_param(path, "password").unwrap_or_default(),
        keep_alive,
    )?;
    let topic = query_param(path, "topic").unwrap_or_default();
    conn.publish(&topic, &body, qos)
}

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let Some(address) = query_param(&path, "address") else {
            return respond_text(out, 400, "expected ?address=<address>&topic=<topic>");
        };
        let body = read_body(&request);
        match run(&path, &address, body) {
            Ok(()) => respond_text(out, 200, "ok"),
            Err(err) => respond_text(out, 200, &error_text(err)),
        }
    }
}

fn main() {}
