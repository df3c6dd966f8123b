//! OpenTelemetry for Skiff: traces, metrics and logs by OTLP.
//!
//! Set `OTEL_EXPORTER_OTLP_ENDPOINT` (and the other standard `OTEL_*`
//! variables, see [`Config`]) and Skiff exports the three signals to any
//! collector (the OpenTelemetry Collector, Jaeger, Tempo, Honeycomb, …) by
//! `http/protobuf`, `http/json` or `grpc`:
//! - **traces**: a span for each request it serves, each message or cron
//!   tick it handles, each outbound HTTP request a guest makes and each host
//!   call (key-value, SQL, Redis, …);
//! - **metrics** ([`metrics`]): the HTTP components' instantiation and
//!   response times, responses by status class, outbound connections;
//! - **logs** ([`logs`]): Skiff's log lines and the guests' output lines,
//!   each with the trace and span it was written in.
//!
//! The trace context travels by W3C `traceparent`: a request that brings one
//! continues its caller's trace, and every outbound request (service chaining
//! included) carries the span that made it, so a trace crosses Skiff apps
//! and other services. With no endpoint set nothing is installed, and the
//! request path pays one relaxed atomic load.
//!
//! Spans come from `tracing`: [`Telemetry::layer`] goes into the process's
//! subscriber, and the spans Skiff's crates open are recorded when they sit
//! inside a trace (see the layer's rules in the `layer` module).
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! if let Some(config) = skiff_telemetry::Config::from_env()? {
//!     let telemetry = skiff_telemetry::Telemetry::start(config)?;
//!     tracing_subscriber::registry().with(telemetry.layer()).init();
//!     // … serve …
//!     telemetry.shutdown(std::time::Duration::from_secs(5));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod config;
mod context;
pub mod event;
mod export;
pub mod http;
mod layer;
pub mod logs;
pub mod metrics;
mod otlp;
mod sampler;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;

pub use config::{Batch, Config, ConfigError, Export, Protocol, Signal, Temporality};
pub use context::{SpanContext, SpanId, TraceId};
pub use sampler::Sampler;

use export::{Exporter, Resource};
use logs::LogRecord;
use otlp::{FinishedSpan, Value};

/// The `tracing` target of the spans Skiff opens for telemetry alone (a
/// request served, an outbound request): not shown in logs by default.
pub const TARGET: &str = "otel";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether traces are being recorded in this process: instrumentation that
/// costs something to prepare (a request's span) checks this first.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The running exporters.
pub struct Telemetry {
    spans: Option<Arc<Exporter<FinishedSpan>>>,
    logs: Option<Arc<Exporter<LogRecord>>>,
    metrics: Option<Arc<metrics::Reader>>,
    config: Config,
}

/// The resource the signals are exported with, once started.
static RESOURCE: std::sync::OnceLock<Arc<Resource>> = std::sync::OnceLock::new();

impl Telemetry {
    /// Starts exporting as `config` says; turns [`enabled`] on if traces are.
    pub fn start(config: Config) -> Result<Telemetry, String> {
        let mut operator_keys: Vec<String> = config
            .resource_attributes
            .iter()
            .map(|(k, _)| k.clone())
            .collect();
        if config.service_name.is_some() {
            operator_keys.push("service.name".into());
        }
        let resource = Resource::new(resource(&config), operator_keys);
        let _ = RESOURCE.set(resource.clone());
        let spans = match &config.traces {
            None => None,
            Some(export) => Some(Exporter::start(
                export,
                config.span_batch,
                resource.clone(),
            )?),
        };
        let logs = match &config.logs {
            None => None,
            Some(export) => {
                let exporter = Exporter::start(export, config.log_batch, resource.clone())?;
                logs::install(
                    exporter.clone(),
                    layer::Limits {
                        attributes: config.log_attribute_count_limit,
                        events: 0,
                        value_length: config.log_attribute_value_length_limit,
                    },
                );
                Some(exporter)
            }
        };
        let metrics = match &config.metrics {
            None => None,
            Some(export) => Some(metrics::Reader::start(
                export,
                config.metric_interval,
                config.temporality,
                resource,
            )?),
        };
        if spans.is_some() {
            ENABLED.store(true, Ordering::Relaxed);
        }
        Ok(Telemetry {
            spans,
            logs,
            metrics,
            config,
        })
    }

    /// The layer that records spans, with its filter: Skiff's spans at
    /// `INFO` and above, and warnings and errors (as span events); `None`
    /// when traces are off.
    pub fn layer<S>(&self) -> Option<impl tracing_subscriber::Layer<S> + use<S>>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        let layer = layer::OtelLayer {
            exporter: self.spans.clone()?,
            sampler: self.config.sampler,
            limits: layer::Limits {
                attributes: self.config.attribute_count_limit,
                events: self.config.event_count_limit,
                value_length: self.config.attribute_value_length_limit,
            },
        };
        // The hint matters: without it the subscriber's maximum level would
        // be `TRACE`, and every `log::trace!` in the dependencies (wasmtime,
        // hyper) would be turned into a `tracing` event and filtered, per
        // request (~22k instructions of hello's ~100k, measured).
        Some(
            layer.with_filter(
                tracing_subscriber::filter::filter_fn(|meta| {
                    let ours = meta.target() == TARGET || meta.target().starts_with("skiff");
                    ours && if meta.is_span() {
                        *meta.level() <= tracing::Level::INFO
                    } else {
                        *meta.level() <= tracing::Level::WARN
                    }
                })
                .with_max_level_hint(tracing::Level::INFO),
            ),
        )
    }

    /// The layer that exports log events as log records, filtered by
    /// `filter` (an `EnvFilter` directive, as the log's own); `None` when
    /// logs are off.
    pub fn log_layer<S>(&self, filter: &str) -> Option<impl tracing_subscriber::Layer<S> + use<S>>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        self.logs.as_ref()?;
        Some(logs::LogLayer.with_filter(tracing_subscriber::EnvFilter::new(filter)))
    }

    /// Where each signal goes, for the start-up banner.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (signal, export) in [
            ("traces", &self.config.traces),
            ("metrics", &self.config.metrics),
            ("logs", &self.config.logs),
        ] {
            if let Some(export) = export {
                parts.push(format!(
                    "{signal} to {} ({})",
                    export.endpoint,
                    export.protocol.name()
                ));
            }
        }
        parts.join(", ")
    }

    /// Sends every span and log record finished so far and the metrics as
    /// they stand, the signals at once, waiting at most `timeout` in all;
    /// `false` if some may not have been sent. Call before the process exits.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let flushes = [
            self.metrics.as_ref().map(|m| m.begin_flush()),
            self.spans.as_ref().map(|s| s.begin_flush()),
            self.logs.as_ref().map(|l| l.begin_flush()),
        ];
        let mut all = true;
        for flush in flushes.into_iter().flatten() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            all &= flush.is_some_and(|done| done.recv_timeout(left).is_ok());
        }
        all
    }
}

