//! Sends a granted outbound request: on a kept-alive connection of the
//! component's to one of the addresses its grant was checked against, or on a
//! new one to those addresses in turn until one connects (plain HTTP and HTTPS
//! alike, so a second DNS answer cannot redirect it), over TLS with the
//! component's client configuration for HTTPS, within the request's timeouts;
//! HTTP/2 where an HTTPS server chooses it by ALPN, or with prior knowledge
//! (clear-text "h2c") to an `http://` destination the operator named for it,
//! HTTP/1.1 otherwise.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use crate::pool::{Conn, Destination, Lease, Pool};

/// TLS for an HTTPS request: the name the certificate must be valid for, and
/// the configuration (roots, client certificate) to connect with.
#[derive(Clone)]
pub(crate) struct Tls {
    /// The server's name (or IP address) as the request's URL gives it.
    pub name: rustls::pki_types::ServerName<'static>,
    /// The rustls configuration.
    pub config: Arc<rustls::ClientConfig>,
    /// The `[[client_tls]]` entry the configuration comes from, and what it
    /// trusts and presents (`None`: the default), for error messages.
    pub entry: Option<Arc<str>>,
}

/// How a request travels: its protocol, and TLS or not.
#[derive(Clone)]
pub(crate) enum Transport {
    /// Clear-text HTTP/1.1.
    Http1,
    /// Clear-text HTTP/2 with prior knowledge (h2c): the operator named the
    /// destination in `h2c_prior_knowledge` or the environment.
    H2c,
    /// TLS; the server chooses HTTP/2 or HTTP/1.1 by ALPN.
    Tls(Tls),
}

/// Who sends, and where, for log lines.
pub(crate) struct Sender<'a> {
    /// The component's id.
    pub component: &'a str,
    /// The destination.
    pub target: &'a skiff_outbound_networking::OutboundTarget,
}

/// What finishes once the response has been read: its result is the
/// exchange's (`Ok` also when the guest drops the body unread).
pub(crate) type Io = Pin<Box<dyn Future<Output = Result<(), HttpError>> + Send>>;

