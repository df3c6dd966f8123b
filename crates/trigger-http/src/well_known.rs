//! Spin's reserved routes, answered by the host before any app route:
//! `/.well-known/spin/health` (`200 OK` while the server takes requests: a
//! liveness or readiness probe) and `/.well-known/spin/info` (the app's name
//! and version as JSON). Anything else under `/.well-known/spin/` is `404`;
//! the app never sees these paths, as under Spin.

use bytes::Bytes;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::body::{full, text_response};

/// The reserved prefix.
pub const PREFIX: &str = "/.well-known/spin/";

/// The answer to `rest`, the path after [`PREFIX`]; `info` is the app's
/// [`info_json`].
pub(crate) fn respond(rest: &str, info: &Bytes) -> http::Response<HyperOutgoingBody> {
    match rest {
        "health" => text_response(http::StatusCode::OK, "OK"),
        "info" => {
            let mut resp = http::Response::new(full(info.clone()));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            resp
        }
        _ => text_response(http::StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `{"name": …, "version": …}` of the app (`version` only when it has one).
pub(crate) fn info_json(name: &str, version: Option<&str>) -> Bytes {
    let mut out = String::from("{\n  \"name\": ");
    push_json_string(&mut out, name);
    if let Some(version) = version {
        out.push_str(",\n  \"version\": ");
        push_json_string(&mut out, version);
    }
    out.push_str("\n}\n");
    out.into()
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_json() {
        assert_eq!(
            &info_json("shop \"v2\"", Some("1.0.0"))[..],
            b"{\n  \"name\": \"shop \\\"v2\\\"\",\n  \"version\": \"1.0.0\"\n}\n"
        );
        assert_eq!(
            &info_json("a\nb", None)[..],
            b"{\n  \"name\": \"a\\u000ab\"\n}\n"
        );
    }
}
