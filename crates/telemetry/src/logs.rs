//! OTLP logs: Skiff's own log events and the guests' output lines as log
//! records, each with the trace and span it was written in, batched and
//! exported by OTLP like spans.
//!
//! Two sources feed them:
//! - [`LogLayer`], a `tracing` layer beside the stderr logger with the same
//!   filter (`SKIFF_LOG`/`RUST_LOG`), so the collector gets what the log
//!   shows: the message as the body, the other fields as attributes (and
//!   `thread.name`), the event's target (the crate) as the instrumentation
//!   scope — except what the exporters' own threads log;
//! - [`guest_output`], called by the host for each line a guest writes to
//!   stdout or stderr, with `skiff.component` and `log.iostream` (the
//!   semantic conventions' stream attribute).
//!
//! A guest's `wasi:logging` messages are log events of target
//! [`GUEST_TARGET`]; [`LogLayer`] gives them the scope `skiff.guest`, as
//! guest output has, the attributes `skiff.component` and
//! `wasi.logging.context`, and severity `FATAL` for `critical`.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

use crate::config::Signal;
use crate::context::{SpanId, TraceId};
use crate::export::{Exporter, Record};
use crate::layer::{Fields, Limits, cut, now_nanos};
use crate::otlp::{self, Attribute, Value, wire};

/// A log record's severity (OTLP's `SeverityNumber`, with its text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    Trace = 1,
    Debug = 5,
    Info = 9,
    Warn = 13,
    Error = 17,
    Fatal = 21,
}

impl Severity {
    fn text(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }

    fn of(level: Level) -> Severity {
        match level {
            Level::TRACE => Severity::Trace,
            Level::DEBUG => Severity::Debug,
            Level::INFO => Severity::Info,
            Level::WARN => Severity::Warn,
            Level::ERROR => Severity::Error,
        }
    }
}

/// A log record, ready to export.
#[derive(Debug, Clone)]
pub(crate) struct LogRecord {
    /// When it was written, in nanoseconds since the Unix epoch.
    pub time: u64,
    pub severity: Severity,
    /// The message (or the guest's line).
    pub body: String,
    pub attributes: Vec<Attribute>,
    /// Attributes over the limit, not kept.
    pub dropped_attributes: u32,
    /// The trace and span it was written in, and whether that trace is sampled.
    pub context: Option<(TraceId, SpanId, bool)>,
    /// The instrumentation scope: the crate that wrote it.
    pub scope: Cow<'static, str>,
}

/// Where log records go, once logs are on.
static EXPORTER: std::sync::OnceLock<(Arc<Exporter<LogRecord>>, Limits)> =
    std::sync::OnceLock::new();

/// Installs the process's log exporter (once).
pub(crate) fn install(exporter: Arc<Exporter<LogRecord>>, limits: Limits) {
    let _ = EXPORTER.set((exporter, limits));
}

/// Whether log records are exported in this process.
#[inline]
pub fn enabled() -> bool {
    EXPORTER.get().is_some()
}

/// The `tracing` target of a guest's `wasi:logging` messages (`guest=debug`
/// in `SKIFF_LOG` shows its debug messages). Their fields are `component`,
/// `context` (when not empty) and `critical` (for `critical` messages,
/// logged as errors).
pub const GUEST_TARGET: &str = "guest";

/// The instrumentation scope of what guests write.
const GUEST_SCOPE: &str = "skiff.guest";

/// Which of a guest's output streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Its stdout: severity `INFO`.
    Stdout,
    /// Its stderr: severity `WARN` (guests write diagnostics there; a
    /// guest's panic message arrives on it too).
    Stderr,
}

/// Exports a line `component` wrote to `stream` as a log record (in the
/// trace it was written in, if any); does nothing when logs are off.
pub fn guest_output(component: &str, stream: Stream, line: &str) {
    let Some((exporter, limits)) = EXPORTER.get() else {
        return;
    };
    let (severity, name) = match stream {
        Stream::Stdout => (Severity::Info, "stdout"),
        Stream::Stderr => (Severity::Warn, "stderr"),
    };
    let Value::Str(body) = cut(Value::Str(line.to_string()), limits) else {
        return;
    };
    exporter.push(LogRecord {
        time: now_nanos(),
        severity,
        body,
        attributes: vec![
            (
                Cow::Borrowed("skiff.component"),
                Value::Str(component.to_string()),
            ),
            (Cow::Borrowed("log.iostream"), Value::Str(name.to_string())),
        ],
        dropped_attributes: 0,
        context: crate::layer::current_context(),
        scope: Cow::Borrowed(GUEST_SCOPE),
    });
}

/// The layer that turns log events into log records (installed with the
/// log's own filter beside it).
pub(crate) struct LogLayer;

