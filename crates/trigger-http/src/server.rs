//! The hyper server loop: HTTP/1.1 with keep-alive and HTTP/2 (prior knowledge
//! in clear text, ALPN over TLS), optional TLS, `TCP_NODELAY`, and graceful
//! shutdown bounded by a grace period.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};

use crate::LiveApp;
use crate::tls::{ServerTls, XFCC};

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long in-flight requests may take to finish after shutdown begins.
    pub grace: Duration,
    /// How long a connection may stay open with no request in progress —
    /// silent after opening, trickling a request head, or kept alive between
    /// requests (HTTP/1 or HTTP/2) — before it is closed, so a client cannot
    /// hold a connection for ever. A request in progress, however slow, is
    /// never cut by it.
    pub idle_timeout: Duration,
    /// Serve HTTPS with this certificate (`None`: plain HTTP). The handshake
    /// counts as idle time: a client that stalls it is cut by `idle_timeout`.
    pub tls: Option<Arc<ServerTls>>,
}

/// The default [`ServeOptions::idle_timeout`].
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            grace: Duration::from_secs(10),
            idle_timeout: IDLE_TIMEOUT,
            tls: None,
        }
    }
}

/// Accepts connections on `listener` until `shutdown` resolves, then stops accepting
/// and waits (at most `options.grace`) for open connections to finish their requests.
pub async fn serve(
    app: Arc<LiveApp>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) -> Result<()> {
    let graceful = GracefulShutdown::new();
    let sweeper = crate::idle::Sweeper::start(options.idle_timeout);
    // The address requests arrive on, once, when the listener names one; a
    // listener on an unspecified address (0.0.0.0, ::) asks each connection.
    let named = listener
        .local_addr()
        .ok()
        .filter(|a| !a.ip().is_unspecified());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = accept(&listener) => {
                let Some((stream, client)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let Some(local) = named.or_else(|| stream.local_addr().ok()) else { continue };
                let app = app.clone();
                let watcher = graceful.watcher();
                let activity = crate::idle::Activity::new();
                let requests = activity.clone();
                let tls = options.tls.as_ref().map(|tls| tls.acceptor());
                let secure = tls.is_some();
                let conn = tokio::spawn(async move {
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    // The guest's headers pass through as they are: no `date` of our own.
                    builder.http1().auto_date_header(false);
                    builder.http2().auto_date_header(false);
                    // `xfcc`: who the client is, by the certificate it presented
                    // over TLS (`x-forwarded-client-cert`); one it sent itself is
                    // never passed on.
                    let service = move |xfcc: Option<http::HeaderValue>| {
                        service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                            let app = app.current();
                            let busy = requests.begin();
                            match &xfcc {
                                // Looked for among the few headers a request
                                // has before removing: cheaper than the
                                // removal's hash of the name, which almost
                                // every request would pay for nothing.
                                None => {
                                    if req.headers().keys().any(|name| *name == XFCC) {
                                        req.headers_mut().remove(XFCC);
                                    }
                                }
                                Some(xfcc) => {
                                    req.headers_mut().insert(XFCC, xfcc.clone());
                                }
                            }
                            async move {
                                let h2_head = req.method() == http::Method::HEAD
                                    && req.version() == http::Version::HTTP_2;
                                let resp = match request_target(&mut req, local, secure) {
                                    Ok(()) => app.handle(req, client).await,
                                    Err(why) => crate::body::text_response(
                                        http::StatusCode::BAD_REQUEST,
                                        format!("Bad Request: {why}"),
                                    ),
                                };
                                let resp = if h2_head {
                                    crate::body::head_response(resp)
                                } else {
                                    resp
                                };
                                Ok::<_, Infallible>(
                                    resp.map(|body| crate::idle::Tracked::new(body, busy)),
                                )
                            }
                        })
                    };
                    let ended = match tls {
                        None => {
                            let conn =
                                builder.serve_connection(TokioIo::new(stream), service(None));
                            crate::spare::AfterResponses::new(watcher.watch(conn)).await
                        }
                        Some(_) if clear_text(&stream).await => {
                            refuse_clear_text(stream).await;
                            return;
                        }
                        Some(tls) => match tls.accept(stream).await {
                            Ok(stream) => {
                                let xfcc = crate::tls::forwarded_client_cert(stream.get_ref().1);
                                let conn =
                                    builder.serve_connection(TokioIo::new(stream), service(xfcc));
                                crate::spare::AfterResponses::new(watcher.watch(conn)).await
                            }
                            Err(err) => {
                                tracing::debug!(%client, "TLS handshake failed: {err}");
                                return;
                            }
                        },
                    };
                    if let Err(err) = ended {
                        tracing::debug!(%client, "connection ended with an error: {err}");
                    }
                });
                sweeper.watch(activity, conn.abort_handle());
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: no longer accepting connections");
    if tokio::time::timeout(options.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight requests did not finish within the {:?} grace period; exiting anyway",
            options.grace
        );
    }
    Ok(())
}

