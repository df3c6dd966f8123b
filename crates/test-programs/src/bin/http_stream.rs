//! Answers `200` with a body written as five separately flushed chunks
//! (`chunk 0\n` … `chunk 4\n`) and no `content-length`.

use test_programs::http::start_response;
use wasip2::http::types::{IncomingRequest, OutgoingBody, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let body = start_response(out, 200, &[("content-type", "text/plain")]);
        {
            let stream = body.write().expect("response body stream taken twice");
            for i in 0..5 {
                stream
                    .blocking_write_and_flush(format!("chunk {i}\n").as_bytes())
                    .expect("failed to write a chunk");
            }
        }
        OutgoingBody::finish(body, None).expect("failed to finish the response body");
    }
}

fn main() {}
