//! A real OTLP receiver on free loopback ports, to check the traces, metrics
//! and logs Skiff exports: OTLP/HTTP (`application/x-protobuf` and
//! `application/json`, optionally gzip-compressed) and OTLP/gRPC.
//!
//! No OpenTelemetry Collector binary is to be had here, so the receiver is
//! `otlp_receiver.py` (next to this crate's `Cargo.toml`): it decodes every
//! export with the OpenTelemetry project's own generated protobuf classes
//! (PyPI `opentelemetry-proto`, on `protobuf`, and `grpcio` for gRPC), and
//! strictly — unknown protobuf fields, snake_case or unknown OTLP/JSON field
//! names, enums as strings, base64 trace/span ids in JSON, or ids of the wrong
//! length are refused (400 / `INVALID_ARGUMENT`) and recorded as the export's
//! [`Export::error`]. So are metrics a collector would find malformed (no
//! name or data, an unspecified aggregation temporality, a point without a
//! timestamp, histogram buckets that do not fit their bounds or count) and log
//! records with neither a timestamp nor an observed timestamp.
//!
//! The signal is the OTLP/HTTP path's (`…/v1/traces`, `…/v1/metrics`,
//! `…/v1/logs`; any other path is answered 404 and recorded with an error
//! naming it) or the gRPC service's (`TraceService`, `MetricsService`,
//! `LogsService`). [`OtlpReceiver::spans`], [`OtlpReceiver::metrics`] and
//! [`OtlpReceiver::logs`] each read the accepted exports of their signal.
//!
//! It needs `python3` on `PATH` and those packages: `$SKIFF_TEST_OTLP_PYTHONPATH`
//! (which `.ci/run` sets, installing them once per machine), else installed
//! once with pip under cargo's target directory (`<target>/tools/python-otlp`).
//! A missing `python3` or a failed install fails the test with the fix,
//! never skips it.
//!
//! ```no_run
//! # fn example() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use skiff_test_support::otlp_receiver::OtlpReceiver;
//!
//! let otlp = OtlpReceiver::start()?;
//! // Point the exporter at `otlp.http_endpoint()` (OTEL_EXPORTER_OTLP_ENDPOINT,
//! // to which exporters append /v1/traces, /v1/metrics and /v1/logs) or
//! // `otlp.grpc_endpoint()`, make it export, then:
//! let spans = otlp.wait_for(Duration::from_secs(10), |spans| {
//!     spans.iter().any(|s| s.name == "GET /hello")
//! })?;
//! let server = spans.iter().find(|s| s.name == "GET /hello").unwrap();
//! assert_eq!(server.kind, "SPAN_KIND_SERVER");
//! assert_eq!(server.attr_i64("http.response.status_code"), Some(200));
//!
//! let metrics = otlp.wait_for_metrics(Duration::from_secs(10), |metrics| {
//!     metrics.iter().any(|m| m.name == "http.server.request.duration")
//! })?;
//! let duration = metrics.iter().find(|m| m.name == "http.server.request.duration").unwrap();
//! assert_eq!(duration.kind, "histogram");
//! assert!(duration.point(|p| p.attr_str("http.route") == Some("/hello")).is_some());
//!
//! let logs = otlp.wait_for_logs(Duration::from_secs(10), |logs| {
//!     logs.iter().any(|l| l.body_str() == Some("hello"))
//! })?;
//! assert_eq!(logs[0].trace_id, server.trace_id);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Deserialize;
use tempfile::TempDir;

use crate::{free_port, tempdir};

/// The attribute getters of a received item with `attributes` and
/// `resource` maps: `attr_str`, `attr_i64`, `attr_bool`, `resource_str`.
macro_rules! attribute_accessors {
    ($item:ty) => {
        impl $item {
            /// The string attribute `key`, if there is one.
            pub fn attr_str(&self, key: &str) -> Option<&str> {
                self.attributes.get(key)?.as_str()
            }

            /// The integer attribute `key`, if there is one.
            pub fn attr_i64(&self, key: &str) -> Option<i64> {
                self.attributes.get(key)?.as_i64()
            }

            /// The boolean attribute `key`, if there is one.
            pub fn attr_bool(&self, key: &str) -> Option<bool> {
                self.attributes.get(key)?.as_bool()
            }

            /// The string resource attribute `key` (e.g. `service.name`), if
            /// there is one.
            pub fn resource_str(&self, key: &str) -> Option<&str> {
                self.resource.get(key)?.as_str()
            }
        }
    };
}

/// The receiver script.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/otlp_receiver.py");

/// The PyPI packages the receiver imports, pinned (CPython ≥ 3.10 wheels).
/// `.ci/run` installs the same list; keep the two in step.
pub const PYTHON_PACKAGES: [&str; 3] = [
    "opentelemetry-proto==1.45.2",
    "protobuf==7.36.2",
    "grpcio==1.85.1",
];

/// The file in a package directory that names what was installed there
/// ([`PYTHON_PACKAGES`], space-separated); `.ci/run` writes it too.
const STAMP: &str = ".skiff-requirements";

const INSTALL_PYTHON: &str = "install it with `apt-get install -y python3 python3-pip`";

/// How long the receiver may take to listen (it imports grpcio).
const START: Duration = Duration::from_secs(60);

/// Exit status of `otlp_receiver.py` when one of its ports was taken.
const PORT_TAKEN: i32 = 98;

/// An OTLP receiver (traces, metrics and logs) started for one test; killed
/// on drop.
pub struct OtlpReceiver {
    child: Mutex<Child>,
    /// Closing it (on drop, or when the test process dies) ends the receiver.
    _stdin: ChildStdin,
    http_port: u16,
    grpc_port: u16,
    out: PathBuf,
    log: PathBuf,
    _dir: TempDir,
}

/// One export request the receiver got, in any protocol.
#[derive(Debug, Clone, Deserialize)]
pub struct Export {
    /// `http/protobuf`, `http/json` or `grpc` (`http/unknown` for an HTTP
    /// request whose `Content-Type` is neither OTLP/HTTP type; answered 415).
    pub protocol: String,
    /// The HTTP request path as sent (`/v1/traces`, `/v1/metrics`,
    /// `/v1/logs`), or for gRPC the method
    /// (`/opentelemetry.proto.collector.trace.v1.TraceService/Export`, …
    /// `metrics.v1.MetricsService/Export`, … `logs.v1.LogsService/Export`).
    pub path: String,
    /// The `Content-Type` header as sent (`application/grpc` for gRPC).
    pub content_type: String,
    /// The `Content-Encoding` header as sent (`""` if none). For gRPC, the
    /// `grpc-encoding` metadata if grpcio showed it, which it does not:
    /// grpcio decompresses gzip itself.
    pub content_encoding: String,
    /// The request headers (gRPC: metadata), names lowercased; repeated
    /// headers joined with `, `; binary (`-bin`) gRPC metadata base64.
    pub headers: BTreeMap<String, String>,
    /// The signal, from the HTTP path or the gRPC service: `traces`,
    /// `metrics` or `logs`; `""` for an HTTP path that is none of OTLP's
    /// (answered 404, with an [`Export::error`] naming the path).
    #[serde(default)]
    pub signal: String,
    /// Whether it was one of the first N exports of its signal that
    /// [`OtlpReceiver::start_failing_first`] (or
    /// [`OtlpReceiver::start_failing_first_of`]) answered 503 /
    /// `UNAVAILABLE` (its spans, metrics or logs are still decoded and listed
    /// here).
    pub rejected: bool,
    /// Why it was refused as not a valid OTLP export of its signal (answered
    /// 400 / `INVALID_ARGUMENT`, 415 for an unknown content type, 404 for an
    /// unknown path), if it was.
    pub error: Option<String>,
    /// Its spans, flattened (none if `error`, or if it is not a traces export).
    #[serde(default)]
    pub spans: Vec<ReceivedSpan>,
    /// Its metrics, flattened (none if `error`, or if it is not a metrics
    /// export).
    #[serde(default)]
    pub metrics: Vec<ReceivedMetric>,
    /// Its log records, flattened (none if `error`, or if it is not a logs
    /// export).
    #[serde(default)]
    pub logs: Vec<ReceivedLog>,
}