/// Completes the request's target URI where the request leaves it partial
/// (RFC 9112 §3.3), so the guest's `scheme` and `authority` and Spin's
/// `spin-full-url` say where the request was sent:
/// - over TLS (`secure`), the target gets the `https` scheme, and the authority
///   of the `Host` header when the request form has none (HTTP/1.1's usual
///   origin form); a `Host` that is not an authority is an error;
/// - a request that names no authority at all — HTTP/1.0, where `Host` is
///   optional, or HTTP/2 without `:authority` — gets the address the
///   connection arrived on.
///
/// An HTTP/1.1 request without `Host` is malformed (RFC 9112 §3.2). Errors say
/// why, for a `400`. A clear-text request that names its authority — nearly
/// all — is left as it is.
pub(crate) fn request_target<B>(
    req: &mut http::Request<B>,
    local: SocketAddr,
    secure: bool,
) -> Result<(), String> {
    let named = req.uri().authority().is_some();
    let host = req.headers().get(http::header::HOST);
    let complete = match secure {
        false => named || host.is_some(),
        true => named && req.uri().scheme() == Some(&http::uri::Scheme::HTTPS),
    };
    if complete {
        return Ok(());
    }
    if !named && host.is_none() && req.version() == http::Version::HTTP_11 {
        return Err("an HTTP/1.1 request needs a Host header".into());
    }
    let authority = match (named, host) {
        (true, _) => None,
        (false, Some(host)) => Some(
            http::uri::Authority::try_from(host.as_bytes())
                .map_err(|_| "the Host header is not a host and port".to_string())?,
        ),
        (false, None) => Some(
            http::uri::Authority::try_from(local.to_string())
                .map_err(|e| format!("no authority from {local}: {e}"))?,
        ),
    };
    let scheme = secure.then_some(http::uri::Scheme::HTTPS);
    absolute_target(req, scheme, authority).map_err(|e| format!("request target: {e}"))
}

/// Makes `req`'s target absolute: `scheme` over its own (`http` if it has
/// none), `authority` over its own, and the path `/` if it has none. The
/// request keeps its target if the parts do not make a URI (no authority).
pub(crate) fn absolute_target<B>(
    req: &mut http::Request<B>,
    scheme: Option<http::uri::Scheme>,
    authority: Option<http::uri::Authority>,
) -> Result<(), http::uri::InvalidUriParts> {
    let mut parts = req.uri().clone().into_parts();
    if let Some(scheme) = scheme {
        parts.scheme = Some(scheme);
    }
    parts.scheme.get_or_insert(http::uri::Scheme::HTTP);
    if let Some(authority) = authority {
        parts.authority = Some(authority);
    }
    parts
        .path_and_query
        .get_or_insert(http::uri::PathAndQuery::from_static("/"));
    *req.uri_mut() = http::Uri::from_parts(parts)?;
    Ok(())
}

/// Whether a connection to the TLS port opened with clear-text HTTP (a
/// method's first letter) rather than a TLS handshake record (`0x16`).
async fn clear_text(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0].is_ascii_uppercase())
}