/// A byte stream hyper can run HTTP over: TCP, or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Sends `request` on a keep-alive connection from `pool` to one of `addrs`,
/// or on a new one to the first of `addrs` that accepts (as `transport`
/// says), and returns the response once its head has arrived, with the
/// future that finishes when its body has been read. With `keep_alive`, the
/// connection goes back to `pool` once the body has been read to its end;
/// `pool` counts connections opened and reused either way.
/// The timeouts are `options`' (always set: the operator's caps).
pub(crate) async fn send(
    mut request: http::Request<WasiBody>,
    addrs: &[SocketAddr],
    transport: Transport,
    options: &RequestOptions,
    who: &Sender<'_>,
    pool: &Arc<Pool>,
    keep_alive: bool,
) -> Result<(http::Response<TimedBody>, Io), HttpError> {
    let (tls, h2c) = match transport {
        Transport::Http1 => (None, false),
        Transport::H2c => (None, true),
        Transport::Tls(tls) => (Some(tls), false),
    };
    let forever = Duration::from_secs(600);
    let connect_timeout = options.connect_timeout.unwrap_or(forever);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(forever);
    let between_bytes_timeout = options.between_bytes_timeout.unwrap_or(forever);

    // Each connection gets the request in its own form (`Target::fit`).
    let target = Target::of(&request, tls.is_some());

    let entry = tls.as_ref().map(|tls| tls.entry.clone());
    let config = tls.as_ref().map(|tls| tls.config.clone());
    // The pool that keeps this request's connection, if it is kept.
    let keeper = keep_alive.then_some(pool);
    let destination = keeper.map(|_| Destination::new(who.target, config.as_ref(), h2c));
    let mut pooled = keeper
        .zip(destination.as_ref())
        .and_then(|(pool, destination)| pool.take(destination, addrs));
    // One first-byte deadline, however many connections the request tries.
    let mut first_byte_deadline = None;
    let (conn, peer, response) = loop {
        let reused = pooled.is_some();
        let (mut conn, peer) = match pooled.take() {
            Some(pooled) => pooled,
            None => {
                let opened =
                    tokio::time::timeout(connect_timeout, connect(addrs, tls.clone(), h2c, who))
                        .await
                        .map_err(|_| {
                            tracing::warn!(component = who.component, "outbound request to `{}`: no connection within the connect timeout of {connect_timeout:?}", who.target);
                            HttpError::ConnectionTimeout
                        })??;
                pool.count_opened();
                if let Some((pool, destination)) = keeper.zip(destination.as_ref()) {
                    pool.share(destination, &opened.0, opened.1, config.clone());
                }
                opened
            }
        };
        target.fit(&mut request, conn.is_h2());
        // A server may close a kept-alive connection just as a request is
        // written to it; a request without a body whose method allows a
        // repeat (RFC 9110, 9.2.2) is then sent again on a new connection.
        let repeat = reused.then(|| repeatable(&request)).flatten();
        let deadline = *first_byte_deadline
            .get_or_insert_with(|| tokio::time::Instant::now() + first_byte_timeout);
        let sent = tokio::time::timeout_at(deadline, conn.try_send_request(request)).await;
        match sent {
            Err(_) => return Err(HttpError::ConnectionReadTimeout),
            Ok(Ok(response)) => {
                if reused {
                    pool.count_reused();
                }
                break (conn, peer, response);
            }
            Ok(Err(mut err)) => {
                if reused {
                    if let Some(unsent) = err.take_message() {
                        request = unsent;
                        continue;
                    }
                    if let Some(again) = repeat
                        && (err.error().is_incomplete_message() || err.error().is_canceled())
                    {
                        tracing::debug!(
                            component = who.component,
                            "outbound request to `{}`: a kept-alive connection closed under it; sending it again",
                            who.target
                        );
                        request = again;
                        continue;
                    }
                }
                let err = err.into_error();
                if h2c && !reused && !err.is_user() {
                    tracing::warn!(
                        component = who.component,
                        "outbound request to `{}` failed: sent as clear-text HTTP/2 with prior knowledge (`h2c_prior_knowledge` in `[outbound_http]`, {} or {}), but the server at {peer} did not answer in HTTP/2: {err}",
                        who.target,
                        skiff_outbound_networking::SPIN_H2C_ENV,
                        skiff_outbound_networking::SKIFF_H2C_ENV,
                    );
                    return Err(HttpError::HttpProtocolError);
                }
                // TLS 1.3 servers check a client certificate after the
                // client's side of the handshake is done: their refusal
                // arrives with the response.
                return Err(match (&entry, rustls_cause(&err)) {
                    (Some(entry), Some(cause)) => tls_failure(cause, &err, entry.as_deref(), who),
                    _ => HttpError::from(err),
                });
            }
        }
    };

    let lease = keeper.zip(destination).map(|(pool, destination)| Lease {
        pool: pool.clone(),
        destination,
        conn,
        peer,
        tls: config,
    });
    let (done, finished) = tokio::sync::oneshot::channel();
    let mut end = Some(End { lease, done });
    if http_body::Body::is_end_stream(response.body())
        && let Some(end) = end.take()
    {
        end.finish(Ok(()));
    }
    let io: Io = Box::pin(async move { finished.await.unwrap_or(Ok(())) });
    let response = response.map(|body| TimedBody {
        body,
        gap: between_bytes_timeout,
        deadline: Box::pin(tokio::time::sleep(between_bytes_timeout)),
        end,
    });
    Ok((response, io))
}

/// Where a request goes, for the form each HTTP version sends it in.
struct Target {
    /// `http` or `https`.
    scheme: http::uri::Scheme,
    /// The server, from the URL (or the `host` header `wasi:http` set).
    authority: Option<http::uri::Authority>,
    /// The path and query.
    path: http::uri::PathAndQuery,
}

impl Target {
    fn of(request: &http::Request<WasiBody>, tls: bool) -> Self {
        let authority = match request.uri().authority() {
            Some(authority) => Some(authority.clone()),
            None => request
                .headers()
                .get(http::header::HOST)
                .and_then(|host| http::uri::Authority::try_from(host.as_bytes()).ok()),
        };
        Target {
            scheme: if tls {
                http::uri::Scheme::HTTPS
            } else {
                http::uri::Scheme::HTTP
            },
            authority,
            path: request
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        }
    }