/// The signals, as [`Export::signal`] names them.
const SIGNALS: [&str; 3] = ["traces", "metrics", "logs"];

/// One span, flattened with its resource and instrumentation scope.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedSpan {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// 16 lowercase hex digits, or `""` for a root span.
    pub parent_span_id: String,
    /// The W3C `tracestate`, `""` if none.
    pub trace_state: String,
    /// The span's name.
    pub name: String,
    /// The `SpanKind` enum's name: `SPAN_KIND_SERVER`, `SPAN_KIND_CLIENT`,
    /// `SPAN_KIND_INTERNAL`, `SPAN_KIND_PRODUCER`, `SPAN_KIND_CONSUMER` or
    /// `SPAN_KIND_UNSPECIFIED` (the number, for a value the schema lacks).
    pub kind: String,
    /// `STATUS_CODE_UNSET`, `STATUS_CODE_OK` or `STATUS_CODE_ERROR`.
    pub status_code: String,
    /// The status message, `""` if none.
    pub status_message: String,
    /// The instrumentation scope's name.
    pub scope_name: String,
    /// The instrumentation scope's version.
    pub scope_version: String,
    /// Start time, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End time, nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// The span's `flags` field (W3C trace flags in the low byte).
    pub flags: u32,
    /// The span's attributes: strings, booleans, integers and doubles as the
    /// JSON scalar, arrays as lists, key-value lists as objects, bytes as hex.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The resource's attributes, in the same form.
    pub resource: BTreeMap<String, serde_json::Value>,
    /// The span's events.
    pub events: Vec<SpanEvent>,
    /// The span's links.
    #[serde(default)]
    pub links: Vec<SpanLink>,
}

/// An event in a [`ReceivedSpan`].
#[derive(Debug, Clone, Deserialize)]
pub struct SpanEvent {
    /// The event's name.
    pub name: String,
    /// When, nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Its attributes, in [`ReceivedSpan::attributes`]' form.
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// A link in a [`ReceivedSpan`].
#[derive(Debug, Clone, Deserialize)]
pub struct SpanLink {
    /// The linked span's trace id (hex).
    pub trace_id: String,
    /// The linked span's id (hex).
    pub span_id: String,
    /// The linked span's `tracestate`.
    pub trace_state: String,
    /// The link's attributes, in [`ReceivedSpan::attributes`]' form.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The link's `flags`.
    pub flags: u32,
}

attribute_accessors!(ReceivedSpan);

impl ReceivedSpan {
    /// Whether it has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_empty()
    }
}

/// One log record, flattened with its resource and instrumentation scope.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedLog {
    /// When the event happened, nanoseconds since the Unix epoch (0 if
    /// unknown).
    pub time_unix_nano: u64,
    /// When it was observed (by the SDK), nanoseconds since the Unix epoch
    /// (0 if unset). The receiver refuses a record with neither time.
    pub observed_time_unix_nano: u64,
    /// The `SeverityNumber`: 1–4 TRACE, 5–8 DEBUG, 9–12 INFO, 13–16 WARN,
    /// 17–20 ERROR, 21–24 FATAL, 0 unspecified.
    pub severity_number: i32,
    /// The severity as the source named it (`INFO`), `""` if none.
    pub severity_text: String,
    /// The body in [`ReceivedSpan::attributes`]' form (a string body is a
    /// JSON string); `null` if it has none.
    #[serde(default)]
    pub body: serde_json::Value,
    /// The record's attributes, in [`ReceivedSpan::attributes`]' form.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The resource's attributes, in the same form.
    pub resource: BTreeMap<String, serde_json::Value>,
    /// The instrumentation scope's name.
    pub scope_name: String,
    /// The instrumentation scope's version.
    pub scope_version: String,
    /// The trace it belongs to: 32 lowercase hex digits, `""` if none.
    pub trace_id: String,
    /// The span it belongs to: 16 lowercase hex digits, `""` if none.
    pub span_id: String,
    /// The record's `flags` field (W3C trace flags in the low byte).
    pub flags: u32,
    /// The `event_name` field (set for events), `""` if none.
    #[serde(default)]
    pub event_name: String,
}

attribute_accessors!(ReceivedLog);

impl ReceivedLog {
    /// The body, if it is a string.
    pub fn body_str(&self) -> Option<&str> {
        self.body.as_str()
    }
}

/// One metric, flattened with its resource and instrumentation scope.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMetric {
    /// The metric's name (never empty: the receiver refuses that).
    pub name: String,
    /// Its description, `""` if none.
    pub description: String,
    /// Its unit (UCUM, e.g. `s`, `By`, `{request}`), `""` if none.
    pub unit: String,
    /// Which kind of data it holds: `gauge`, `sum`, `histogram`,
    /// `exponential_histogram` or `summary`.
    pub kind: String,
    /// The `AggregationTemporality` enum's name for a sum or a histogram:
    /// `AGGREGATION_TEMPORALITY_CUMULATIVE` or `AGGREGATION_TEMPORALITY_DELTA`
    /// (the receiver refuses `…_UNSPECIFIED`); `""` for a gauge or a summary.
    pub temporality: String,
    /// Whether it is a monotonic sum (a counter); `false` for every other kind.
    pub monotonic: bool,
    /// The resource's attributes, in [`ReceivedSpan::attributes`]' form.
    pub resource: BTreeMap<String, serde_json::Value>,
    /// The instrumentation scope's name.
    pub scope_name: String,
    /// The instrumentation scope's version.
    pub scope_version: String,
    /// Its data points.
    pub points: Vec<MetricPoint>,
}

impl ReceivedMetric {
    /// The string resource attribute `key` (e.g. `service.name`), if there is one.
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        self.resource.get(key)?.as_str()
    }

    /// The first data point for which `matches` holds, if any.
    pub fn point(&self, matches: impl Fn(&MetricPoint) -> bool) -> Option<&MetricPoint> {
        self.points.iter().find(|p| matches(p))
    }
}

/// A data point of a [`ReceivedMetric`], of any kind: the fields a kind does
/// not have are empty (`null`, 0, `[]`).
#[derive(Debug, Clone, Deserialize)]
pub struct MetricPoint {
    /// The point's attributes, in [`ReceivedSpan::attributes`]' form.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Start of the aggregation interval, nanoseconds since the Unix epoch (0
    /// if unset, as for most gauges).
    pub start_time_unix_nano: u64,
    /// When it was recorded, nanoseconds since the Unix epoch (never 0: the
    /// receiver refuses that).
    pub time_unix_nano: u64,
    /// A gauge's or sum's value: a JSON integer for `as_int`, a JSON float for
    /// `as_double` (`"NaN"`, `"Infinity"` or `"-Infinity"` as strings);
    /// `null` for the histogram and summary kinds. See
    /// [`MetricPoint::value_i64`] and [`MetricPoint::value_f64`].
    pub value: serde_json::Value,
    /// A histogram's or summary's count; 0 for a gauge or sum.
    pub count: u64,
    /// A histogram's or summary's sum, if it has one.
    #[serde(default, deserialize_with = "float::option")]
    pub sum: Option<f64>,
    /// An (explicit-bucket) histogram's bucket counts, one more than
    /// [`MetricPoint::explicit_bounds`]; empty for the other kinds (the
    /// exponential histogram's buckets are not listed).
    pub bucket_counts: Vec<u64>,
    /// An (explicit-bucket) histogram's bucket bounds, strictly increasing;
    /// empty for the other kinds.
    #[serde(default, deserialize_with = "float::list")]
    pub explicit_bounds: Vec<f64>,
    /// A histogram's minimum, if it has one.
    #[serde(default, deserialize_with = "float::option")]
    pub min: Option<f64>,
    /// A histogram's maximum, if it has one.
    #[serde(default, deserialize_with = "float::option")]
    pub max: Option<f64>,
}

