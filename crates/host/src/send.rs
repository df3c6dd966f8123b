//! Sends a granted outbound request: to the addresses its grant was checked
//! against, in turn until one connects (plain HTTP and HTTPS alike, so a second
//! DNS answer cannot redirect it), over TLS with the component's client
//! configuration for HTTPS, within the request's timeouts.

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

/// TLS for an HTTPS request: the name the certificate must be valid for, and
/// the configuration (roots, client certificate) to connect with.
pub(crate) struct Tls {
    /// The server's name (or IP address) as the request's URL gives it.
    pub name: rustls::pki_types::ServerName<'static>,
    /// The rustls configuration.
    pub config: Arc<rustls::ClientConfig>,
    /// The `[[client_tls]]` entry the configuration comes from, and what it
    /// trusts and presents (`None`: the default), for error messages.
    pub entry: Option<Arc<str>>,
}

/// Who sends, and where, for log lines.
pub(crate) struct Sender<'a> {
    /// The component's id.
    pub component: &'a str,
    /// The destination.
    pub target: &'a skiff_outbound_networking::OutboundTarget,
}

/// The I/O that continues once the response head has arrived (the body).
pub(crate) type Io = Pin<Box<dyn Future<Output = Result<(), HttpError>> + Send>>;

/// A byte stream hyper can run HTTP/1 over: TCP, or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Connects to the first of `addrs` that accepts (with `tls` for HTTPS), sends `request`, and returns the
/// response once its head has arrived, with the future that finishes its I/O.
/// The timeouts are `options`' (always set: the operator's caps).
pub(crate) async fn send(
    mut request: http::Request<WasiBody>,
    addrs: &[SocketAddr],
    tls: Option<Tls>,
    options: &RequestOptions,
    who: &Sender<'_>,
) -> Result<(http::Response<TimedBody>, Io), HttpError> {
    let forever = Duration::from_secs(600);
    let connect_timeout = options.connect_timeout.unwrap_or(forever);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(forever);
    let between_bytes_timeout = options.between_bytes_timeout.unwrap_or(forever);

    // TLS 1.3 servers check a client certificate after the client's side of
    // the handshake is done: their refusal arrives with the response.
    let entry = tls.as_ref().map(|tls| tls.entry.clone());
    let stream = tokio::time::timeout(connect_timeout, connect(addrs, tls, who))
        .await
        .map_err(|_| {
            tracing::warn!(component = who.component, "outbound request to `{}`: no connection within the connect timeout of {connect_timeout:?}", who.target);
            HttpError::ConnectionTimeout
        })??;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(HttpError::from)?;

    // The request line names the path only; the `host` header (set by
    // `wasi:http`) names the server.
    if !request.headers().contains_key(http::header::HOST)
        && let Some(authority) = request.uri().authority()
        && let Ok(host) = http::HeaderValue::from_str(authority.as_str())
    {
        request.headers_mut().insert(http::header::HOST, host);
    }
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = path.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;

    // hyper's connection does the socket I/O: poll it while waiting for the
    // head, then hand it on to finish the body.
    let mut connection = Some(Box::pin(connection));
    let mut response = std::pin::pin!(sender.send_request(request));
    let head = tokio::time::timeout(
        first_byte_timeout,
        std::future::poll_fn(|cx| {
            if let Poll::Ready(head) = response.as_mut().poll(cx) {
                return Poll::Ready(head);
            }
            let Some(io) = connection.as_mut() else {
                return Poll::Pending;
            };
            match io.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(done) => {
                    connection = None;
                    match done {
                        // Ended cleanly: the response has its answer now.
                        Ok(()) => response.as_mut().poll(cx),
                        Err(err) => Poll::Ready(Err(err)),
                    }
                }
            }
        }),
    )
    .await
    .map_err(|_| HttpError::ConnectionReadTimeout)?
    .map_err(|err| match (&entry, rustls_cause(&err)) {
        (Some(entry), Some(cause)) => tls_failure(cause, &err, entry.as_deref(), who),
        _ => HttpError::from(err),
    })?;

    let io: Io = Box::pin(async move {
        match connection {
            Some(io) => io.await.map_err(|err| match err.is_timeout() {
                true => HttpError::HttpResponseTimeout,
                false => HttpError::from(err),
            }),
            None => Ok(()),
        }
    });
    let response = head.map(|body| TimedBody {
        body,
        gap: between_bytes_timeout,
        deadline: Box::pin(tokio::time::sleep(between_bytes_timeout)),
    });
    Ok((response, io))
}

