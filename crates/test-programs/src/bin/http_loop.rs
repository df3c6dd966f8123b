//! Spins forever on every request; only an epoch deadline or timeout on the
//! host stops it.

use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, _out: ResponseOutparam) {
        test_programs::spin_forever();
    }
}

fn main() {}