/// The resource every signal is exported with: `service.name` (the operator's
/// `OTEL_SERVICE_NAME`, else set by [`set_service`], else `skiff`), the
/// operator's `OTEL_RESOURCE_ATTRIBUTES`, the SDK and the process.
fn resource(config: &Config) -> Vec<otlp::Attribute> {
    let mut attrs: Vec<otlp::Attribute> = config
        .resource_attributes
        .iter()
        .map(|(k, v)| (k.clone().into(), Value::Str(v.clone())))
        .collect();
    let mut set = |key: &'static str, value: Value, force: bool| match attrs
        .iter_mut()
        .find(|(k, _)| k == key)
    {
        Some(slot) if force => slot.1 = value,
        Some(_) => {}
        None => attrs.push((key.into(), value)),
    };
    match &config.service_name {
        Some(name) => set("service.name", Value::Str(name.clone()), true),
        None => set("service.name", Value::Str("skiff".into()), false),
    }
    set("telemetry.sdk.name", Value::Str("skiff".into()), true);
    set("telemetry.sdk.language", Value::Str("rust".into()), true);
    set(
        "telemetry.sdk.version",
        Value::Str(env!("CARGO_PKG_VERSION").into()),
        true,
    );
    set(
        "process.pid",
        Value::I64(i64::from(std::process::id())),
        false,
    );
    if let Some(host) = hostname() {
        set("host.name", Value::Str(host), false);
    }
    attrs
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for its length; gethostname writes at most that.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec())
        .ok()
        .filter(|s| !s.is_empty())
}

/// Installs the process's `tracing` subscriber: logs to stderr, filtered by
/// `SKIFF_LOG` or `RUST_LOG` (else `default_filter`), coloured only on a
/// terminal without `NO_COLOR`; and, when the `OTEL_*` variables ask for
/// traces, the exporter's layer beside it. Returns the exporter, to
/// [`shutdown`](Telemetry::shutdown) before the process exits; an error
/// names a variable with a value that cannot be used.
pub fn init_logging(default_filter: &str) -> Result<Option<Telemetry>, String> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("SKIFF_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default_filter.to_string());
    // Colours only for a terminal: a log redirected to a file, a journal or
    // containerd stays plain text. `NO_COLOR` (https://no-color.org) turns
    // them off too.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let config =
        Config::from_env().map_err(|err| format!("invalid OpenTelemetry configuration: {err}"))?;
    let Some(config) = config else {
        // No traces: one global filter, so disabled spans cost nothing.
        let _ = tracing_subscriber::registry()
            .with(EnvFilter::new(filter))
            .with(log_layer(ansi))
            .try_init();
        return Ok(None);
    };
    let telemetry = Telemetry::start(config)
        .map_err(|err| format!("could not start OpenTelemetry export: {err}"))?;
    // Each layer its own filter: the logs' does not hide spans from traces.
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(StampedStderr)
                .with_ansi(ansi)
                .with_target(false)
                .with_filter(EnvFilter::new(&filter)),
        )
        .with(telemetry.layer())
        .with(telemetry.log_layer(&filter))
        .try_init();
    tracing::info!(target: "skiff", "OpenTelemetry: exporting {}", telemetry.describe());
    Ok(Some(telemetry))
}