impl MetricPoint {
    /// The string attribute `key`, if there is one.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key)?.as_str()
    }

    /// The integer attribute `key`, if there is one.
    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        self.attributes.get(key)?.as_i64()
    }

    /// A gauge's or sum's value if it is an integer (`as_int`).
    pub fn value_i64(&self) -> Option<i64> {
        self.value.as_i64()
    }

    /// A gauge's or sum's value as a float, whether it is an integer or a
    /// double (`NaN` and the infinities too).
    pub fn value_f64(&self) -> Option<f64> {
        float::from_json(&self.value)
    }
}

/// Doubles as the receiver writes them: JSON numbers, or `"NaN"`,
/// `"Infinity"` and `"-Infinity"` (which JSON has no numbers for).
mod float {
    use serde::{Deserialize, Deserializer};

    pub(super) fn from_json(value: &serde_json::Value) -> Option<f64> {
        match value {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            _ => None,
        }
    }

    fn one<E: serde::de::Error>(value: serde_json::Value) -> Result<f64, E> {
        from_json(&value).ok_or_else(|| E::custom(format!("not a double: {value}")))
    }

    pub(super) fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(None),
            value => one(value).map(Some),
        }
    }

    pub(super) fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<serde_json::Value>::deserialize(d)?
            .into_iter()
            .map(one)
            .collect()
    }
}

impl OtlpReceiver {
    /// Starts a receiver on two free loopback ports (OTLP/HTTP and OTLP/gRPC)
    /// that accepts every valid export.
    pub fn start() -> Result<Self> {
        Self::launch("traces", 0)
    }

    /// Starts a receiver that answers the first `n` trace export requests (in
    /// any protocol) 503 Service Unavailable / gRPC `UNAVAILABLE`, as a
    /// collector under pressure does, and accepts the rest, and every metrics
    /// and logs export. Those are recorded with [`Export::rejected`] set, and
    /// [`OtlpReceiver::spans`] leaves them out.
    pub fn start_failing_first(n: u32) -> Result<Self> {
        Self::launch("traces", n)
    }

    /// Like [`OtlpReceiver::start_failing_first`], for the first `n` exports
    /// of `signal` (`traces`, `metrics` or `logs`) instead; those of the other
    /// signals are all accepted.
    pub fn start_failing_first_of(signal: &str, n: u32) -> Result<Self> {
        ensure!(
            SIGNALS.contains(&signal),
            "no OTLP signal `{signal}`: it is one of {SIGNALS:?}"
        );
        Self::launch(signal, n)
    }