impl<S: Subscriber> tracing_subscriber::Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some((exporter, limits)) = EXPORTER.get() else {
            return;
        };
        let meta = event.metadata();
        // The exporters' own complaints stay on stderr: exported, a
        // collector that is down would be told so again at each failure.
        // So does whatever their threads log (hyper's debug lines).
        if meta.target() == "otel_export" || crate::export::on_export_thread() {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let body = fields.message.take().unwrap_or_default();
        let guest = meta.target() == GUEST_TARGET;
        let mut severity = Severity::of(*meta.level());
        let mut attributes = Vec::new();
        let mut dropped_attributes = 0;
        if !guest && let Some(name) = std::thread::current().name() {
            attributes.push((Cow::Borrowed("thread.name"), Value::Str(name.to_string())));
        }
        for (key, value) in fields.attributes {
            // `log` crate records carry their origin as `log.*` fields.
            if key.starts_with("log.") {
                continue;
            }
            // A guest's message: its fields under the names a collector
            // is told of, and `critical` as the severity it is.
            let key = match (guest, &*key) {
                (true, "component") => Cow::Borrowed("skiff.component"),
                (true, "context") => Cow::Borrowed("wasi.logging.context"),
                (true, "critical") => {
                    severity = Severity::Fatal;
                    continue;
                }
                _ => key,
            };
            if attributes.len() < limits.attributes {
                attributes.push((key, cut(value, limits)));
            } else {
                dropped_attributes += 1;
            }
        }
        exporter.push(LogRecord {
            time: now_nanos(),
            severity,
            body,
            attributes,
            dropped_attributes,
            context: crate::layer::current_context(),
            scope: Cow::Borrowed(if guest { GUEST_SCOPE } else { meta.target() }),
        });
    }
}

/// `LogRecord.flags`: the W3C trace flags (sampled).
fn flags(record: &LogRecord) -> u32 {
    match record.context {
        Some((_, _, true)) => 1,
        _ => 0,
    }
}

/// The records grouped by scope, in order of first appearance.
fn by_scope(records: &[LogRecord]) -> Vec<(&str, Vec<&LogRecord>)> {
    let mut groups: Vec<(&str, Vec<&LogRecord>)> = Vec::new();
    for record in records {
        match groups.iter_mut().find(|(scope, _)| *scope == record.scope) {
            Some((_, list)) => list.push(record),
            None => groups.push((&record.scope, vec![record])),
        }
    }
    groups
}

impl Record for LogRecord {
    const SIGNAL: Signal = Signal::Logs;
    const NOUN: &'static str = "log record";

    /// An `ExportLogsServiceRequest`: 1 resource_logs { 1 resource,
    /// 2 scope_logs { 1 scope, 2 log_records } }.
    fn encode_protobuf(resource: &[Attribute], records: &[Self]) -> Vec<u8> {
        otlp::encode_request(resource, |buf| {
            for (scope, records) in by_scope(records) {
                wire::nested(buf, 2, |buf| {
                    otlp::write_scope(buf, 1, scope);
                    for r in records {
                        wire::nested(buf, 2, |buf| write_record(buf, r));
                    }
                });
            }
        })
    }

    fn to_json(resource: &[Attribute], records: &[Self]) -> Json {
        let scope_logs: Vec<Json> = by_scope(records)
            .into_iter()
            .map(|(scope, records)| {
                let records: Vec<Json> = records
                    .into_iter()
                    .map(|r| {
                        let mut record = json!({
                            "timeUnixNano": r.time.to_string(),
                            "observedTimeUnixNano": r.time.to_string(),
                            "severityNumber": r.severity as i32,
                            "severityText": r.severity.text(),
                            "body": { "stringValue": r.body },
                            "attributes": otlp::json_attributes(&r.attributes),
                            "flags": flags(r),
                        });
                        if r.dropped_attributes > 0 {
                            record["droppedAttributesCount"] = json!(r.dropped_attributes);
                        }
                        if let Some((trace_id, span_id, _)) = r.context {
                            record["traceId"] = json!(trace_id.to_string());
                            record["spanId"] = json!(span_id.to_string());
                        }
                        record
                    })
                    .collect();
                json!({ "scope": otlp::json_scope(scope), "logRecords": records })
            })
            .collect();
        json!({
            "resourceLogs": [{
                "resource": { "attributes": otlp::json_attributes(resource) },
                "scopeLogs": scope_logs,
            }]
        })
    }
}

/// A `LogRecord`'s fields.
fn write_record(buf: &mut Vec<u8>, r: &LogRecord) {
    wire::fixed64(buf, 1, r.time);
    wire::uint(buf, 2, r.severity as u64);
    wire::string(buf, 3, r.severity.text());
    // body: an AnyValue holding the string.
    wire::nested(buf, 5, |buf| wire::string_always(buf, 1, &r.body));
    for kv in &r.attributes {
        otlp::key_value(buf, 6, kv);
    }
    wire::uint(buf, 7, u64::from(r.dropped_attributes));
    let flags = flags(r);
    if flags != 0 {
        wire::tag(buf, 8, wire::FIXED32);
        buf.extend_from_slice(&flags.to_le_bytes());
    }
    if let Some((trace_id, span_id, _)) = r.context {
        wire::bytes(buf, 9, &trace_id.0);
        wire::bytes(buf, 10, &span_id.0);
    }
    wire::fixed64(buf, 11, r.time);
}