/// Stderr for log lines, which stamps a line written inside a trace with
/// its trace and span: `… trace_id=4bf9… span_id=00f0…` at the end of the
/// line's first line (an error's causes follow on others), so a line found
/// in the logs leads to its trace and back. The log layer formats each event
/// whole and writes it with one `write_all`, colours and all.
struct StampedStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for StampedStderr {
    type Writer = Stamped;

    fn make_writer(&'a self) -> Stamped {
        Stamped(layer::current_ids())
    }
}

/// One log line's writer (see [`StampedStderr`]).
struct Stamped(Option<(TraceId, SpanId)>);

impl std::io::Write for Stamped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut stderr = std::io::stderr().lock();
        let Some((trace_id, span_id)) = self.0.take() else {
            return stderr.write_all(buf);
        };
        let cut = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        stderr.write_all(&buf[..cut])?;
        write!(stderr, " trace_id={trace_id} span_id={span_id}")?;
        stderr.write_all(&buf[cut..])
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The log lines on stderr.
fn log_layer<S>(ansi: bool) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
}

/// Names the service in the exported resource after the app (`service.name`,
/// `service.version`), unless the operator named it by `OTEL_SERVICE_NAME` or
/// `OTEL_RESOURCE_ATTRIBUTES`.
pub fn set_service(name: &str, version: Option<&str>) {
    let Some(resource) = RESOURCE.get() else {
        return;
    };
    resource.set_from_app("service.name", Value::Str(name.to_string()));
    if let Some(version) = version {
        resource.set_from_app("service.version", Value::Str(version.to_string()));
    }
}

/// The trace context of `span` (if it is recorded in a trace): what an
/// outbound request carries as `traceparent` and `tracestate`.
pub fn span_context(span: &tracing::Span) -> Option<SpanContext> {
    if !enabled() {
        return None;
    }
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let data = registry.span(id)?;
        let ext = data.extensions();
        ext.get::<layer::SpanState>().map(|s| s.context.clone())
    })
    .flatten()
}

/// Sets `traceparent` (and `tracestate`, if the trace has one) on `headers`
/// for `span`, replacing any there; does nothing if `span` is in no trace.
pub fn inject(span: &tracing::Span, headers: &mut ::http::HeaderMap) {
    let Some(ctx) = span_context(span) else {
        return;
    };
    if let Ok(v) = ::http::HeaderValue::try_from(ctx.traceparent()) {
        headers.insert("traceparent", v);
    }
    headers.remove("tracestate");
    if !ctx.trace_state.is_empty()
        && let Ok(v) = ::http::HeaderValue::try_from(ctx.trace_state.as_str())
    {
        headers.insert("tracestate", v);
    }
}

/// The trace and span this thread is running in, if traces are on and it
/// is in one: what a guest's output line is stamped with.
#[inline]
pub fn current_ids() -> Option<(TraceId, SpanId)> {
    if !enabled() {
        return None;
    }
    layer::current_ids()
}

/// Sets `traceparent` (and `tracestate`) in a message's `headers` for the
/// current span, replacing any there (case-insensitively); does nothing
/// when traces are off (without looking up the current span) or the current
/// span is in no trace.
pub fn inject_current(headers: &mut Vec<(String, String)>) {
    if !enabled() {
        return;
    }
    let Some(ctx) = span_context(&tracing::Span::current()) else {
        return;
    };
    headers.retain(|(k, _)| {
        !k.eq_ignore_ascii_case("traceparent") && !k.eq_ignore_ascii_case("tracestate")
    });
    headers.push(("traceparent".into(), ctx.traceparent()));
    if !ctx.trace_state.is_empty() {
        headers.push(("tracestate".into(), ctx.trace_state));
    }
}

/// The caller's `traceparent` header of a request, as the text an entry
/// span's `otel.parent` field takes (with `tracestate` for `otel.tracestate`).
pub fn extract(headers: &::http::HeaderMap) -> (Option<&str>, Option<&str>) {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    (get("traceparent"), get("tracestate"))
}
