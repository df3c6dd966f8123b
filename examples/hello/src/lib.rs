//! The smallest Skiff app: a `wasi:http` component that answers every
//! request with `200 Hello from Skiff!`.
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` (or `skiff
//! build`), then run it with `skiff up`.

use std::io::Write as _;

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

impl Guest for Hello {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .expect("valid header");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("body is taken once");
        ResponseOutparam::set(response_out, Ok(response));

        let mut stream = body.write().expect("stream is taken once");
        stream
            .write_all(b"Hello from Skiff!\n")
            .expect("write the body");
        stream.flush().expect("flush the body");
        // The stream must be dropped before the body is finished.
        drop(stream);
        OutgoingBody::finish(body, None).expect("finish the body");
    }
}

wasip2::http::proxy::export!(Hello);
