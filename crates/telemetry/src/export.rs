//! The batch exporter: finished spans queue (bounded, dropping and counting
//! what does not fit), and a thread of its own sends them in batches to the
//! collector, by the protocol configured, retrying what the collector says
//! to retry until the export timeout.
//!
//! The thread has its own single-threaded runtime, so exports never take a
//! request's worker, and spans still get out while the server shuts down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{Batch, Export, Protocol, Signal};
use crate::otlp::{self, Attribute};

/// What one signal exports: finished spans, log records, metrics.
pub(crate) trait Record: Send + Sized + 'static {
    /// The signal.
    const SIGNAL: Signal;
    /// What a record is called in messages (`span`, `log record`, …).
    const NOUN: &'static str;
    /// The records as one protobuf export request.
    fn encode_protobuf(resource: &[Attribute], records: &[Self]) -> Vec<u8>;
    /// The records as one OTLP/JSON export request.
    fn to_json(resource: &[Attribute], records: &[Self]) -> serde_json::Value;
}

enum Msg<T> {
    Item(T),
    Flush(std::sync::mpsc::Sender<()>),
}

/// The resource every signal is exported with, shared by their exporters:
/// the app may name the service once it is loaded.
pub(crate) struct Resource {
    attributes: Mutex<Vec<Attribute>>,
    /// The resource keys the operator's variables set.
    operator_keys: Vec<String>,
}

impl Resource {
    pub fn new(attributes: Vec<Attribute>, operator_keys: Vec<String>) -> Arc<Resource> {
        Arc::new(Resource {
            attributes: Mutex::new(attributes),
            operator_keys,
        })
    }

    /// The attributes now.
    pub fn get(&self) -> Vec<Attribute> {
        self.attributes.lock().expect("resource lock").clone()
    }

    /// Sets an attribute from the app (its name, its version), unless the
    /// operator set that key (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`),
    /// whose value stands.
    pub fn set_from_app(&self, key: &'static str, value: otlp::Value) {
        if self.operator_keys.iter().any(|k| k == key) {
            return;
        }
        let mut attributes = self.attributes.lock().expect("resource lock");
        match attributes.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => attributes.push((key.into(), value)),
        }
    }
}

/// A batching exporter's handle: where spans or log records are queued.
pub(crate) struct Exporter<T> {
    tx: SyncSender<Msg<T>>,
    dropped: AtomicU64,
}

impl<T: Record> Exporter<T> {
    /// Starts the export thread.
    pub fn start(
        export: &Export,
        batch: Batch,
        resource: Arc<Resource>,
    ) -> Result<Arc<Exporter<T>>, String> {
        let client = Client::new(export, T::SIGNAL)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(batch.max_queue_size);
        let batcher = Batcher {
            rx,
            client,
            resource,
            delay: batch.schedule_delay,
            batch_size: batch.max_export_batch_size,
        };
        std::thread::Builder::new()
            .name(format!("skiff-otlp-{}", T::SIGNAL.name()))
            .spawn(move || batcher.run())
            .map_err(|e| format!("could not start the OTLP export thread: {e}"))?;
        Ok(Arc::new(Exporter {
            tx,
            dropped: AtomicU64::new(0),
        }))
    }

    /// Queues a record; drops it (counted, and warned about at the first and
    /// every 1000th) if the queue is full.
    pub fn push(&self, record: T) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send(Msg::Item(record))
        {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(1000) {
                tracing::warn!(
                    target: "otel_export",
                    "OpenTelemetry: {n} {}(s) dropped so far: the export queue is full \
                     ({}_MAX_QUEUE_SIZE) and the collector is not keeping up",
                    T::NOUN,
                    match T::SIGNAL {
                        Signal::Logs => "OTEL_BLRP",
                        _ => "OTEL_BSP",
                    },
                );
            }
        }
    }

    /// Asks for every record queued so far to be sent; the receiver hears
    /// when it has been (`None`: the export thread is gone).
    pub fn begin_flush(&self) -> Option<Receiver<()>> {
        let (done, wait) = std::sync::mpsc::channel();
        self.tx.send(Msg::Flush(done)).ok()?;
        Some(wait)
    }
}