    fn launch(fail_first_signal: &str, fail_first: u32) -> Result<Self> {
        let packages = python_packages()?;
        let dir = tempdir()?;
        let out = dir.path().join("exports.jsonl");
        let log = dir.path().join("otlp_receiver.log");
        // A port free when chosen may be taken by the time the receiver binds
        // it (by another process): then it exits with PORT_TAKEN; try others.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (http_port, grpc_port) = (free_port()?, free_port()?);
            let mut child = Command::new("python3")
                .arg(SCRIPT)
                .args(["--http-port", &http_port.to_string()])
                .args(["--grpc-port", &grpc_port.to_string()])
                .arg("--out")
                .arg(&out)
                .args(["--fail-first", &fail_first.to_string()])
                .args(["--fail-first-signal", fail_first_signal])
                .env("PYTHONPATH", packages)
                .env("PYTHONNOUSERSITE", "1")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(File::create(&log).context("creating the receiver's log")?)
                .spawn()
                .map_err(|err| {
                    anyhow!("could not run `python3` ({err}); the OTLP receiver needs it: {INSTALL_PYTHON}")
                })?;
            let stdin = child.stdin.take().expect("piped stdin");
            let stdout = child.stdout.take().expect("piped stdout");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send(line);
            });
            let line = rx.recv_timeout(START);
            if matches!(&line, Ok(line) if line.trim() == "ready") {
                return Ok(OtlpReceiver {
                    child: Mutex::new(child),
                    _stdin: stdin,
                    http_port,
                    grpc_port,
                    out,
                    log,
                    _dir: dir,
                });
            }
            let _ = child.kill();
            let status = child.wait().context("waiting for otlp_receiver.py")?;
            if status.code() == Some(PORT_TAKEN) && attempts < 5 {
                continue;
            }
            let why = match line {
                Ok(_) => format!("exited with {status} before it listened"),
                Err(_) => format!("did not listen within {START:?}"),
            };
            bail!(
                "the OTLP receiver (python3 {SCRIPT}, PYTHONPATH={}) {why}; its output:\n{}",
                packages.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }

    /// The OTLP/HTTP base URL, `http://127.0.0.1:PORT` (exporters append
    /// `/v1/traces`, `/v1/metrics` and `/v1/logs` to a base endpoint such as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The full OTLP/HTTP traces URL, `http://127.0.0.1:PORT/v1/traces` (what
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` takes, as is).
    pub fn http_traces_url(&self) -> String {
        format!("{}/v1/traces", self.http_endpoint())
    }

    /// The full OTLP/HTTP metrics URL, `http://127.0.0.1:PORT/v1/metrics`
    /// (what `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` takes, as is).
    pub fn http_metrics_url(&self) -> String {
        format!("{}/v1/metrics", self.http_endpoint())
    }

    /// The full OTLP/HTTP logs URL, `http://127.0.0.1:PORT/v1/logs` (what
    /// `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` takes, as is).
    pub fn http_logs_url(&self) -> String {
        format!("{}/v1/logs", self.http_endpoint())
    }

    /// The OTLP/gRPC endpoint, `http://127.0.0.1:PORT` (plaintext).
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Every export request received so far, in the order the receiver
    /// handled them.
    pub fn exports(&self) -> Result<Vec<Export>> {
        let text = match std::fs::read_to_string(&self.out) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(err).context("reading the OTLP receiver's exports"),
        };
        // Only whole lines: the receiver may be writing the next one.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .with_context(|| format!("the OTLP receiver's export line {}: {line}", i + 1))
            })
            .collect()
    }

    /// The spans of every accepted traces export so far (not rejected,
    /// decoded without error), in arrival order.
    pub fn spans(&self) -> Result<Vec<ReceivedSpan>> {
        Ok(accepted_spans(&self.exports()?))
    }

    /// The metrics of every accepted metrics export so far (not rejected,
    /// decoded without error), in arrival order: one per metric per export,
    /// so a metric exported periodically is listed once per export.
    pub fn metrics(&self) -> Result<Vec<ReceivedMetric>> {
        Ok(accepted_metrics(&self.exports()?))
    }

    /// The log records of every accepted logs export so far (not rejected,
    /// decoded without error), in arrival order.
    pub fn logs(&self) -> Result<Vec<ReceivedLog>> {
        Ok(accepted_logs(&self.exports()?))
    }

    /// Polls (every 50 ms) until `done(&spans)` holds for the accepted spans
    /// received so far, and returns them; fails once `timeout` passes, with
    /// the spans received (name, kind, trace/span/parent ids) and every
    /// export the receiver refused, or at once if the receiver died.
    pub fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Result<Vec<ReceivedSpan>> {
        self.wait_until(timeout, "traces", accepted_spans, done)
    }

    /// Polls (every 50 ms) until `done(&metrics)` holds for the accepted
    /// metrics received so far (as [`OtlpReceiver::metrics`] lists them), and
    /// returns them; fails once `timeout` passes, with the metrics received
    /// (name, kind, points) and every export the receiver refused, or at once
    /// if the receiver died.
    pub fn wait_for_metrics(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedMetric]) -> bool,
    ) -> Result<Vec<ReceivedMetric>> {
        self.wait_until(timeout, "metrics", accepted_metrics, done)
    }

    /// Polls (every 50 ms) until `done(&logs)` holds for the accepted log
    /// records received so far, and returns them; fails once `timeout`
    /// passes, with the records received (severity, body, trace/span ids) and
    /// every export the receiver refused, or at once if the receiver died.
    pub fn wait_for_logs(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedLog]) -> bool,
    ) -> Result<Vec<ReceivedLog>> {
        self.wait_until(timeout, "logs", accepted_logs, done)
    }

    fn wait_until<T>(
        &self,
        timeout: Duration,
        signal: &str,
        accepted: fn(&[Export]) -> Vec<T>,
        done: impl Fn(&[T]) -> bool,
    ) -> Result<Vec<T>> {
        let deadline = Instant::now() + timeout;
        loop {
            let exports = self.exports()?;
            let items = accepted(&exports);
            if done(&items) {
                return Ok(items);
            }
            if let Some(status) = self.exited()? {
                bail!(
                    "the OTLP receiver exited ({status}); {}\nits output:\n{}",
                    summary(&exports, signal),
                    self.log()
                );
            }
            if Instant::now() >= deadline {
                let what = match signal {
                    "traces" => "spans",
                    "metrics" => "metrics",
                    _ => "log records",
                };
                bail!(
                    "the expected {what} did not reach the OTLP receiver within {timeout:?}; {}",
                    summary(&exports, signal)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the receiver has written to stderr (its HTTP access log and any
    /// Python error).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&self) -> Result<Option<std::process::ExitStatus>> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        child.try_wait().context("checking the OTLP receiver")
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The accepted (not rejected, decoded without error) exports of `signal`.
fn accepted<'a>(exports: &'a [Export], signal: &'a str) -> impl Iterator<Item = &'a Export> {
    exports
        .iter()
        .filter(move |e| e.signal == signal && !e.rejected && e.error.is_none())
}

fn accepted_spans(exports: &[Export]) -> Vec<ReceivedSpan> {
    accepted(exports, "traces")
        .flat_map(|e| e.spans.iter().cloned())
        .collect()
}

fn accepted_metrics(exports: &[Export]) -> Vec<ReceivedMetric> {
    accepted(exports, "metrics")
        .flat_map(|e| e.metrics.iter().cloned())
        .collect()
}

fn accepted_logs(exports: &[Export]) -> Vec<ReceivedLog> {
    accepted(exports, "logs")
        .flat_map(|e| e.logs.iter().cloned())
        .collect()
}

/// What the receiver got, for an error message: how many exports of each
/// signal, the accepted items of `signal` (`traces`, `metrics` or `logs`)
/// and every refused export.
fn summary(exports: &[Export], signal: &str) -> String {
    let rejected = exports.iter().filter(|e| e.rejected).count();
    let refused: Vec<_> = exports.iter().filter(|e| e.error.is_some()).collect();
    let of = |signal: &str| exports.iter().filter(|e| e.signal == signal).count();
    let elsewhere = exports.len() - SIGNALS.iter().map(|s| of(s)).sum::<usize>();
    let mut s = format!(
        "it received {} export request(s) ({} traces, {} metrics, {} logs, {elsewhere} at another path; \
         {rejected} rejected by --fail-first, {} undecodable)",
        exports.len(),
        of("traces"),
        of("metrics"),
        of("logs"),
        refused.len(),
    );
    match signal {
        "traces" => {
            let spans = accepted_spans(exports);
            let _ = write!(s, " with {} accepted span(s)", spans.len());
            for span in &spans {
                let _ = write!(
                    s,
                    "\n  {:?} {} trace={} span={} parent={}",
                    span.name,
                    span.kind,
                    span.trace_id,
                    span.span_id,
                    or_dash(&span.parent_span_id)
                );
            }
        }
        "metrics" => {
            let metrics = accepted_metrics(exports);
            let _ = write!(s, " with {} accepted metric(s)", metrics.len());
            for metric in &metrics {
                let _ = write!(
                    s,
                    "\n  {:?} {}{} {} point(s):",
                    metric.name,
                    metric.kind,
                    match metric.temporality.strip_prefix("AGGREGATION_TEMPORALITY_") {
                        Some(t) => format!(" {t}"),
                        None => String::new(),
                    },
                    metric.points.len()
                );
                for point in &metric.points {
                    let value = match &point.value {
                        serde_json::Value::Null => format!("count={}", point.count),
                        value => value.to_string(),
                    };
                    let _ = write!(
                        s,
                        " {value} {}",
                        serde_json::to_string(&point.attributes).unwrap_or_default()
                    );
                }
            }
        }
        _ => {
            let logs = accepted_logs(exports);
            let _ = write!(s, " with {} accepted log record(s)", logs.len());
            for log in &logs {
                let _ = write!(
                    s,
                    "\n  severity={} {:?} body={} trace={} span={}",
                    log.severity_number,
                    log.severity_text,
                    log.body,
                    or_dash(&log.trace_id),
                    or_dash(&log.span_id)
                );
                if !log.event_name.is_empty() {
                    let _ = write!(s, " event={:?}", log.event_name);
                }
            }
        }
    }
    for export in refused {
        let _ = write!(
            s,
            "\n  refused {} {} ({}): {}",
            export.protocol,
            export.path,
            export.content_type,
            export.error.as_deref().unwrap_or_default()
        );
    }
    s
}

fn or_dash(id: &str) -> &str {
    if id.is_empty() { "-" } else { id }
}

/// The directory holding the receiver's Python packages:
/// `$SKIFF_TEST_OTLP_PYTHONPATH`, else installed once (pip) under
/// `<target>/tools/python-otlp`, with a file lock so parallel tests and test
/// binaries don't race.
pub fn python_packages() -> Result<&'static Path> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| find_or_install_python_packages().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(|e| anyhow!("the OTLP receiver's Python packages are missing: {e}"))
}

fn requirements() -> String {
    PYTHON_PACKAGES.join(" ")
}

fn installed(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(STAMP))
        .ok()
        .map(|s| s.trim().to_string())
}

fn find_or_install_python_packages() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SKIFF_TEST_OTLP_PYTHONPATH") {
        let dir = PathBuf::from(dir);
        ensure!(
            dir.is_dir(),
            "SKIFF_TEST_OTLP_PYTHONPATH names `{}`, which is not a directory (`.ci/run` installs \
             the packages there; or unset it to have them installed under the target directory)",
            dir.display()
        );
        if let Some(have) = installed(&dir) {
            ensure!(
                have == requirements(),
                "SKIFF_TEST_OTLP_PYTHONPATH (`{}`) holds `{have}`, but the OTLP receiver pins `{}`; \
                 run `.ci/run` again, or unset it",
                dir.display(),
                requirements()
            );
        }
        return Ok(dir);
    }
    let tools = tools_dir();
    let dir = tools.join("python-otlp");
    if installed(&dir).as_deref() == Some(&requirements()) {
        return Ok(dir);
    }
    std::fs::create_dir_all(&tools)
        .with_context(|| format!("could not create {}", tools.display()))?;
    let lock = File::create(tools.join(".python-otlp-install.lock"))?;
    lock.lock()
        .context("could not lock the OTLP receiver's package install")?;
    if installed(&dir).as_deref() == Some(&requirements()) {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("could not remove the stale {}", dir.display()))?;
    }
    eprintln!(
        "installing {} into {} for the OTLP receiver (once)",
        requirements(),
        dir.display()
    );
    let out = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--target"])
        .arg(&dir)
        .args(PYTHON_PACKAGES)
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .env("PIP_NO_INPUT", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| {
            anyhow!("could not run `python3` ({err}); the OTLP receiver needs it: {INSTALL_PYTHON}")
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "`python3 -m pip install --target {} {}` failed ({}){}:\n{stderr}",
        dir.display(),
        requirements(),
        out.status,
        if stderr.contains("No module named pip") {
            format!("; pip is missing: {INSTALL_PYTHON}")
        } else {
            "; set SKIFF_TEST_OTLP_PYTHONPATH to a directory holding those packages".to_string()
        }
    );
    std::fs::write(dir.join(STAMP), format!("{}\n", requirements()))?;
    Ok(dir)
}

/// `<target>/tools`: cargo's target directory is the parent of
/// `CARGO_TARGET_TMPDIR`, which cargo sets only while compiling integration
/// tests (not for this library, nor at run time), so it is found from the
/// test binary, `<target>/<profile>/deps/NAME`; else a directory under the
/// system's temporary directory.
fn tools_dir() -> PathBuf {
    if let Some(tmp) = std::env::var_os("CARGO_TARGET_TMPDIR")
        && let Some(target) = Path::new(&tmp).parent()
    {
        return target.join("tools");
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
        && deps.file_name().is_some_and(|name| name == "deps")
        && let Some(target) = deps.parent().and_then(Path::parent)
    {
        return target.join("tools");
    }
    std::env::temp_dir().join("skiff-test-tools")
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use serde_json::json;

    use super::*;

    const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
    const SPAN_ID: &str = "eee19b7ec3c1b174";
    const PARENT_ID: &str = "eee19b7ec3c1b173";
    const WAIT: Duration = Duration::from_secs(20);

    /// Builds an ExportTraceServiceRequest with one span with the generated
    /// classes and sends it: `http URL NAME [gzip]` or `grpc HOST:PORT NAME`.
    /// Prints the HTTP status or the gRPC status code's name.
    const SEND: &str = r#"
import gzip, sys, urllib.error, urllib.request
import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts, trace_service_pb2_grpc as tsg
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

mode, target, name = sys.argv[1:4]
req = ts.ExportTraceServiceRequest()
rs = req.resource_spans.add()
rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="otlp-test"))
ss = rs.scope_spans.add(scope=InstrumentationScope(name="skiff-test", version="1.2.3"))
span = ss.spans.add(
    trace_id=bytes.fromhex(TRACE_ID), span_id=bytes.fromhex(SPAN_ID), parent_span_id=bytes.fromhex(PARENT_ID),
    name=name, kind=trace_pb2.Span.SPAN_KIND_SERVER, flags=0x301,
    start_time_unix_nano=1700000000000000000, end_time_unix_nano=1700000000250000000,
)
span.attributes.add(key="http.request.method", value=AnyValue(string_value="GET"))
span.attributes.add(key="http.response.status_code", value=AnyValue(int_value=200))
span.attributes.add(key="ok", value=AnyValue(bool_value=True))
span.attributes.add(key="list", value=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="two")])))
span.status.code = trace_pb2.Status.STATUS_CODE_OK
span.events.add(name="started", time_unix_nano=1700000000100000000).attributes.add(key="n", value=AnyValue(int_value=7))

