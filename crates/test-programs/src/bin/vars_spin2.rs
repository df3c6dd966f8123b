//! Reads its component's variables through `fermyon:spin/variables@2.0.0`, using
//! Spin's own Rust SDK (spin-sdk 5.x): `?name=foo` answers `200` with the value, or
//! `200 error: <variant>: <message>` with the interface's variant (`invalid-name`,
//! `undefined`, `provider`, `other`). Anything else gets `400`.

use spin_sdk::variables::{self, Error};
use test_programs::http::respond_text;
use test_programs::query_param;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let Some(name) = query_param(&path, "name") else {
            return respond_text(out, 400, "expected ?name=<variable>");
        };
        let body = match variables::get(&name) {
            Ok(value) => value,
            Err(Error::InvalidName(m)) => format!("error: invalid-name: {m}"),
            Err(Error::Undefined(m)) => format!("error: undefined: {m}"),
            Err(Error::Provider(m)) => format!("error: provider: {m}"),
            Err(Error::Other(m)) => format!("error: other: {m}"),
        };
        respond_text(out, 200, &body);
    }
}

fn main() {}