thread_local! {
    /// Whether this thread is an exporter's (set once, at its start).
    static EXPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the caller runs on an exporter's thread: what is logged there
/// (the exporters' HTTP client's own debug lines, with a verbose
/// `SKIFF_LOG`) is not exported as logs, or each export would make more.
pub(crate) fn on_export_thread() -> bool {
    EXPORTING.get()
}

/// A single-threaded runtime for an export thread, which it marks as one
/// (see [`on_export_thread`]).
pub(crate) fn export_runtime() -> Option<tokio::runtime::Runtime> {
    EXPORTING.set(true);
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(err) => {
            tracing::error!(target: "otel_export", "OpenTelemetry: no runtime for the exporter: {err}");
            None
        }
    }
}

struct Batcher<T> {
    rx: Receiver<Msg<T>>,
    client: Client,
    resource: Arc<Resource>,
    delay: Duration,
    batch_size: usize,
}

impl<T: Record> Batcher<T> {
    fn run(mut self) {
        let Some(rt) = export_runtime() else {
            return;
        };
        let mut batch: Vec<T> = Vec::new();
        // When the oldest record in `batch` must go out.
        let mut due: Option<Instant> = None;
        loop {
            let msg = match due {
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(due) => self
                    .rx
                    .recv_timeout(due.saturating_duration_since(Instant::now())),
            };
            match msg {
                Ok(Msg::Item(record)) => {
                    batch.push(record);
                    due.get_or_insert_with(|| Instant::now() + self.delay);
                    if batch.len() >= self.batch_size {
                        rt.block_on(self.send(&mut batch));
                        due = None;
                    }
                }
                Ok(Msg::Flush(done)) => {
                    // Everything queued before the flush was asked for.
                    while let Ok(msg) = self.rx.try_recv() {
                        match msg {
                            Msg::Item(record) => batch.push(record),
                            Msg::Flush(other) => drop(other.send(())),
                        }
                    }
                    rt.block_on(self.send(&mut batch));
                    due = None;
                    let _ = done.send(());
                }
                Err(RecvTimeoutError::Timeout) => {
                    rt.block_on(self.send(&mut batch));
                    due = None;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    rt.block_on(self.send(&mut batch));
                    return;
                }
            }
        }
    }

    /// Sends `batch` (emptying it) in exports of at most the batch size.
    async fn send(&mut self, batch: &mut Vec<T>) {
        while !batch.is_empty() {
            let n = batch.len().min(self.batch_size);
            let records: Vec<T> = batch.drain(..n).collect();
            let resource = self.resource.get();
            if let Err(err) = self.client.export(&resource, &records).await {
                tracing::warn!(
                    target: "otel_export",
                    "OpenTelemetry: {} {}(s) not exported to {}: {err}",
                    records.len(),
                    T::NOUN,
                    self.client.endpoint
                );
            }
        }
    }
}

/// A failed export.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Fatal(String),
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

enum Conn {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// The OTLP client of one signal: one connection to the collector, kept
/// open between exports and made again when it fails.
pub(crate) struct Client {
    /// Where exports go, for messages.
    pub endpoint: http::Uri,
    signal: Signal,
    /// Every export's request target: origin form for HTTP/1.1 to the
    /// collector itself, the whole URL (for `:authority`) for gRPC.
    target: http::Uri,
    /// Every export's headers: framing, the user agent, the operator's.
    headers: http::HeaderMap,
    protocol: Protocol,
    timeout: Duration,
    gzip: bool,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    host: String,
    port: u16,
    conn: Option<Conn>,
}

/// gRPC's export method for `signal`.
fn grpc_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }
}