/// A TCP connection to the first of `addrs` that accepts, with TLS on top
/// when `tls` is given.
async fn connect(
    addrs: &[SocketAddr],
    tls: Option<Tls>,
    who: &Sender<'_>,
) -> Result<Box<dyn Stream>, HttpError> {
    let mut failed = None;
    let mut connected = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                connected = Some(tcp);
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
    let tcp = match (connected, failed) {
        (Some(tcp), _) => tcp,
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
        return Ok(Box::new(tcp));
    };
    let connector = tokio_rustls::TlsConnector::from(tls.config);
    match connector.connect(tls.name, tcp).await {
        Ok(stream) => Ok(Box::new(stream)),
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
/// arrives for its between-bytes timeout.
pub(crate) struct TimedBody {
    body: hyper::body::Incoming,
    gap: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
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
                let next = tokio::time::Instant::now() + this.gap;
                this.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(match err.is_timeout() {
                true => HttpError::HttpResponseTimeout,
                false => HttpError::from(err),
            }))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
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
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use skiff_outbound_networking::OutboundTarget;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Five seconds for everything.
    const OPTIONS: RequestOptions = RequestOptions {
        connect_timeout: Some(Duration::from_secs(5)),
        first_byte_timeout: Some(Duration::from_secs(5)),
        between_bytes_timeout: Some(Duration::from_secs(5)),
    };

    fn sender(target: &OutboundTarget) -> Sender<'_> {
        Sender {
            component: "test",
            target,
        }
    }

    /// A name that resolved to several granted addresses is sent to the first
    /// that accepts a connection (a dual-stack name whose IPv6 address is
    /// unreachable from here still works), with the path alone in the
    /// request line and the name in `host`.
    #[tokio::test]
    async fn the_first_address_that_accepts_serves() {
        let closed = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await
                .unwrap();
            String::from_utf8(seen).unwrap()
        });
        let body = http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::get("http://api.example:8080/a/b?c=d")
            .header(http::header::HOST, "api.example:8080")
            .body(body)
            .unwrap();
        let target = OutboundTarget::from_url("http://api.example:8080").unwrap();
        let (response, io) = send(request, &[closed, open], None, &OPTIONS, &sender(&target))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let (body, done) = tokio::join!(response.into_body().collect(), io);
        assert_eq!(body.unwrap().to_bytes(), "ok");
        done.unwrap();
        let head = server.await.unwrap();
        assert!(head.starts_with("GET /a/b?c=d HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("host: api.example:8080\r\n"), "{head}");
    }

    /// A request body goes out whole: with its `content-length`, or chunked
    /// when the guest streams one of unknown length.
    #[tokio::test]
    async fn request_bodies_are_sent() {
        for declared in [true, false] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                // Until the body's end: its length, or the last chunk.
                while !(seen.ends_with(b"hello, upstream") || seen.ends_with(b"0\r\n\r\n")) {
                    let n = socket.read(&mut buf).await.unwrap();
                    assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
                    seen.extend_from_slice(&buf[..n]);
                }
                socket
                    .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .unwrap();
                String::from_utf8(seen).unwrap()
            });
            let body = match declared {
                true => http_body_util::Full::new(Bytes::from_static(b"hello, upstream"))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
                false => Chunks(vec!["upstream", "hello, "]).boxed_unsync(),
            };
            let mut request = http::Request::post("http://api.example/items")
                .header(http::header::HOST, "api.example");
            if declared {
                request = request.header(http::header::CONTENT_LENGTH, "15");
            }
            let target = OutboundTarget::from_url("http://api.example:80").unwrap();
            let (response, io) = send(
                request.body(body).unwrap(),
                &[addr],
                None,
                &OPTIONS,
                &sender(&target),
            )
            .await
            .unwrap();
            assert_eq!(response.status(), 201);
            drop(response);
            io.await.unwrap();
            let seen = server.await.unwrap();
            assert!(seen.starts_with("POST /items HTTP/1.1\r\n"), "{seen}");
            match declared {
                true => assert!(
                    seen.contains("content-length: 15\r\n")
                        && seen.ends_with("\r\n\r\nhello, upstream"),
                    "{seen}"
                ),
                false => assert!(
                    seen.contains("transfer-encoding: chunked\r\n")
                        && seen.contains("7\r\nhello, \r\n8\r\nupstream\r\n0\r\n\r\n"),
                    "{seen}"
                ),
            }
        }
    }

    /// A body of unknown length, sent in `self.0`'s pieces (last first).
    struct Chunks(Vec<&'static str>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = HttpError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
            let next = self.0.pop();
            Poll::Ready(
                next.map(|piece| Ok(http_body::Frame::data(Bytes::from_static(piece.as_bytes())))),
            )
        }
    }
}
