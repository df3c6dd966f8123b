//! A real OTLP trace receiver on free loopback ports, to check the spans
//! Skiff exports: OTLP/HTTP (`application/x-protobuf` and `application/json`,
//! optionally gzip-compressed) and OTLP/gRPC.
//!
//! No OpenTelemetry Collector binary is to be had here, so the receiver is
//! `otlp_receiver.py` (next to this crate's `Cargo.toml`): it decodes every
//! export with the OpenTelemetry project's own generated protobuf classes
//! (PyPI `opentelemetry-proto`, on `protobuf`, and `grpcio` for gRPC), and
//! strictly — unknown protobuf fields, snake_case or unknown OTLP/JSON field
//! names, enums as strings, base64 trace/span ids in JSON, or ids of the wrong
//! length are refused (400 / `INVALID_ARGUMENT`) and recorded as the export's
//! [`Export::error`].
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
//! // which appends /v1/traces) or `otlp.grpc_endpoint()`, make it export, then:
//! let spans = otlp.wait_for(Duration::from_secs(10), |spans| {
//!     spans.iter().any(|s| s.name == "GET /hello")
//! })?;
//! let server = spans.iter().find(|s| s.name == "GET /hello").unwrap();
//! assert_eq!(server.kind, "SPAN_KIND_SERVER");
//! assert_eq!(server.attr_i64("http.response.status_code"), Some(200));
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

/// An OTLP trace receiver started for one test; killed on drop.
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
    /// The HTTP request path (`/v1/traces`), or for gRPC the method
    /// (`/opentelemetry.proto.collector.trace.v1.TraceService/Export`).
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
    /// Whether it was one of the first N that [`OtlpReceiver::start_failing_first`]
    /// answered 503 / `UNAVAILABLE` (its spans are still decoded and listed here).
    pub rejected: bool,
    /// Why it was refused as not a valid OTLP trace export (answered 400 /
    /// `INVALID_ARGUMENT`, or 415 for an unknown content type), if it was.
    pub error: Option<String>,
    /// Its spans, flattened (none if `error`).
    pub spans: Vec<ReceivedSpan>,
}

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

impl ReceivedSpan {
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

    /// The string resource attribute `key` (e.g. `service.name`), if there is one.
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        self.resource.get(key)?.as_str()
    }

    /// Whether it has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_empty()
    }
}

impl OtlpReceiver {
    /// Starts a receiver on two free loopback ports (OTLP/HTTP and OTLP/gRPC)
    /// that accepts every valid export.
    pub fn start() -> Result<Self> {
        Self::launch(0)
    }

    /// Starts a receiver that answers the first `n` export requests (in any
    /// protocol) 503 Service Unavailable / gRPC `UNAVAILABLE`, as a collector
    /// under pressure does, and accepts the rest. Those are recorded with
    /// [`Export::rejected`] set, and [`OtlpReceiver::spans`] leaves them out.
    pub fn start_failing_first(n: u32) -> Result<Self> {
        Self::launch(n)
    }

    fn launch(fail_first: u32) -> Result<Self> {
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
    /// `/v1/traces` to a base endpoint such as `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The full OTLP/HTTP traces URL, `http://127.0.0.1:PORT/v1/traces` (what
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` takes, as is).
    pub fn http_traces_url(&self) -> String {
        format!("{}/v1/traces", self.http_endpoint())
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

    /// The spans of every accepted export so far (not rejected, decoded
    /// without error), in arrival order.
    pub fn spans(&self) -> Result<Vec<ReceivedSpan>> {
        Ok(accepted_spans(&self.exports()?))
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
        let deadline = Instant::now() + timeout;
        loop {
            let exports = self.exports()?;
            let spans = accepted_spans(&exports);
            if done(&spans) {
                return Ok(spans);
            }
            if let Some(status) = self.exited()? {
                bail!(
                    "the OTLP receiver exited ({status}); {}\nits output:\n{}",
                    summary(&exports),
                    self.log()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "the expected spans did not reach the OTLP receiver within {timeout:?}; {}",
                    summary(&exports)
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

fn accepted_spans(exports: &[Export]) -> Vec<ReceivedSpan> {
    exports
        .iter()
        .filter(|e| !e.rejected && e.error.is_none())
        .flat_map(|e| e.spans.iter().cloned())
        .collect()
}

/// What the receiver got, for an error message.
fn summary(exports: &[Export]) -> String {
    let rejected = exports.iter().filter(|e| e.rejected).count();
    let refused: Vec<_> = exports.iter().filter(|e| e.error.is_some()).collect();
    let spans = accepted_spans(exports);
    let mut s = format!(
        "it received {} export request(s) ({rejected} rejected by --fail-first, {} undecodable) \
         with {} accepted span(s)",
        exports.len(),
        refused.len(),
        spans.len()
    );
    for span in &spans {
        let _ = write!(
            s,
            "\n  {:?} {} trace={} span={} parent={}",
            span.name,
            span.kind,
            span.trace_id,
            span.span_id,
            if span.parent_span_id.is_empty() {
                "-"
            } else {
                &span.parent_span_id
            }
        );
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

    /// Runs [`SEND`]; returns what it printed.
    fn send(args: &[&str]) -> Result<String> {
        let script = SEND
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
            &format!("{}/elsewhere", otlp.http_endpoint()),
            "application/x-protobuf",
            &[0x0a, 0x03, 0xfa, 0x01, 0x00],
        )?;
        assert_eq!(status, 400);
        let (status, _) = post(&otlp.http_traces_url(), "application/json", b"{")?;
        assert_eq!(status, 400);

        let exports = otlp.exports()?;
        assert_eq!(exports.len(), 3);
        assert!(
            exports
                .iter()
                .all(|e| e.error.is_some() && e.spans.is_empty())
        );
        assert_eq!(exports[1].path, "/elsewhere");
        assert!(
            exports[1]
                .error
                .as_deref()
                .unwrap()
                .contains("unknown fields"),
            "{exports:?}"
        );
        assert_eq!(exports[0].headers["x-test"], "raw");
        assert!(otlp.spans()?.is_empty());
        let err = otlp
            .wait_for(Duration::from_millis(100), |spans| !spans.is_empty())
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 undecodable"), "{err}");
        assert!(err.contains("refused http/protobuf /v1/traces"), "{err}");
        Ok(())
    }

    #[test]
    fn otlp_failing_first() -> Result<()> {
        let otlp = OtlpReceiver::start_failing_first(2)?;
        assert_eq!(send(&["first", &otlp.http_traces_url(), "GET /1"])?, "503");
        assert_eq!(
            send(&["grpc", &grpc_target(&otlp), "GET /2"])?,
            "UNAVAILABLE"
        );
        assert_eq!(send(&["third", &otlp.http_traces_url(), "GET /3"])?, "200");
        let spans = otlp.wait_for(WAIT, |spans| !spans.is_empty())?;
        assert_eq!(spans.len(), 1);
        check_sent_span(&spans[0], "GET /3");
        let exports = otlp.exports()?;
        let rejected: Vec<_> = exports.iter().map(|e| e.rejected).collect();
        assert_eq!(rejected, [true, true, false]);
        // A rejected export's spans are still decoded, to compare a retry with.
        assert_eq!(exports[0].spans[0].name, "GET /1");
        assert_eq!(exports[1].protocol, "grpc");
        Ok(())
    }
}