    /// HTTP/1.1: the request line names the path only, and the `host` header
    /// the server. HTTP/2: `:scheme` and `:authority` come from the URI, and
    /// no `host` header goes with them (some servers refuse one beside
    /// `:authority`, though RFC 9113 allows it).
    fn fit(&self, request: &mut http::Request<WasiBody>, h2: bool) {
        let headers = request.headers_mut();
        if h2 {
            headers.remove(http::header::HOST);
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(self.scheme.clone());
            parts.authority = self.authority.clone();
            parts.path_and_query = Some(self.path.clone());
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
            *request.version_mut() = http::Version::HTTP_2;
        } else {
            if !headers.contains_key(http::header::HOST)
                && let Some(authority) = &self.authority
                && let Ok(host) = http::HeaderValue::from_str(authority.as_str())
            {
                headers.insert(http::header::HOST, host);
            }
            *request.uri_mut() = http::Uri::from(self.path.clone());
            *request.version_mut() = http::Version::HTTP_11;
        }
    }
}

/// A copy of `request` to send again, if it has no body and its method is
/// idempotent.
fn repeatable(request: &http::Request<WasiBody>) -> Option<http::Request<WasiBody>> {
    use http::Method;
    let idempotent = [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(request.method());
    if !idempotent || !http_body::Body::is_end_stream(request.body()) {
        return None;
    }
    let mut copy = http::Request::new(WasiBody::default());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

/// What happens when a response has been read: its connection goes back to
/// the pool (if it came with one), and the exchange's I/O future finishes.
struct End {
    lease: Option<Lease>,
    done: tokio::sync::oneshot::Sender<Result<(), HttpError>>,
}

impl End {
    fn finish(self, result: Result<(), HttpError>) {
        if result.is_ok()
            && let Some(lease) = self.lease
        {
            lease.release();
        }
        let _ = self.done.send(result);
    }
}

/// A new connection to the first of `addrs` that accepts, its I/O driven by a
/// task of its own (which ends when the connection closes): HTTP/2 where the
/// TLS handshake chose `h2`, or with prior knowledge over clear text when
/// `h2c` (and no `tls`), HTTP/1.1 otherwise.
async fn connect(
    addrs: &[SocketAddr],
    tls: Option<Tls>,
    h2c: bool,
    who: &Sender<'_>,
) -> Result<(Conn, SocketAddr), HttpError> {
    let h2c = h2c && tls.is_none();
    let (stream, alpn_h2, peer) = open(addrs, tls, who).await?;
    let h2 = alpn_h2 || h2c;
    let ended = move |err: hyper::Error| {
        tracing::debug!("outbound connection to {peer} ended: {err}");
    };
    let conn = if h2 {
        let (conn, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            TokioIo::new(stream),
        )
        .await
        .map_err(HttpError::from)?;
        tokio::spawn(async move { connection.await.unwrap_or_else(ended) });
        Conn::H2(conn)
    } else {
        let (conn, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(HttpError::from)?;
        tokio::spawn(async move { connection.await.unwrap_or_else(ended) });
        Conn::H1(conn)
    };
    Ok((conn, peer))
}

/// A TCP connection to the first of `addrs` that accepts, with TLS on top
/// when `tls` is given; whether the TLS handshake chose HTTP/2 (`h2` by
/// ALPN); and its peer.
async fn open(
    addrs: &[SocketAddr],
    tls: Option<Tls>,
    who: &Sender<'_>,
) -> Result<(Box<dyn Stream>, bool, SocketAddr), HttpError> {
    let mut failed = None;
    let mut connected = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                connected = Some((tcp, *addr));
                break;
            }
            Err(err) => {
                tracing::debug!(
                    component = who.component,
                    "outbound request to `{}`: cannot connect to {addr}: {err}",
                    who.target
                );
                failed = Some((*addr, err));
            }
        }
    }
    let (tcp, peer) = match (connected, failed) {
        (Some(connected), _) => connected,
        (None, Some((addr, err))) => {
            tracing::warn!(
                component = who.component,
                "outbound request to `{}`: cannot connect ({addr}, the last of {} address(es) tried): {err}",
                who.target,
                addrs.len()
            );
            return Err(match err.kind() {
                std::io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
                std::io::ErrorKind::TimedOut => HttpError::ConnectionTimeout,
                _ => HttpError::Connect(err),
            });
        }
        (None, None) => return Err(HttpError::HttpRequestDenied),
    };
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok((Box::new(tcp), false, peer));
    };
    let connector = tokio_rustls::TlsConnector::from(tls.config);
    match connector.connect(tls.name, tcp).await {
        Ok(stream) => {
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            Ok((Box::new(stream), h2, peer))
        }
        Err(err) => Err(match rustls_cause(&err) {
            Some(cause) => tls_failure(cause, &err, tls.entry.as_deref(), who),
            None => {
                tracing::warn!(
                    component = who.component,
                    "outbound HTTPS request to `{}`: TLS handshake failed: {err}",
                    who.target
                );
                HttpError::TlsProtocolError
            }
        }),
    }
}

