//! Makes one outbound `GET` through `wasi:http/outgoing-handler`:
//! `?url=http://host:port/path` → `200` with `status: N` and the body it got, or
//! `200` `error: <ErrorCode>` when the request fails (e.g. `HttpRequestDenied`).
//! A relative `?url=/path` is sent with neither scheme nor authority set.
//! Response trailers follow the body, a line `trailer: NAME=VALUE` each.
//! `&header=NAME:VALUE` adds a request header.

use std::io::Read as _;

use wasip2::http::types::{IncomingBody, IncomingRequest, ResponseOutparam};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let Some(url) = test_programs::query_param(&path, "url") else {
            return test_programs::http::respond_text(out, 400, "missing ?url=\n");
        };
        let header = test_programs::query_param(&path, "header");
        let header = header.as_deref().and_then(|h| h.split_once(':'));
        let text = match fetch(&url, header) {
            Ok((status, body)) => format!("status: {status}\n{body}"),
            Err(e) => format!("error: {e}\n"),
        };
        test_programs::http::respond_text(out, 200, &text);
    }
}

fn fetch(url: &str, header: Option<(&str, &str)>) -> Result<(u16, String), String> {
    let response = test_programs::http::send_get(url, header)?;
    let status = response.status();
    let body = response.consume().map_err(|()| "body taken")?;
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().map_err(|()| "stream taken")?;
        stream.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    let trailers = IncomingBody::finish(body);
    let trailers = loop {
        match trailers.get() {
            Some(result) => {
                break result
                    .map_err(|()| "trailers taken twice")?
                    .map_err(|e| format!("{e:?}"))?;
            }
            None => trailers.subscribe().block(),
        }
    };
    for (name, value) in trailers.map(|t| t.entries()).unwrap_or_default() {
        text.push_str(&format!(
            "\ntrailer: {name}={}",
            String::from_utf8_lossy(&value)
        ));
    }
    Ok((status, text))
}

fn main() {}
