//! Sends a granted outbound request: to the address its grant was checked
//! against (plain HTTP and HTTPS alike, so a second DNS answer cannot redirect
//! it), over TLS with the component's client configuration for HTTPS, within
//! the request's timeouts.

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
    /// What the configuration trusts and presents, for error messages.
    pub about: String,
}

/// Who sends, and where, for log lines.
pub(crate) struct Sender<'a> {
    /// The component's id.
    pub component: &'a str,
    /// The destination as a grant names it (`https://host:port`).
    pub target: &'a str,
}

/// The I/O that continues once the response head has arrived (the body).
pub(crate) type Io = Pin<Box<dyn Future<Output = Result<(), HttpError>> + Send>>;

/// A byte stream hyper can run HTTP/1 over: TCP, or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Connects to `addr` (with `tls` for HTTPS), sends `request`, and returns the
/// response once its head has arrived, with the future that finishes its I/O.
/// The timeouts are `options`' (always set: the operator's caps).
pub(crate) async fn send(
    mut request: http::Request<WasiBody>,
    addr: SocketAddr,
    tls: Option<Tls>,
    options: &RequestOptions,
    who: &Sender<'_>,
) -> Result<(http::Response<TimedBody>, Io), HttpError> {
    let forever = Duration::from_secs(600);
    let connect_timeout = options.connect_timeout.unwrap_or(forever);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(forever);
    let between_bytes_timeout = options.between_bytes_timeout.unwrap_or(forever);

    let stream = tokio::time::timeout(connect_timeout, connect(addr, tls, who))
        .await
        .map_err(|_| {
            tracing::warn!(component = who.component, "outbound request to `{}` ({addr}): no connection within the connect timeout of {connect_timeout:?}", who.target);
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
    .map_err(HttpError::from)?;

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

/// A TCP connection to `addr`, with TLS on top when `tls` is given.
async fn connect(
    addr: SocketAddr,
    tls: Option<Tls>,
    who: &Sender<'_>,
) -> Result<Box<dyn Stream>, HttpError> {
    let tcp = TcpStream::connect(addr).await.map_err(|err| {
        tracing::warn!(
            component = who.component,
            "outbound request to `{}` ({addr}): cannot connect: {err}",
            who.target
        );
        match err.kind() {
            std::io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
            std::io::ErrorKind::TimedOut => HttpError::ConnectionTimeout,
            _ => HttpError::Connect(err),
        }
    })?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    let connector = tokio_rustls::TlsConnector::from(tls.config);
    match connector.connect(tls.name, tcp).await {
        Ok(stream) => Ok(Box::new(stream)),
        Err(err) => Err(tls_failure(err, &tls.about, who)),
    }
}

/// The `wasi:http` error for a failed TLS handshake, logged with what to change.
fn tls_failure(err: std::io::Error, about: &str, who: &Sender<'_>) -> HttpError {
    let cause = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let (code, hint) = match cause {
        Some(rustls::Error::InvalidCertificate(_)) => (
            HttpError::TlsCertificateError,
            match about.is_empty() {
                true => "; to trust its CA, name it in SSL_CERT_FILE, or give the component a `[[client_tls]]` entry with `ca_roots_file` in the runtime config".to_string(),
                false => format!("; the request used {about}"),
            },
        ),
        Some(rustls::Error::AlertReceived(alert)) => (
            HttpError::TlsAlertReceived {
                alert_id: Some(u8::from(*alert)),
                alert_message: Some(format!("{alert:?}")),
            },
            match about.is_empty() {
                true => "; if the server wants a client certificate, give the component a `[[client_tls]]` entry with `client_cert_file` and `client_private_key_file`".to_string(),
                false => format!("; the request used {about}"),
            },
        ),
        _ => (HttpError::TlsProtocolError, String::new()),
    };
    tracing::warn!(
        component = who.component,
        "outbound HTTPS request to `{}`: TLS handshake failed: {err}{hint}",
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
