//! Sleeps `?ms=N` milliseconds (default 1000) with `std::thread::sleep`, then
//! answers `200 slept N`. An unparsable `ms` gets `400`.

use std::time::Duration;

use test_programs::http::respond_text;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let ms = match test_programs::query_param(&path, "ms") {
            None => 1000,
            Some(ms) => match ms.parse::<u64>() {
                Ok(ms) => ms,
                Err(err) => return respond_text(out, 400, &format!("bad ms `{ms}`: {err}\n")),
            },
        };
        std::thread::sleep(Duration::from_millis(ms));
        respond_text(out, 200, &format!("slept {ms}"));
    }
}

fn main() {}
