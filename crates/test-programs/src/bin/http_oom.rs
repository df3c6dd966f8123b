//! Allocates and touches 1 MiB chunks forever on every request, until the
//! host's memory limit stops it.

use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, _out: ResponseOutparam) {
        test_programs::exhaust_memory();
    }
}

fn main() {}
