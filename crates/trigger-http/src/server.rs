//! The hyper server loop: HTTP/1.1 with keep-alive and HTTP/2 (prior knowledge),
//! `TCP_NODELAY`, and graceful shutdown bounded by a grace period.

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

use crate::HttpApp;

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
}

/// The default [`ServeOptions::idle_timeout`].
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            grace: Duration::from_secs(10),
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// Accepts connections on `listener` until `shutdown` resolves, then stops accepting
/// and waits (at most `options.grace`) for open connections to finish their requests.
pub async fn serve(
    app: Arc<HttpApp>,
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
                let conn = tokio::spawn(async move {
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    // The guest's headers pass through as they are: no `date` of our own.
                    builder.http1().auto_date_header(false);
                    builder.http2().auto_date_header(false);
                    let service = service_fn(move |mut req| {
                        let app = app.clone();
                        let busy = requests.begin();
                        async move {
                            let h2_head = req.method() == http::Method::HEAD
                                && req.version() == http::Version::HTTP_2;
                            let resp = match default_authority(&mut req, local) {
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
                    });
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let conn = crate::spare::AfterResponses::new(watcher.watch(conn));
                    if let Err(err) = conn.await {
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

/// Gives a request that names no authority (no `Host` header, no authority in
/// its target) the one RFC 9112 §3.3 prescribes, the address the connection
/// arrived on, so the guest's `authority` and `spin-full-url` name the server:
/// an HTTP/1.0 request (where `Host` is optional) or an HTTP/2 one without
/// `:authority`. An HTTP/1.1 request without `Host` is malformed (RFC 9112
/// §3.2): the error says why, for a `400`.
pub(crate) fn default_authority<B>(
    req: &mut http::Request<B>,
    local: SocketAddr,
) -> Result<(), String> {
    if req.uri().authority().is_some() || req.headers().contains_key(http::header::HOST) {
        return Ok(());
    }
    if req.version() == http::Version::HTTP_11 {
        return Err("an HTTP/1.1 request needs a Host header".into());
    }
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    parts.scheme.get_or_insert(http::uri::Scheme::HTTP);
    parts
        .path_and_query
        .get_or_insert(http::uri::PathAndQuery::from_static("/"));
    parts.authority = Some(
        http::uri::Authority::try_from(local.to_string())
            .map_err(|e| format!("no authority from {local}: {e}"))?,
    );
    *req.uri_mut() = http::Uri::from_parts(parts).map_err(|e| format!("request target: {e}"))?;
    Ok(())
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

/// Serves `GET /metrics` (the app's [`HttpApp::render_metrics`], Prometheus text
/// format) on `listener` until the task is dropped or aborted; any other path is
/// a 404. A listener of its own, so metrics never share a port, or a route,
/// with the app. A connection idle for [`IDLE_TIMEOUT`] is closed.
pub async fn serve_metrics(app: Arc<HttpApp>, listener: TcpListener) {
    let sweeper = crate::idle::Sweeper::start(IDLE_TIMEOUT);
    loop {
        let Some((stream, _)) = accept(&listener).await else {
            continue;
        };
        let app = app.clone();
        let activity = crate::idle::Activity::new();
        let requests = activity.clone();
        let conn = tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let app = app.clone();
                let busy = requests.begin();
                async move {
                    let resp = if req.uri().path() == "/metrics" {
                        let mut resp =
                            crate::body::text_response(http::StatusCode::OK, app.render_metrics());
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