/// The rustls error behind `err`, if one is (an I/O error wraps it).
fn rustls_cause<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(cause) = err.downcast_ref::<rustls::Error>() {
            return Some(cause);
        }
        // An I/O error's `source` skips the error it wraps.
        if let Some(cause) = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(cause);
        }
        next = err.source();
    }
    None
}

/// The `wasi:http` error for a TLS failure, logged with what to change.
fn tls_failure(
    cause: &rustls::Error,
    err: &dyn std::fmt::Display,
    entry: Option<&str>,
    who: &Sender<'_>,
) -> HttpError {
    let (code, hint) = match cause {
        rustls::Error::InvalidCertificate(_) => (
            HttpError::TlsCertificateError,
            match entry {
                None => "; to trust its CA, name it in SSL_CERT_FILE, or give the component a `[[client_tls]]` entry with `ca_roots_file` in the runtime config".to_string(),
                Some(entry) => format!("; the request used {entry}"),
            },
        ),
        rustls::Error::AlertReceived(alert) => (
            HttpError::TlsAlertReceived {
                alert_id: Some(u8::from(*alert)),
                alert_message: Some(format!("{alert:?}")),
            },
            match entry {
                None => "; if the server wants a client certificate, give the component a `[[client_tls]]` entry with `client_cert_file` and `client_private_key_file`".to_string(),
                Some(entry) => format!("; the request used {entry}"),
            },
        ),
        _ => (HttpError::TlsProtocolError, String::new()),
    };
    tracing::warn!(
        component = who.component,
        "outbound HTTPS request to `{}`: TLS failed: {err}{hint}",
        who.target
    );
    code
}

/// A response body that fails with `connection-read-timeout` when no data
/// arrives for its between-bytes timeout, and at its end finishes its
/// exchange (its connection back to the pool, the I/O future done).
pub(crate) struct TimedBody {
    body: hyper::body::Incoming,
    gap: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    end: Option<End>,
}

impl TimedBody {
    fn finish(&mut self, result: Result<(), HttpError>) {
        if let Some(end) = self.end.take() {
            end.finish(result);
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // A reader may stop at a frame after which the body says it
                // has ended, without polling for the end.
                if http_body::Body::is_end_stream(&this.body) {
                    this.finish(Ok(()));
                } else {
                    let next = tokio::time::Instant::now() + this.gap;
                    this.deadline.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                // The reader gets the error itself; the I/O future its kind.
                let (to_reader, to_io) = match err.is_timeout() {
                    true => (
                        HttpError::HttpResponseTimeout,
                        HttpError::HttpResponseTimeout,
                    ),
                    false if err.is_incomplete_message() => {
                        (HttpError::from(err), HttpError::HttpResponseIncomplete)
                    }
                    false => (HttpError::from(err), HttpError::ConnectionTerminated),
                };
                this.finish(Err(to_io));
                Poll::Ready(Some(Err(to_reader)))
            }
            Poll::Ready(None) => {
                this.finish(Ok(()));
                Poll::Ready(None)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.finish(Err(HttpError::ConnectionReadTimeout));
                    Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.body)
    }
}

#[cfg(test)]
#[path = "send_tests.rs"]
mod tests;