impl Client {
    pub fn new(config: &Export, signal: Signal) -> Result<Client, String> {
        let uri = &config.endpoint;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let endpoint = match config.protocol {
            Protocol::Grpc => {
                let mut parts = uri.clone().into_parts();
                parts.path_and_query =
                    Some(http::uri::PathAndQuery::from_static(grpc_path(signal)));
                http::Uri::from_parts(parts).map_err(|e| e.to_string())?
            }
            _ => uri.clone(),
        };
        let target = match config.protocol {
            Protocol::Grpc => endpoint.clone(),
            _ => endpoint.path_and_query().map_or_else(
                || http::Uri::from_static("/"),
                |pq| pq.as_str().parse().unwrap_or_default(),
            ),
        };
        let headers = export_headers(config, &endpoint, &host, port)?;
        let tls = if https {
            skiff_outbound_networking::install_tls_provider();
            let base = tls_config(config, &host, port)?;
            let mut tls = (*base).clone();
            tls.alpn_protocols = match config.protocol {
                Protocol::Grpc => vec![b"h2".to_vec()],
                _ => vec![b"http/1.1".to_vec()],
            };
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))?;
            Some((Arc::new(tls), name))
        } else {
            None
        };
        Ok(Client {
            endpoint,
            signal,
            target,
            headers,
            protocol: config.protocol,
            timeout: config.timeout,
            gzip: config.gzip,
            tls,
            host,
            port,
            conn: None,
        })
    }

    /// Exports `records`, retrying until the timeout where the collector
    /// asks for it (or could not be reached).
    pub async fn export<T: Record>(
        &mut self,
        resource: &[Attribute],
        records: &[T],
    ) -> Result<(), ExportError> {
        let body = self.encode(resource, records)?;
        let deadline = Instant::now() + self.timeout;
        let mut backoff = Duration::from_millis(100);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let attempt = tokio::time::timeout(left, self.attempt(body.clone())).await;
            let err = match attempt {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(ExportError::Fatal(msg))) => return Err(ExportError::Fatal(msg)),
                Ok(Err(ExportError::Retryable(msg))) => msg,
                Err(_) => {
                    self.conn = None;
                    format!("no answer within the export timeout of {:?}", self.timeout)
                }
            };
            // Jitter, so many Skiffs do not retry in step.
            let wait = backoff.mul_f64(0.5 + fastrand::f64());
            if Instant::now() + wait >= deadline {
                return Err(ExportError::Retryable(format!(
                    "{err} (gave up after the export timeout of {:?}, OTEL_EXPORTER_OTLP_TIMEOUT)",
                    self.timeout
                )));
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    fn encode<T: Record>(
        &self,
        resource: &[Attribute],
        records: &[T],
    ) -> Result<Bytes, ExportError> {
        let raw = match self.protocol {
            Protocol::HttpJson => {
                serde_json::to_vec(&T::to_json(resource, records)).map_err(|e| {
                    ExportError::Fatal(format!("could not encode the {}: {e}", T::SIGNAL.name()))
                })?
            }
            _ => T::encode_protobuf(resource, records),
        };
        let payload = if self.gzip { gzip(&raw) } else { raw };
        Ok(match self.protocol {
            Protocol::Grpc => {
                // gRPC's message framing: compressed flag, big-endian length.
                let mut framed = Vec::with_capacity(payload.len() + 5);
                framed.push(u8::from(self.gzip));
                framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                framed.extend_from_slice(&payload);
                Bytes::from(framed)
            }
            _ => Bytes::from(payload),
        })
    }

    async fn attempt(&mut self, body: Bytes) -> Result<(), ExportError> {
        let mut req = http::Request::post(self.target.clone())
            .body(Full::new(body))
            .map_err(|e| ExportError::Fatal(format!("could not build the request: {e}")))?;
        *req.headers_mut() = self.headers.clone();
        let result = self.round_trip(req).await;
        if result.is_err() {
            self.conn = None;
        }
        let (status, headers, body, trailers) = result?;
        match self.protocol {
            Protocol::Grpc => {
                // A trailers-only answer carries the status in its headers.
                let grpc = trailers
                    .as_ref()
                    .and_then(|t| t.get("grpc-status"))
                    .or_else(|| headers.get("grpc-status"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u32>().ok());
                let message = trailers
                    .as_ref()
                    .and_then(|t| t.get("grpc-message"))
                    .or_else(|| headers.get("grpc-message"))
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                match (status.is_success(), grpc) {
                    (true, Some(0)) => {
                        self.partial_success(body.get(5..).unwrap_or_default());
                        Ok(())
                    }
                    // CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
                    // OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS: OTLP's retryable codes.
                    (_, Some(code @ (1 | 4 | 8 | 10 | 11 | 14 | 15))) => {
                        Err(ExportError::Retryable(format!(
                            "the collector answered gRPC status {code} {message}"
                        )))
                    }
                    (_, Some(code)) => Err(ExportError::Fatal(format!(
                        "the collector answered gRPC status {code} {message}"
                    ))),
                    (_, None) => Err(ExportError::Fatal(format!(
                        "the collector answered HTTP {status} without a gRPC status"
                    ))),
                }
            }
            _ => {
                if status.is_success() {
                    self.partial_success(&body);
                    return Ok(());
                }
                let detail = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                let msg = format!("the collector answered {status}: {}", detail.trim());
                match status.as_u16() {
                    429 | 502 | 503 | 504 => Err(ExportError::Retryable(msg)),
                    _ => Err(ExportError::Fatal(msg)),
                }
            }
        }
    }

    /// Warns of records an accepted export says the collector rejected
    /// (OTLP's partial success).
    fn partial_success(&self, body: &[u8]) {
        let (json_key, noun) = match self.signal {
            Signal::Traces => ("rejectedSpans", "span"),
            Signal::Metrics => ("rejectedDataPoints", "data point"),
            Signal::Logs => ("rejectedLogRecords", "log record"),
        };
        let (rejected, message) = match self.protocol {
            Protocol::HttpJson => {
                let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
                    return;
                };
                let partial = &json["partialSuccess"];
                let rejected = match &partial[json_key] {
                    serde_json::Value::String(s) => s.parse().unwrap_or(0),
                    v => v.as_i64().unwrap_or(0),
                };
                let message = partial["errorMessage"].as_str().unwrap_or_default();
                (rejected, message.to_string())
            }
            // The three signals' responses share their layout: field 1 the
            // count rejected, 2 the message.
            _ => match otlp::pb::ExportTraceServiceResponse::decode(body) {
                Ok(otlp::pb::ExportTraceServiceResponse {
                    partial_success: Some(p),
                }) => (p.rejected_spans, p.error_message),
                _ => return,
            },
        };
        if rejected > 0 || !message.is_empty() {
            tracing::warn!(
                target: "otel_export",
                "OpenTelemetry: the collector at {} rejected {rejected} {noun}(s): {message}",
                self.endpoint
            );
        }
    }

    /// Sends `req` on the kept connection (made first if need be).
    async fn round_trip(
        &mut self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<
        (
            http::StatusCode,
            http::HeaderMap,
            Bytes,
            Option<http::HeaderMap>,
        ),
        ExportError,
    > {
        let ready = match &mut self.conn {
            Some(Conn::H1(c)) => c.ready().await.is_ok(),
            Some(Conn::H2(c)) => c.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            self.conn = Some(self.connect().await?);
        }
        let sent = match self.conn.as_mut().expect("connected") {
            Conn::H1(c) => c.send_request(req).await,
            Conn::H2(c) => c.send_request(req).await,
        };
        let response =
            sent.map_err(|e| ExportError::Retryable(format!("the request failed: {e}")))?;
        let (parts, body) = response.into_parts();
        let collected = body
            .collect()
            .await
            .map_err(|e| ExportError::Retryable(format!("the response failed: {e}")))?;
        let trailers = collected.trailers().cloned();
        Ok((parts.status, parts.headers, collected.to_bytes(), trailers))
    }

    async fn connect(&self) -> Result<Conn, ExportError> {
        let unreachable = |e: std::io::Error| {
            ExportError::Retryable(format!(
                "cannot connect to {}:{}: {e}",
                self.host, self.port
            ))
        };
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(unreachable)?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some((config, name)) => {
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| {
                        ExportError::Retryable(format!(
                            "TLS with {}:{} failed: {e}",
                            self.host, self.port
                        ))
                    })?;
                Box::new(tls)
            }
        };
        let io = TokioIo::new(stream);
        let failed =
            |e: hyper::Error| ExportError::Retryable(format!("HTTP handshake failed: {e}"));
        Ok(match self.protocol {
            Protocol::Grpc => {
                let (send, conn) = http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(failed)?;
                tokio::spawn(conn);
                Conn::H2(send)
            }
            _ => {
                let (send, conn) = http1::handshake(io).await.map_err(failed)?;
                tokio::spawn(conn);
                Conn::H1(send)
            }
        })
    }
}

