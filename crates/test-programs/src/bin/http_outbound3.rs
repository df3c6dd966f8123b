//! A WASI 0.3 proxy: `?url=/path` (a relative URL, sent with neither scheme nor
//! authority) or `?url=http://host:port/path` → one `GET` through
//! `wasi:http/client@0.3.0`, answered with the response it got, as is. A failed
//! request is the handler's error (e.g. `HTTP-request-denied`). `?target`
//! instead answers `200` with no body and `x-target: SCHEME AUTHORITY` (each
//! `-` if the request has none): where the request says it was sent.

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:http-outbound3;
            world guest {
                import wasi:http/client@0.3.0;
                export wasi:http/handler@0.3.0;
            }
        ",
        path: [
            "../../wit/deps/wasi-clocks@0.3.0",
            "../../wit/deps/wasi-random@0.3.0",
            "../../wit/deps/wasi-filesystem@0.3.0",
            "../../wit/deps/wasi-sockets@0.3.0",
            "../../wit/deps/wasi-cli@0.3.0",
            "../../wit/deps/wasi-http@0.3.0",
        ],
        generate_all,
    });
}

use bindings::exports::wasi::http::handler::Guest;
use bindings::wasi::http::client;
use bindings::wasi::http::types::{ErrorCode, Fields, Request, Response, Scheme};
use bindings::wit_future;

struct Handler;

bindings::export!(Handler with_types_in bindings);

impl Guest for Handler {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let query = request.get_path_with_query().unwrap_or_default();
        if test_programs::query_param(&query, "target").is_some() {
            return Ok(target(&request));
        }
        let url = test_programs::query_param(&query, "url")
            .ok_or_else(|| ErrorCode::InternalError(Some("missing ?url=".into())))?;
        // No trailers: dropping the writer sends the default, `none`.
        let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
        drop(trailers_tx);
        let (outgoing, _sent) = Request::new(Fields::new(), None, trailers_rx, None);
        let bad = |what: &str| ErrorCode::InternalError(Some(format!("bad {what}")));
        let path = match url.split_once("://") {
            None => url.as_str(),
            Some((scheme, rest)) => {
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let scheme = match scheme {
                    "http" => Scheme::Http,
                    "https" => Scheme::Https,
                    other => Scheme::Other(other.into()),
                };
                outgoing
                    .set_scheme(Some(&scheme))
                    .map_err(|()| bad("scheme"))?;
                outgoing
                    .set_authority(Some(authority))
                    .map_err(|()| bad("authority"))?;
                path
            }
        };
        outgoing
            .set_path_with_query(Some(if path.is_empty() { "/" } else { path }))
            .map_err(|()| bad("path"))?;
        client::send(outgoing).await
    }
}

/// `200`, `x-target: SCHEME AUTHORITY`.
fn target(request: &Request) -> Response {
    let scheme = match request.get_scheme() {
        Some(Scheme::Http) => "http".to_string(),
        Some(Scheme::Https) => "https".to_string(),
        Some(Scheme::Other(other)) => other,
        None => "-".to_string(),
    };
    let authority = request.get_authority().unwrap_or_else(|| "-".into());
    let headers = Fields::from_list(&[(
        "x-target".to_string(),
        format!("{scheme} {authority}").into_bytes(),
    )])
    .expect("a valid header");
    let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
    drop(trailers_tx);
    Response::new(headers, None, trailers_rx).0
}

fn main() {}
