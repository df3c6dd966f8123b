//! Panics (traps) on every request, before sending a response.

use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, _out: ResponseOutparam) {
        fail();
    }
}

#[inline(never)]
fn fail() {
    panic!("http_trap panicked on purpose");
}

fn main() {}
