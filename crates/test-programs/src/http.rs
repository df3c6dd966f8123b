//! `wasi:http` helpers for the `http_*` guests (built on the `wasip2` crate).

use std::io::{Read as _, Write as _};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, IncomingResponse, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, ResponseOutparam, Scheme,
};

/// The request method as it appears on the wire, e.g. `GET`.
pub fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other.clone(),
    }
}

/// The request scheme, e.g. `http`.
pub fn scheme_name(scheme: &Scheme) -> String {
    match scheme {
        Scheme::Http => "http".into(),
        Scheme::Https => "https".into(),
        Scheme::Other(other) => other.clone(),
    }
}

/// Reads the whole request body (empty if it was already consumed).
pub fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let mut bytes = Vec::new();
    let Ok(body) = request.consume() else {
        return bytes;
    };
    {
        let mut stream = body.stream().expect("request body stream taken twice");
        stream
            .read_to_end(&mut bytes)
            .expect("failed to read the request body");
    }
    // The stream must be dropped before the body is finished.
    drop(wasip2::http::types::IncomingBody::finish(body));
    bytes
}

/// Sends the response head (status and headers) and returns its body, for
/// guests that stream. The caller writes to `body.write()` and then calls
/// [`OutgoingBody::finish`].
pub fn start_response(
    out: ResponseOutparam,
    status: u16,
    headers: &[(&str, &str)],
) -> OutgoingBody {
    let fields = Fields::from_list(
        &headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect::<Vec<_>>(),
    )
    .expect("invalid response header");
    let response = OutgoingResponse::new(fields);
    response
        .set_status_code(status)
        .expect("invalid status code");
    let body = response.body().expect("response body taken twice");
    ResponseOutparam::set(out, Ok(response));
    body
}

/// Sends a complete response with one `content-type` header and `body`.
pub fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let outgoing = start_response(out, status, &[("content-type", content_type)]);
    {
        let mut stream = outgoing.write().expect("response body stream taken twice");
        stream
            .write_all(body)
            .expect("failed to write the response body");
        stream.flush().expect("failed to flush the response body");
    }
    OutgoingBody::finish(outgoing, None).expect("failed to finish the response body");
}

/// Sends a complete `text/plain` response.
pub fn respond_text(out: ResponseOutparam, status: u16, body: &str) {
    respond(out, status, "text/plain", body.as_bytes());
}

/// Sends `GET url` through `wasi:http/outgoing-handler` and waits for the
/// response head. `url` is absolute (`http://` or `https://`), or a path
/// (`/path`, sent with neither scheme nor authority: a request to the app
/// itself); `header` adds one request header. An error (`HttpRequestDenied`…)
/// comes back as text.
pub fn send_get(url: &str, header: Option<(&str, &str)>) -> Result<IncomingResponse, String> {
    let fields = Fields::new();
    if let Some((name, value)) = header {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| format!("bad header: {e:?}"))?;
    }
    let request = OutgoingRequest::new(fields);
    let path = if url.starts_with('/') {
        url
    } else {
        let (scheme, rest) = url.split_once("://").ok_or("url needs a scheme")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        request
            .set_scheme(Some(&match scheme {
                "http" => Scheme::Http,
                "https" => Scheme::Https,
                other => Scheme::Other(other.into()),
            }))
            .map_err(|()| "bad scheme")?;
        request
            .set_authority(Some(authority))
            .map_err(|()| "bad authority")?;
        path
    };
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    loop {
        match future.get() {
            Some(result) => {
                return result
                    .map_err(|()| "response taken twice".to_string())?
                    .map_err(|e| format!("{e:?}"));
            }
            None => future.subscribe().block(),
        }
    }
}

/// The status of `GET url` ([`send_get`]), or the error as text. The body
/// is read to its end and dropped, as a client that is done with the
/// response does, so the host may use the connection again.
pub fn get_status(url: &str) -> Result<u16, String> {
    let response = send_get(url, None)?;
    let status = response.status();
    let body = response.consume().map_err(|()| "body taken")?;
    {
        let mut stream = body.stream().map_err(|()| "stream taken")?;
        std::io::copy(&mut stream, &mut std::io::sink()).map_err(|e| e.to_string())?;
    }
    drop(wasip2::http::types::IncomingBody::finish(body));
    Ok(status)
}