/// Tells a clear-text HTTP client that the port speaks HTTPS (as a `400`, in
/// HTTP/1.0 so any client reads it), then closes: better than the TLS alert
/// such a client cannot read.
async fn refuse_clear_text(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BODY: &str =
        "Bad Request: this server speaks HTTPS; send the request over TLS (https://)\n";
    let answer = format!(
        "HTTP/1.0 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    // Read what the client sent, until it closes (it has the answer then):
    // closing with its request unread would reset the connection, and could
    // discard the answer before the client reads it.
    let drain = async {
        let mut sink = [0u8; 4096];
        while let Ok(1..) = stream.read(&mut sink).await {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// One connection from `listener`; `None` after a failed accept (EMFILE and
/// friends), once a short back-off has passed, so a caller's loop does not spin.
async fn accept(listener: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
    match listener.accept().await {
        Ok(pair) => Some(pair),
        Err(err) => {
            tracing::warn!("accept failed on {:?}: {err}", listener.local_addr().ok());
            tokio::time::sleep(Duration::from_millis(10)).await;
            None
        }
    }
}

/// Serves `GET /metrics` (what `render` returns: the current app's
/// [`crate::HttpApp::render_metrics`] and the event triggers'
/// [`crate::metrics::render_events`], Prometheus text format) on `listener`
/// until the task is dropped or aborted; any other path is a 404. A listener
/// of its own, so metrics never share a port, or a route, with the app. A
/// connection idle for [`IDLE_TIMEOUT`] is closed.
pub async fn serve_metrics(render: Arc<dyn Fn() -> String + Send + Sync>, listener: TcpListener) {
    let sweeper = crate::idle::Sweeper::start(IDLE_TIMEOUT);
    loop {
        let Some((stream, _)) = accept(&listener).await else {
            continue;
        };
        let render = render.clone();
        let activity = crate::idle::Activity::new();
        let requests = activity.clone();
        let conn = tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let render = render.clone();
                let busy = requests.begin();
                async move {
                    let resp = if req.uri().path() == "/metrics" {
                        let mut resp = crate::body::text_response(http::StatusCode::OK, render());
                        resp.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static(
                                "text/plain; version=0.0.4; charset=utf-8",
                            ),
                        );
                        resp
                    } else {
                        crate::body::text_response(
                            http::StatusCode::NOT_FOUND,
                            "Not Found: metrics are at /metrics",
                        )
                    };
                    Ok::<_, Infallible>(resp.map(|body| crate::idle::Tracked::new(body, busy)))
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(err) = conn.await {
                tracing::debug!("metrics connection ended with an error: {err}");
            }
        });
        sweeper.watch(activity, conn.abort_handle());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target `request_target` leaves for a request of `version` with
    /// `uri` and `host`, over TLS or not.
    fn target(
        version: http::Version,
        uri: &str,
        host: Option<&str>,
        secure: bool,
    ) -> Result<String, String> {
        let mut req = http::Request::builder().version(version).uri(uri);
        if let Some(host) = host {
            req = req.header(http::header::HOST, host);
        }
        let mut req = req.body(()).unwrap();
        let local = SocketAddr::from(([10, 0, 0, 1], 443));
        request_target(&mut req, local, secure).map(|()| req.uri().to_string())
    }

    /// Version, target, `Host`, over TLS, and the target after (or the error).
    type Case = (
        http::Version,
        &'static str,
        Option<&'static str>,
        bool,
        Result<&'static str, &'static str>,
    );

    #[test]
    fn targets_are_completed_where_they_must_be() {
        use http::Version as V;
        let cases: &[Case] = &[
            // Clear text: left as it is whenever an authority is named.
            (V::HTTP_11, "/a?b", Some("x.test"), false, Ok("/a?b")),
            (
                V::HTTP_2,
                "http://x.test/a",
                None,
                false,
                Ok("http://x.test/a"),
            ),
            (V::HTTP_10, "/a", None, false, Ok("http://10.0.0.1:443/a")),
            (V::HTTP_2, "/a", None, false, Ok("http://10.0.0.1:443/a")),
            (V::HTTP_11, "/a", None, false, Err("needs a Host header")),
            // TLS: `https`, with the authority the request names.
            (
                V::HTTP_11,
                "/a?b",
                Some("x.test:8443"),
                true,
                Ok("https://x.test:8443/a?b"),
            ),
            (
                V::HTTP_2,
                "https://x.test/a",
                None,
                true,
                Ok("https://x.test/a"),
            ),
            (
                V::HTTP_11,
                "http://x.test/a",
                Some("y.test"),
                true,
                Ok("https://x.test/a"),
            ),
            (V::HTTP_10, "/a", None, true, Ok("https://10.0.0.1:443/a")),
            (V::HTTP_11, "/a", None, true, Err("needs a Host header")),
            (
                V::HTTP_11,
                "/a",
                Some("bad host"),
                true,
                Err("not a host and port"),
            ),
        ];
        for &(version, uri, host, secure, expected) in cases {
            let got = target(version, uri, host, secure);
            match expected {
                Ok(want) => assert_eq!(got.as_deref(), Ok(want), "{version:?} {uri} {host:?}"),
                Err(why) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(why)),
                    "{version:?} {uri} {host:?}: {got:?}"
                ),
            }
        }
    }
}
