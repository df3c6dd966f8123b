//! Answers `200` with a body written as separately flushed chunks (`chunk 0\n`,
//! `chunk 1\n`, …) and no `content-length`: `?chunks=N` of them (default 5),
//! with a pause of `?gap_ms=M` milliseconds (default none) after each but the
//! last, so a client can see the body stream while the guest still runs.

use std::time::Duration;

use test_programs::http::{respond_text, start_response};
use wasip2::http::types::{IncomingRequest, OutgoingBody, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let param = |key: &str, default: u64| match test_programs::query_param(&path, key) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map_err(|e| format!("bad {key} `{v}`: {e}\n")),
        };
        let (chunks, gap) = match (param("chunks", 5), param("gap_ms", 0)) {
            (Ok(chunks), Ok(gap)) => (chunks, Duration::from_millis(gap)),
            (Err(err), _) | (_, Err(err)) => return respond_text(out, 400, &err),
        };
        let body = start_response(out, 200, &[("content-type", "text/plain")]);
        {
            let stream = body.write().expect("response body stream taken twice");
            for i in 0..chunks {
                if stream
                    .blocking_write_and_flush(format!("chunk {i}\n").as_bytes())
                    .is_err()
                {
                    // Nobody reads the body any more (the client left, or
                    // asked with `HEAD`): stop.
                    return;
                }
                if i + 1 < chunks && !gap.is_zero() {
                    std::thread::sleep(gap);
                }
            }
        }
        OutgoingBody::finish(body, None).expect("failed to finish the response body");
    }
}

fn main() {}
