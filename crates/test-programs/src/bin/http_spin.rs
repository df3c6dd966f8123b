//! A Spin HTTP component as Spin's templates write it: spin-sdk 5.2's
//! `#[http_component]` over a `Request` → `Response` function.
//!
//! - `/empty` → `200` with no headers and an empty body;
//! - `?relative=/path` → sends `GET /path` with the SDK's `send` (a relative
//!   URL: a request to the app itself) → `200 text/plain`: `status: N` and the
//!   body it got, or `error: <the SDK's error>`;
//! - anything else → `200 text/plain`: `uri: <uri as the SDK sees it>`, then
//!   one `name: value` line per request header, sorted.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: Request) -> Response {
    if req.path() == "/empty" {
        return Response::new(200, ());
    }
    if let Some(to) = req.query().strip_prefix("relative=") {
        let text = match spin_sdk::http::send::<_, Response>(Request::get(to)).await {
            Ok(res) => format!(
                "status: {}\n{}",
                res.status(),
                String::from_utf8_lossy(res.body())
            ),
            Err(err) => format!("error: {err}\n"),
        };
        return Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(text)
            .build();
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
