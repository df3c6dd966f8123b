//! A Spin HTTP component as Spin's templates write it: spin-sdk 5.2's
//! `#[http_component]` over a `Request` → `Response` function.
//!
//! - `/empty` → `200` with no headers and an empty body;
//! - anything else → `200 text/plain`: `uri: <uri as the SDK sees it>`, then
//!   one `name: value` line per request header, sorted.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    if req.path() == "/empty" {
        return Response::new(200, ());
    }
    let mut lines: Vec<String> = req
        .headers()
        .map(|(name, value)| format!("{name}: {}", value.as_str().unwrap_or("<binary>")))
        .collect();
    lines.sort();
    let body = format!("uri: {}\n{}\n", req.uri(), lines.join("\n"));
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(body)
        .build()
}

fn main() {}
