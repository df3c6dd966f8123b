//! Spans for HTTP, named and attributed as OpenTelemetry's HTTP semantic
//! conventions say (`http.request.method`, `http.route`,
//! `http.response.status_code`, …), so collectors and their dashboards read
//! them as they read any service's.

use std::net::SocketAddr;

use tracing::Span;
use tracing::field::Empty;

use crate::{TARGET, enabled};

/// The span of a request Skiff serves with `component` (`None` for the
/// host's own answers: a `static_response`, no route matched), matched by `route`
/// (as the manifest writes it; empty for a private route or none): a child of
/// the caller's span if the request brings a `traceparent`. `None` when
/// traces are off. Record the answer with [`record_response`].
pub fn server_span<B>(
    req: &http::Request<B>,
    route: &str,
    component: Option<&str>,
    client: SocketAddr,
) -> Option<Span> {
    if !enabled() {
        return None;
    }
    let (parent, trace_state) = crate::extract(req.headers());
    let method = req.method().as_str();
    let name = match route {
        "" => method.to_string(),
        route => format!("{method} {route}"),
    };
    let scheme = match req.uri().scheme_str() {
        Some("https") => "https",
        _ => "http",
    };
    let (host, port) = authority(req);
    let user_agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    Some(tracing::info_span!(
        target: TARGET,
        "http.server",
        otel.kind = "server",
        otel.name = name.as_str(),
        otel.parent = parent,
        otel.tracestate = trace_state,
        otel.status_code = Empty,
        http.request.method = method,
        http.route = (!route.is_empty()).then_some(route),
        url.path = req.uri().path(),
        url.scheme = scheme,
        server.address = host,
        server.port = port,
        client.address = %client.ip(),
        client.port = client.port(),
        network.protocol.version = protocol_version(req.version()),
        user_agent.original = user_agent,
        skiff.component = component,
        http.response.status_code = Empty,
        error.type = Empty,
    ))
}

/// Records a response's status on a span from [`server_span`] or
/// [`client_span`]: an error from 500 up for a server, from 400 up for a
/// client, as the conventions say.
pub fn record_response(span: &Span, status: http::StatusCode, client: bool) {
    span.record("http.response.status_code", status.as_u16());
    let failed = match client {
        true => status.as_u16() >= 400,
        false => status.is_server_error(),
    };
    if failed {
        span.record("otel.status_code", "error");
        span.record("error.type", status.as_str());
    }
}

/// Records a failure (no response) on a span from [`client_span`].
pub fn record_error(span: &Span, kind: &str, description: &str) {
    span.record("otel.status_code", "error");
    span.record("error.type", kind);
    span.record("otel.status_description", description);
}

/// The span of an outbound request a guest of `component` makes, a child of
/// the span it is made in (its request's). `None` when traces are off or the
/// request is made outside any trace. Put its context on the request with
/// [`inject`](crate::inject).
pub fn client_span<B>(req: &http::Request<B>, component: &str) -> Option<Span> {
    if !enabled() {
        return None;
    }
    let method = req.method().as_str();
    let (host, port) = authority(req);
    let span = tracing::info_span!(
        target: TARGET,
        "http.client",
        otel.kind = "client",
        otel.name = method,
        otel.status_code = Empty,
        otel.status_description = Empty,
        http.request.method = method,
        url.full = %redacted(req.uri()),
        server.address = host,
        server.port = port,
        network.protocol.version = Empty,
        skiff.component = component,
        http.response.status_code = Empty,
        error.type = Empty,
    );
    (!span.is_disabled()).then_some(span)
}

/// The request's host and port: the URI's, else the `Host` header's.
fn authority<B>(req: &http::Request<B>) -> (Option<&str>, Option<u16>) {
    if let Some(auth) = req.uri().authority() {
        let port = auth.port_u16().or(match req.uri().scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        return (Some(auth.host()), port);
    }
    let Some(host) = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return (None, None);
    };
    match host.parse::<http::uri::Authority>() {
        Ok(auth) => (
            Some(host.get(..auth.host().len()).unwrap_or(host)),
            auth.port_u16(),
        ),
        Err(_) => (Some(host), None),
    }
}

fn protocol_version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// The URL without credentials (`user:password@`), which the conventions say
/// never to record.
fn redacted(uri: &http::Uri) -> String {
    let text = uri.to_string();
    match (uri.authority(), uri.scheme_str()) {
        (Some(auth), Some(scheme)) if auth.as_str().contains('@') => {
            let host = auth
                .as_str()
                .rsplit_once('@')
                .map_or(auth.as_str(), |(_, h)| h);
            let rest = uri.path_and_query().map_or("", |pq| pq.as_str());
            format!("{scheme}://REDACTED:REDACTED@{host}{rest}")
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_from_urls() {
        let uri: http::Uri = "https://user:secret@api.example.com:8443/v1?q=1"
            .parse()
            .unwrap();
        assert_eq!(
            redacted(&uri),
            "https://REDACTED:REDACTED@api.example.com:8443/v1?q=1"
        );
        let plain: http::Uri = "http://api.example.com/x".parse().unwrap();
        assert_eq!(redacted(&plain), "http://api.example.com/x");
    }

    #[test]
    fn the_authority_comes_from_the_uri_or_the_host_header() {
        let req = http::Request::get("http://a.example:8080/x")
            .body(())
            .unwrap();
        assert_eq!(authority(&req), (Some("a.example"), Some(8080)));
        let req = http::Request::get("https://a.example/x").body(()).unwrap();
        assert_eq!(authority(&req), (Some("a.example"), Some(443)));
        let req = http::Request::get("/x")
            .header("host", "b.example:9000")
            .body(())
            .unwrap();
        assert_eq!(authority(&req), (Some("b.example"), Some(9000)));
    }
}