if mode == "grpc":
    stub = tsg.TraceServiceStub(grpc.insecure_channel(target))
    try:
        stub.Export(req, metadata=[("x-test", "grpc")], timeout=20, compression=grpc.Compression.Gzip)
        print("OK")
    except grpc.RpcError as err:
        print(err.code().name)
else:
    body = req.SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", "X-Test": mode}
    if sys.argv[4:] == ["gzip"]:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    try:
        print(urllib.request.urlopen(urllib.request.Request(target, data=body, headers=headers), timeout=20).status)
    except urllib.error.HTTPError as err:
        print(err.code)
"#;

    /// Builds an ExportLogsServiceRequest (one record, its body NAME) or an
    /// ExportMetricsServiceRequest (a counter NAME and a histogram
    /// NAME.duration) with the generated classes and sends it:
    /// `http URL logs|metrics NAME [gzip]` or `grpc HOST:PORT logs|metrics NAME`.
    /// Prints the HTTP status or the gRPC status code's name.
    const SEND_SIGNAL: &str = r#"
import gzip, sys, urllib.error, urllib.request
import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as ls, logs_service_pb2_grpc as lsg
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms, metrics_service_pb2_grpc as msg
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.metrics.v1 import metrics_pb2

mode, target, signal, name = sys.argv[1:5]
service = AnyValue(string_value="otlp-test")
scope = InstrumentationScope(name="skiff-test", version="1.2.3")
if signal == "logs":
    req = ls.ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name", value=service)
    record = rl.scope_logs.add(scope=scope).log_records.add(
        time_unix_nano=1700000000000000000, observed_time_unix_nano=1700000000000000001,
        severity_number=13, severity_text="WARN", body=AnyValue(string_value=name),
        trace_id=bytes.fromhex(TRACE_ID), span_id=bytes.fromhex(SPAN_ID), flags=1, event_name="skiff.test",
    )
    record.attributes.add(key="n", value=AnyValue(int_value=7))
    stub = lsg.LogsServiceStub
else:
    req = ms.ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name", value=service)
    sm = rm.scope_metrics.add(scope=scope)
    counter = sm.metrics.add(name=name, description="requests", unit="{request}")
    counter.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    counter.sum.is_monotonic = True
    counter.sum.data_points.add(
        start_time_unix_nano=1700000000000000000, time_unix_nano=1700000010000000000, as_int=3,
    ).attributes.add(key="http.route", value=AnyValue(string_value="/hello"))
    hist = sm.metrics.add(name=name + ".duration", unit="s")
    hist.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    hist.histogram.data_points.add(
        start_time_unix_nano=1700000000000000000, time_unix_nano=1700000010000000000,
        count=3, sum=0.75, bucket_counts=[1, 2, 0], explicit_bounds=[0.1, 1.0], min=0.05, max=0.5,
    )
    stub = msg.MetricsServiceStub

if mode == "grpc":
    try:
        stub(grpc.insecure_channel(target)).Export(req, metadata=[("x-test", "grpc")], timeout=20)
        print("OK")
    except grpc.RpcError as err:
        print(err.code().name)
else:
    body = req.SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", "X-Test": mode}
    if sys.argv[5:] == ["gzip"]:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    try:
        print(urllib.request.urlopen(urllib.request.Request(target, data=body, headers=headers), timeout=20).status)
    except urllib.error.HTTPError as err:
        print(err.code)