/// The headers every export carries: the protocol's framing, the user
/// agent, and the operator's (`OTEL_EXPORTER_OTLP_HEADERS`, which win).
fn export_headers(
    config: &Export,
    endpoint: &http::Uri,
    host: &str,
    port: u16,
) -> Result<http::HeaderMap, String> {
    use http::HeaderValue;
    use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HOST, TE, USER_AGENT};
    let mut headers = http::HeaderMap::new();
    let gzip = HeaderValue::from_static("gzip");
    match config.protocol {
        Protocol::Grpc => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            headers.insert(TE, HeaderValue::from_static("trailers"));
            if config.gzip {
                headers.insert("grpc-encoding", gzip);
            }
        }
        Protocol::HttpJson | Protocol::HttpProtobuf => {
            let authority = match endpoint.authority() {
                Some(a) => a.as_str().to_string(),
                None => format!("{host}:{port}"),
            };
            let host = HeaderValue::try_from(authority)
                .map_err(|e| format!("the endpoint's authority is not a Host header: {e}"))?;
            headers.insert(HOST, host);
            let ct = match config.protocol {
                Protocol::HttpJson => "application/json",
                _ => "application/x-protobuf",
            };
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            if config.gzip {
                headers.insert(CONTENT_ENCODING, gzip);
            }
        }
    }
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("skiff/", env!("CARGO_PKG_VERSION"))),
    );
    for (name, value) in &config.headers {
        headers.insert(name.clone(), value.clone());
    }
    Ok(headers)
}

