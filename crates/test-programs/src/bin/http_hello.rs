//! Answers every request with `200 text/plain` `Hello from Skiff!\n`.

use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        test_programs::http::respond_text(out, 200, "Hello from Skiff!\n");
    }
}

fn main() {}