"#;

    /// Runs [`SEND`]; returns what it printed.
    fn send(args: &[&str]) -> Result<String> {
        run_python(SEND, args)
    }

    /// Runs [`SEND_SIGNAL`]; returns what it printed.
    fn send_signal(args: &[&str]) -> Result<String> {
        run_python(SEND_SIGNAL, args)
    }

    fn run_python(script: &str, args: &[&str]) -> Result<String> {
        let script = script
            .replace("TRACE_ID", &format!("{TRACE_ID:?}"))
            .replace("SPAN_ID", &format!("{SPAN_ID:?}"))
            .replace("PARENT_ID", &format!("{PARENT_ID:?}"));
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .env("PYTHONPATH", python_packages()?)
            .stdin(Stdio::null())
            .output()?;
        ensure!(
            out.status.success(),
            "the sender failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    }

    fn grpc_target(otlp: &OtlpReceiver) -> String {
        otlp.grpc_endpoint()
            .trim_start_matches("http://")
            .to_string()
    }

    /// POSTs `body` over a plain HTTP/1.1 connection; returns the status and
    /// the response body.
    fn post(url: &str, content_type: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        let rest = url.strip_prefix("http://").context("not http://")?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let mut conn = TcpStream::connect(host)?;
        write!(
            conn,
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nX-Test: raw\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        conn.write_all(body)?;
        let mut response = Vec::new();
        conn.read_to_end(&mut response)?;
        let head_end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("no end of headers")?;
        let head = String::from_utf8_lossy(&response[..head_end]).to_string();
        let status = head
            .split(' ')
            .nth(1)
            .context("no status")?
            .parse()
            .context("bad status")?;
        Ok((status, response[head_end + 4..].to_vec()))
    }

    fn check_sent_span(span: &ReceivedSpan, name: &str) {
        assert_eq!(span.name, name);
        assert_eq!(span.trace_id, TRACE_ID);
        assert_eq!(span.span_id, SPAN_ID);
        assert_eq!(span.parent_span_id, PARENT_ID);
        assert!(!span.is_root());
        assert_eq!(span.kind, "SPAN_KIND_SERVER");
        assert_eq!(span.status_code, "STATUS_CODE_OK");
        assert_eq!(span.flags, 0x301);
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_700_000_000_250_000_000);
        assert_eq!(span.attr_str("http.request.method"), Some("GET"));
        assert_eq!(span.attr_i64("http.response.status_code"), Some(200));
        assert_eq!(span.attr_bool("ok"), Some(true));
        assert_eq!(span.attributes["list"], json!([1, "two"]));
        assert_eq!(span.resource_str("service.name"), Some("otlp-test"));
        assert_eq!(
            (&*span.scope_name, &*span.scope_version),
            ("skiff-test", "1.2.3")
        );
        assert_eq!(span.events.len(), 1);
        assert_eq!(span.events[0].name, "started");
        assert_eq!(span.events[0].time_unix_nano, 1_700_000_000_100_000_000);
        assert_eq!(span.events[0].attributes["n"], json!(7));
    }

    #[test]
    fn otlp_http_protobuf() -> Result<()> {
        let otlp = OtlpReceiver::start()?;
        assert_eq!(
            send(&["plain", &otlp.http_traces_url(), "GET /plain"])?,
            "200"
        );
        assert_eq!(
            send(&["gzip", &otlp.http_traces_url(), "GET /gzip", "gzip"])?,
            "200"
        );
        let spans = otlp.wait_for(WAIT, |spans| spans.len() == 2)?;
        check_sent_span(&spans[0], "GET /plain");
        check_sent_span(&spans[1], "GET /gzip");

        let exports = otlp.exports()?;
        assert_eq!(exports.len(), 2);
        for (export, encoding) in exports.iter().zip(["", "gzip"]) {
            assert_eq!(export.protocol, "http/protobuf");
            assert_eq!(export.path, "/v1/traces");
            assert_eq!(export.content_type, "application/x-protobuf");
            assert_eq!(export.content_encoding, encoding);
            assert!(!export.rejected);
            assert_eq!(export.error, None);
        }
        assert_eq!(exports[1].headers["x-test"], "gzip");

        // A timeout lists what did arrive.
        let err = otlp
            .wait_for(Duration::from_millis(200), |spans| spans.len() > 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"GET /gzip\" SPAN_KIND_SERVER"), "{err}");
        assert!(
            err.contains(&format!(
                "trace={TRACE_ID} span={SPAN_ID} parent={PARENT_ID}"
            )),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn otlp_grpc() -> Result<()> {
        let otlp = OtlpReceiver::start()?;
        assert_eq!(send(&["grpc", &grpc_target(&otlp), "GET /grpc"])?, "OK");
        let spans = otlp.wait_for(WAIT, |spans| !spans.is_empty())?;
        assert_eq!(spans.len(), 1);
        check_sent_span(&spans[0], "GET /grpc");
        let export = &otlp.exports()?[0];
        assert_eq!(export.protocol, "grpc");
        assert_eq!(
            export.path,
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        );
        assert_eq!(export.headers["x-test"], "grpc");
        Ok(())
    }

    /// OTLP/JSON as the spec has it: lowerCamelCase names, hex ids, enums as
    /// integers, 64-bit integers as strings or numbers.
    fn json_export() -> serde_json::Value {
        json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-test"}}]},
            "scopeSpans": [{
                "scope": {"name": "skiff", "version": "0.1.0"},
                "spans": [{
                    "traceId": TRACE_ID.to_uppercase(),
                    "spanId": SPAN_ID,
                    "name": "POST /json",
                    "kind": 3,
                    "startTimeUnixNano": "1700000000000000000",
                    "endTimeUnixNano": 1_700_000_000_500_000_000u64,
                    "attributes": [
                        {"key": "count", "value": {"intValue": "42"}},
                        {"key": "ratio", "value": {"doubleValue": 0.5}},
                        {"key": "raw", "value": {"bytesValue": "AQL/"}},
                        {"key": "map", "value": {"kvlistValue": {"values": [
                            {"key": "a", "value": {"boolValue": false}}
                        ]}}}
                    ],
                    "status": {"code": 2, "message": "boom"},
                    "events": [{"name": "exception", "timeUnixNano": "1700000000400000000",
                                "attributes": [{"key": "exception.message", "value": {"stringValue": "boom"}}]}]
                }]
            }]
        }]})
    }

    #[test]
    fn otlp_http_json() -> Result<()> {
        let otlp = OtlpReceiver::start()?;
        let url = otlp.http_traces_url();
        let (status, body) = post(
            &url,
            "application/json",
            json_export().to_string().as_bytes(),
        )?;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body)?,
            json!({})
        );

        // Snake_case names, enum names and base64 ids are not OTLP/JSON.
        let wrong = json_export()
            .to_string()
            .replace("\"spanId\"", "\"span_id\"");
        let (status, _) = post(&url, "application/json", wrong.as_bytes())?;
        assert_eq!(status, 400);
        let wrong = json_export()
            .to_string()
            .replace("\"kind\":3", "\"kind\":\"SPAN_KIND_CLIENT\"");
        let (status, _) = post(&url, "application/json", wrong.as_bytes())?;
        assert_eq!(status, 400);
        let wrong = json_export().to_string().replace(SPAN_ID, "7uGbfsPBsXQ=");
        let (status, _) = post(&url, "application/json", wrong.as_bytes())?;
        assert_eq!(status, 400);

        let spans = otlp.spans()?;
        assert_eq!(spans.len(), 1, "{spans:?}");
        let span = &spans[0];
        assert_eq!(span.name, "POST /json");
        assert_eq!(span.trace_id, TRACE_ID);
        assert_eq!(span.span_id, SPAN_ID);
        assert!(span.is_root());
        assert_eq!(span.kind, "SPAN_KIND_CLIENT");
        assert_eq!(span.status_code, "STATUS_CODE_ERROR");
        assert_eq!(span.status_message, "boom");
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_700_000_000_500_000_000);
        assert_eq!(span.attr_i64("count"), Some(42));
        assert_eq!(span.attributes["ratio"], json!(0.5));
        assert_eq!(span.attributes["raw"], json!("0102ff"));
        assert_eq!(span.attributes["map"], json!({"a": false}));
        assert_eq!(span.resource_str("service.name"), Some("json-test"));
        assert_eq!(
            span.events[0].attributes["exception.message"],
            json!("boom")
        );

        let exports = otlp.exports()?;
        assert_eq!(exports.len(), 4);
        assert!(exports.iter().all(|e| e.protocol == "http/json"));
        let errors: Vec<_> = exports.iter().filter_map(|e| e.error.as_deref()).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].contains("`span_id` must be `spanId`"),
            "{errors:?}"
        );
        assert!(errors[1].contains("enums are integers"), "{errors:?}");
        assert!(errors[2].contains("hex"), "{errors:?}");
        Ok(())
    }

    #[test]
    fn otlp_garbage_is_refused_and_recorded() -> Result<()> {
        let otlp = OtlpReceiver::start()?;
        let (status, _) = post(
            &otlp.http_traces_url(),
            "application/x-protobuf",
            b"this is not protobuf",
        )?;
        assert_eq!(status, 400);
        // Bytes that parse as protobuf, but as a field OTLP does not have.
        let (status, _) = post(
            &otlp.http_metrics_url(),
            "application/x-protobuf",
            &[0x0a, 0x03, 0xfa, 0x01, 0x00],
        )?;
        assert_eq!(status, 400);
        let (status, _) = post(&otlp.http_logs_url(), "application/json", b"{")?;
        assert_eq!(status, 400);
        // A path that is no signal's: 404, recorded with the path.
        let (status, _) = post(
            &format!("{}/elsewhere", otlp.http_endpoint()),
            "application/x-protobuf",
            b"",
        )?;
        assert_eq!(status, 404);

        let exports = otlp.exports()?;
        assert_eq!(exports.len(), 4);
        assert!(exports.iter().all(|e| e.error.is_some()
            && e.spans.is_empty()
            && e.metrics.is_empty()
            && e.logs.is_empty()));
        let signals: Vec<_> = exports.iter().map(|e| e.signal.as_str()).collect();
        assert_eq!(signals, ["traces", "metrics", "logs", ""]);
        assert!(
            exports[1]
                .error
                .as_deref()
                .unwrap()
                .contains("unknown fields"),
            "{exports:?}"
        );
        assert_eq!(exports[3].path, "/elsewhere");
        assert!(
            exports[3]
                .error
                .as_deref()
                .unwrap()
                .contains("'/elsewhere'"),
            "{exports:?}"
        );
        assert_eq!(exports[0].headers["x-test"], "raw");
        assert!(otlp.spans()?.is_empty());
        assert!(otlp.metrics()?.is_empty());
        assert!(otlp.logs()?.is_empty());
        let err = otlp
            .wait_for(Duration::from_millis(100), |spans| !spans.is_empty())
            .unwrap_err()
            .to_string();
        assert!(err.contains("4 undecodable"), "{err}");
        assert!(err.contains("1 at another path"), "{err}");
        assert!(err.contains("refused http/protobuf /v1/traces"), "{err}");
        assert!(err.contains("refused http/protobuf /elsewhere"), "{err}");
        Ok(())
    }

    #[test]
    fn otlp_failing_first() -> Result<()> {
        let otlp = OtlpReceiver::start_failing_first(2)?;
        // Only trace exports count: metrics and logs arrive interleaved.
        assert_eq!(
            send_signal(&["http", &otlp.http_metrics_url(), "metrics", "m"])?,
            "200"
        );
        assert_eq!(send(&["first", &otlp.http_traces_url(), "GET /1"])?, "503");
        assert_eq!(
            send(&["grpc", &grpc_target(&otlp), "GET /2"])?,
            "UNAVAILABLE"
        );
        assert_eq!(send(&["third", &otlp.http_traces_url(), "GET /3"])?, "200");
        let spans = otlp.wait_for(WAIT, |spans| !spans.is_empty())?;
        assert_eq!(spans.len(), 1);
        check_sent_span(&spans[0], "GET /3");
        let mut exports = otlp.exports()?;
        assert_eq!(exports.remove(0).signal, "metrics");
        let rejected: Vec<_> = exports.iter().map(|e| e.rejected).collect();
        assert_eq!(rejected, [true, true, false]);
        // A rejected export's spans are still decoded, to compare a retry with.
        assert_eq!(exports[0].spans[0].name, "GET /1");
        assert_eq!(exports[1].protocol, "grpc");
        Ok(())
    }

    #[test]
    fn otlp_failing_first_of_another_signal() -> Result<()> {
        assert!(OtlpReceiver::start_failing_first_of("spans", 1).is_err());
        let otlp = OtlpReceiver::start_failing_first_of("logs", 1)?;
        assert_eq!(send(&["first", &otlp.http_traces_url(), "GET /1"])?, "200");
        assert_eq!(
            send_signal(&["grpc", &grpc_target(&otlp), "logs", "first"])?,
            "UNAVAILABLE"
        );
        assert_eq!(
            send_signal(&["http", &otlp.http_logs_url(), "logs", "second"])?,
            "200"
        );
        let logs = otlp.wait_for_logs(WAIT, |logs| !logs.is_empty())?;
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].body_str(), Some("second"));
        let rejected: Vec<_> = otlp.exports()?.iter().map(|e| e.rejected).collect();
        assert_eq!(rejected, [false, true, false]);
        assert_eq!(otlp.spans()?.len(), 1);
        Ok(())
    }

    fn check_sent_log(log: &ReceivedLog, body: &str) {
        assert_eq!(log.body_str(), Some(body));
        assert_eq!(log.time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(log.observed_time_unix_nano, 1_700_000_000_000_000_001);
        assert_eq!(log.severity_number, 13);
        assert_eq!(log.severity_text, "WARN");
        assert_eq!(log.trace_id, TRACE_ID);
        assert_eq!(log.span_id, SPAN_ID);
        assert_eq!(log.flags, 1);
        assert_eq!(log.event_name, "skiff.test");
        assert_eq!(log.attr_i64("n"), Some(7));
        assert_eq!(log.resource_str("service.name"), Some("otlp-test"));
        assert_eq!(
            (&*log.scope_name, &*log.scope_version),
            ("skiff-test", "1.2.3")
        );
    }

    fn check_sent_metrics(metrics: &[ReceivedMetric], name: &str) {
        assert_eq!(metrics.len(), 2, "{metrics:?}");
        let counter = &metrics[0];
        assert_eq!(counter.name, name);
        assert_eq!(counter.description, "requests");
        assert_eq!(counter.unit, "{request}");
        assert_eq!(counter.kind, "sum");
        assert_eq!(counter.temporality, "AGGREGATION_TEMPORALITY_CUMULATIVE");
        assert!(counter.monotonic);
        assert_eq!(counter.resource_str("service.name"), Some("otlp-test"));
        assert_eq!(counter.scope_name, "skiff-test");
        let point = counter
            .point(|p| p.attr_str("http.route") == Some("/hello"))
            .expect("the /hello point");
        assert_eq!(point.value_i64(), Some(3));
        assert_eq!(point.value_f64(), Some(3.0));
        assert_eq!(point.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(point.time_unix_nano, 1_700_000_010_000_000_000);
        assert_eq!((point.count, point.sum, point.min), (0, None, None));

        let hist = &metrics[1];
        assert_eq!(hist.name, format!("{name}.duration"));
        assert_eq!(hist.kind, "histogram");
        assert_eq!(hist.temporality, "AGGREGATION_TEMPORALITY_DELTA");
        assert!(!hist.monotonic);
        let point = &hist.points[0];
        assert_eq!(point.value, serde_json::Value::Null);
        assert_eq!(point.count, 3);
        assert_eq!(point.sum, Some(0.75));
        assert_eq!(point.bucket_counts, [1, 2, 0]);
        assert_eq!(point.explicit_bounds, [0.1, 1.0]);
        assert_eq!((point.min, point.max), (Some(0.05), Some(0.5)));
    }

    #[test]
    fn otlp_logs_and_metrics_protobuf_and_grpc() -> Result<()> {
        let otlp = OtlpReceiver::start()?;
        let grpc = grpc_target(&otlp);
        for (args, status) in [
            (vec!["http", &*otlp.http_logs_url(), "logs", "plain"], "200"),
            (
                vec!["http", &*otlp.http_logs_url(), "logs", "gzip", "gzip"],
                "200",
            ),
            (vec!["grpc", &*grpc, "logs", "grpc"], "OK"),
            (
                vec!["http", &*otlp.http_metrics_url(), "metrics", "plain"],
                "200",
            ),
            (vec!["grpc", &*grpc, "metrics", "grpc"], "OK"),
        ] {
            assert_eq!(send_signal(&args)?, status, "{args:?}");
        }
        let logs = otlp.wait_for_logs(WAIT, |logs| logs.len() == 3)?;
        for (log, body) in logs.iter().zip(["plain", "gzip", "grpc"]) {
            check_sent_log(log, body);
        }
        let metrics = otlp.wait_for_metrics(WAIT, |metrics| metrics.len() == 4)?;
        check_sent_metrics(&metrics[..2], "plain");
        check_sent_metrics(&metrics[2..], "grpc");
        assert!(otlp.spans()?.is_empty());

        let exports = otlp.exports()?;
        let seen: Vec<_> = exports
            .iter()
            .map(|e| (&*e.signal, &*e.protocol, &*e.path, &*e.content_encoding))
            .collect();
        assert_eq!(
            seen,
            [
                ("logs", "http/protobuf", "/v1/logs", ""),
                ("logs", "http/protobuf", "/v1/logs", "gzip"),
                (
                    "logs",
                    "grpc",
                    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                    ""
                ),
                ("metrics", "http/protobuf", "/v1/metrics", ""),
                (
                    "metrics",
                    "grpc",
                    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                    ""
                ),
            ]
        );
        assert!(
            exports
                .iter()
                .all(|e| e.error.is_none() && e.spans.is_empty())
        );
        assert_eq!(exports[2].headers["x-test"], "grpc");

        // A timeout lists what did arrive.
        let err = otlp
            .wait_for_logs(Duration::from_millis(100), |logs| logs.len() > 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 logs"), "{err}");
        assert!(
            err.contains(&format!(
                "severity=13 \"WARN\" body=\"grpc\" trace={TRACE_ID} span={SPAN_ID} event=\"skiff.test\""
            )),
            "{err}"
        );
        let err = otlp
            .wait_for_metrics(Duration::from_millis(100), |metrics| metrics.len() > 4)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#""grpc" sum CUMULATIVE 1 point(s): 3 {"http.route":"/hello"}"#),
            "{err}"
        );
        assert!(
            err.contains(r#""grpc.duration" histogram DELTA 1 point(s): count=3 {}"#),
            "{err}"
        );
        Ok(())
    }

    /// OTLP/JSON metrics: a monotonic delta sum (an int64 as a string, an
    /// exemplar with hex ids) and a cumulative histogram.
    fn metrics_json() -> serde_json::Value {
        json!({"resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-test"}}]},
            "scopeMetrics": [{
                "scope": {"name": "skiff", "version": "0.1.0"},
                "metrics": [
                    {"name": "hits", "unit": "1", "sum": {
                        "aggregationTemporality": 1,
                        "isMonotonic": true,
                        "dataPoints": [{
                            "attributes": [{"key": "route", "value": {"stringValue": "/a"}}],
                            "startTimeUnixNano": "1700000000000000000",
                            "timeUnixNano": "1700000001000000000",
                            "asInt": "9007199254740993",
                            "exemplars": [{"timeUnixNano": "1700000000500000000", "asInt": "1",
                                           "traceId": TRACE_ID, "spanId": SPAN_ID}]
                        }]
                    }},
                    {"name": "latency", "unit": "s", "histogram": {
                        "aggregationTemporality": 2,
                        "dataPoints": [{
                            "timeUnixNano": 1_700_000_001_000_000_000u64,
                            "count": "4",
                            "sum": 1.5,
                            "bucketCounts": ["1", 3],
                            "explicitBounds": [0.25],
                            "max": 0.75
                        }]
                    }},
                    {"name": "temperature", "gauge": {"dataPoints": [
                        {"timeUnixNano": "1700000001000000000", "asDouble": 21.5}
                    ]}}
                ]
            }]
        }]})
    }

    /// OTLP/JSON logs: hex ids, a structured body, an event name.
    fn logs_json() -> serde_json::Value {
        json!({"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-test"}}]},
            "scopeLogs": [{
                "scope": {"name": "skiff"},
                "logRecords": [{
                    "observedTimeUnixNano": "1700000000000000000",
                    "severityNumber": 17,
                    "severityText": "ERROR",
                    "body": {"kvlistValue": {"values": [{"key": "msg", "value": {"stringValue": "boom"}}]}},
                    "attributes": [{"key": "count", "value": {"intValue": "42"}}],
                    "traceId": TRACE_ID.to_uppercase(),
                    "spanId": SPAN_ID,
                    "eventName": "skiff.failure"
                }]
            }]
        }]})
    }

    #[test]
    fn otlp_metrics_and_logs_json_and_malformed() -> Result<()> {
        let otlp = OtlpReceiver::start()?;
        let (metrics_url, logs_url) = (otlp.http_metrics_url(), otlp.http_logs_url());
        let (status, body) = post(
            &metrics_url,
            "application/json",
            metrics_json().to_string().as_bytes(),
        )?;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body)?,
            json!({})
        );
        let (status, body) = post(
            &logs_url,
            "application/json",
            logs_json().to_string().as_bytes(),
        )?;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

        // What a collector would refuse, each with the reason it gives.
        let mut malformed: Vec<(&str, serde_json::Value, &str)> = Vec::new();
        let mut bad = metrics_json();
        bad["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["sum"]["aggregationTemporality"] =
            json!(0);
        malformed.push((&metrics_url, bad, "aggregation_temporality UNSPECIFIED"));
        let mut bad = metrics_json();
        bad["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][1]["histogram"]["dataPoints"][0]
            ["count"] = json!("5");
        malformed.push((&metrics_url, bad, "add up to 4, but count is 5"));
        let mut bad = metrics_json();
        bad["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][1]["histogram"]["dataPoints"][0]
            ["explicitBounds"] = json!([0.25, 0.5]);
        malformed.push((&metrics_url, bad, "2 bucket_counts for 2 explicit_bounds"));
        let mut bad = metrics_json();
        bad["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][2]["gauge"]["dataPoints"][0]
            .as_object_mut()
            .unwrap()
            .remove("timeUnixNano");
        malformed.push((&metrics_url, bad, "time_unix_nano is 0"));
        let mut bad = metrics_json();
        bad["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][2] = json!({"name": "empty"});
        malformed.push((&metrics_url, bad, "'empty'"));
        let mut bad = logs_json();
        bad["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
            .as_object_mut()
            .unwrap()
            .remove("observedTimeUnixNano");
        malformed.push((
            &logs_url,
            bad,
            "neither time_unix_nano nor observed_time_unix_nano",
        ));
        let mut bad = logs_json();
        bad["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["spanId"] = json!(TRACE_ID);
        malformed.push((&logs_url, bad, "span_id is 16 bytes"));
        let bad: serde_json::Value =
            serde_json::from_str(&logs_json().to_string().replace("traceId", "trace_id"))?;
        malformed.push((&logs_url, bad, "`trace_id` must be `traceId`"));
        for (url, body, _) in &malformed {
            let (status, _) = post(url, "application/json", body.to_string().as_bytes())?;
            assert_eq!(status, 400, "{body}");
        }
        let exports = otlp.exports()?;
        assert_eq!(exports.len(), 2 + malformed.len());
        for (export, (_, _, why)) in exports[2..].iter().zip(&malformed) {
            let error = export.error.as_deref().unwrap_or_default();
            assert!(error.contains(why), "{why}: {error}");
        }

        let metrics = otlp.metrics()?;
        assert_eq!(metrics.len(), 3, "{metrics:?}");
        let hits = &metrics[0];
        assert_eq!(
            (&*hits.kind, &*hits.temporality, hits.monotonic),
            ("sum", "AGGREGATION_TEMPORALITY_DELTA", true)
        );
        let point = hits.point(|p| p.attr_str("route") == Some("/a")).unwrap();
        assert_eq!(point.value_i64(), Some(9_007_199_254_740_993));
        assert_eq!(hits.resource_str("service.name"), Some("json-test"));
        let latency = &metrics[1].points[0];
        assert_eq!(metrics[1].temporality, "AGGREGATION_TEMPORALITY_CUMULATIVE");
        assert_eq!(latency.start_time_unix_nano, 0);
        assert_eq!(latency.time_unix_nano, 1_700_000_001_000_000_000);
        assert_eq!((latency.count, latency.sum), (4, Some(1.5)));
        assert_eq!(latency.bucket_counts, [1, 3]);
        assert_eq!(latency.explicit_bounds, [0.25]);
        assert_eq!((latency.min, latency.max), (None, Some(0.75)));
        let temperature = &metrics[2];
        assert_eq!(
            (&*temperature.kind, &*temperature.temporality),
            ("gauge", "")
        );
        assert_eq!(temperature.points[0].value_f64(), Some(21.5));
        assert_eq!(temperature.points[0].value_i64(), None);

        let logs = otlp.logs()?;
        assert_eq!(logs.len(), 1, "{logs:?}");
        let log = &logs[0];
        assert_eq!(log.body, json!({"msg": "boom"}));
        assert_eq!(log.body_str(), None);
        assert_eq!(
            (log.time_unix_nano, log.observed_time_unix_nano),
            (0, 1_700_000_000_000_000_000)
        );
        assert_eq!((log.severity_number, &*log.severity_text), (17, "ERROR"));
        assert_eq!((&*log.trace_id, &*log.span_id), (TRACE_ID, SPAN_ID));
        assert_eq!(log.event_name, "skiff.failure");
        assert_eq!(log.attr_i64("count"), Some(42));
        assert!(otlp.spans()?.is_empty());

        let err = otlp
            .wait_for_metrics(Duration::from_millis(100), |m| m.len() > 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("with 3 accepted metric(s)"), "{err}");
        assert!(err.contains("8 undecodable"), "{err}");
        assert!(
            err.contains("refused http/json /v1/metrics (application/json): metric 'hits'"),
            "{err}"
        );
        Ok(())
    }
}