/// The TLS configuration for the collector: the Mozilla and system roots, or
/// with `OTEL_EXPORTER_OTLP_CERTIFICATE` / the client certificate, those too.
fn tls_config(config: &Export, host: &str, port: u16) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use skiff_outbound_networking::{ClientTls, ClientTlsEntry};
    if config.certificate.is_none() && config.client_identity.is_none() {
        return Ok(skiff_outbound_networking::https_client_config());
    }
    let roots = match &config.certificate {
        None => Vec::new(),
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("OTEL_EXPORTER_OTLP_CERTIFICATE (`{}`): {e}", path.display()))?,
    };
    let identity = match &config.client_identity {
        None => None,
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    format!(
                        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE (`{}`): {e}",
                        cert.display()
                    )
                })?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("OTEL_EXPORTER_OTLP_CLIENT_KEY (`{}`): {e}", key.display()))?;
            Some((chain, key))
        }
    };
    let destination = match host.contains(':') {
        true => host.to_string(),
        false => format!("{host}:{port}"),
    };
    let tls = ClientTls::new(vec![ClientTlsEntry {
        components: vec!["otlp".into()],
        hosts: vec![destination.parse()?],
        use_webpki_roots: true,
        roots,
        identity,
    }])
    .map_err(|e| {
        e.replace(
            "`[[client_tls]]` entry 1",
            "the OTLP exporter's TLS settings",
        )
    })?;
    let entry = tls
        .entry_for("otlp", host, port)
        .ok_or_else(|| format!("no TLS settings for {host}:{port}"))?;
    Ok(entry.config.clone())
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(raw).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}
