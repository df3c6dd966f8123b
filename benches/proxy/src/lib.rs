//! The guest of `benches/outbound`: each request is answered with the body of
//! a `GET` of the URL in the `UPSTREAM` environment variable, sent through
//! `wasi:http/outgoing-handler` (`502` with the error if it fails). The same
//! component runs on every peer, so what differs is the host's client.

use std::io::{Read as _, Write as _};

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam,
    Scheme,
};

struct Proxy;

impl Guest for Proxy {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let (status, body) = match fetch() {
            Ok(body) => (200, body),
            Err(err) => (502, format!("upstream: {err}\n").into_bytes()),
        };
        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .expect("valid header");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("valid status");
        let out = response.body().expect("body is taken once");
        ResponseOutparam::set(response_out, Ok(response));
        let mut stream = out.write().expect("stream is taken once");
        stream.write_all(&body).expect("write the body");
        stream.flush().expect("flush the body");
        drop(stream);
        OutgoingBody::finish(out, None).expect("finish the body");
    }
}

/// The body of `GET $UPSTREAM`.
fn fetch() -> Result<Vec<u8>, String> {
    let url = wasip2::cli::environment::get_environment()
        .into_iter()
        .find_map(|(key, value)| (key == "UPSTREAM").then_some(value))
        .ok_or("no UPSTREAM in the environment")?;
    let (scheme, rest) = url.split_once("://").ok_or("UPSTREAM needs a scheme")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_string()),
    };
    request.set_scheme(Some(&scheme)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    request.set_path_with_query(Some(path)).map_err(|()| "bad path")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    let response = loop {
        match future.get() {
            Some(result) => {
                break result
                    .map_err(|()| "response taken twice")?
                    .map_err(|e| format!("{e:?}"))?;
            }
            None => future.subscribe().block(),
        }
    };
    let body = response.consume().map_err(|()| "body taken")?;
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().map_err(|()| "stream taken")?;
        stream.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    }
    Ok(bytes)
}

wasip2::http::proxy::export!(Proxy);
