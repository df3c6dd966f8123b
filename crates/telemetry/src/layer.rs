//! The `tracing` layer that turns Skiff's spans into OpenTelemetry spans.
//!
//! A trace enters at a span marked `otel.kind = "server"` or `"consumer"` (a
//! request served, a message handled), continuing the caller's trace when the
//! span carries its `traceparent` in `otel.parent`. Spans opened inside it —
//! the host calls that `#[tracing::instrument]` marks, outbound requests —
//! become its children; a span outside any trace is not recorded. Fields
//! become attributes, except these, which the layer reads:
//! - `otel.kind`: `server`, `client`, `producer`, `consumer` or `internal`
//!   (the default);
//! - `otel.name`: the span's name (a `tracing` span's own name is static);
//! - `otel.parent` / `otel.tracestate`: the caller's `traceparent` and
//!   `tracestate` headers;
//! - `otel.status_code = "error"` and `otel.status_description`: a failure.
//!
//! An event logged inside a recorded span at `WARN` or `ERROR` becomes one of
//! its events, and an `ERROR` marks the span failed with its message.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::context::{SpanContext, SpanId, TraceId};
use crate::export::Exporter;
use crate::otlp::{Attribute, FinishedSpan, Kind, Value};
use crate::sampler::Sampler;

thread_local! {
    /// The trace and span ids of the spans in a trace this thread is in,
    /// innermost last: what log lines are stamped with.
    static ENTERED: std::cell::RefCell<Vec<(Id, TraceId, SpanId, bool)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The trace and span this thread is in, if any (for log lines).
pub(crate) fn current_ids() -> Option<(TraceId, SpanId)> {
    ENTERED.with_borrow(|stack| stack.last().map(|(_, t, s, _)| (*t, *s)))
}

/// The trace and span this thread is in and whether the trace is sampled,
/// if any (for log records).
pub(crate) fn current_context() -> Option<(TraceId, SpanId, bool)> {
    ENTERED.with_borrow(|stack| stack.last().map(|(_, t, s, sampled)| (*t, *s, *sampled)))
}

/// The limits a span's contents are held to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub attributes: usize,
    pub events: usize,
    pub value_length: Option<usize>,
}

/// The layer: samples traces as they enter, records their spans, and hands
/// finished ones to the exporter.
pub(crate) struct OtelLayer {
    pub exporter: Arc<Exporter<FinishedSpan>>,
    pub sampler: Sampler,
    pub limits: Limits,
}

/// What the layer keeps in a span's extensions: its place in the trace, and
/// what it has recorded if the trace is sampled.
pub(crate) struct SpanState {
    pub context: SpanContext,
    recording: Option<Box<Recording>>,
}

struct Recording {
    parent: Option<SpanId>,
    remote_parent: bool,
    name: Cow<'static, str>,
    kind: Kind,
    start: u64,
    attributes: Vec<Attribute>,
    dropped_attributes: u32,
    events: Vec<crate::otlp::Event>,
    dropped_events: u32,
    error: Option<String>,
}

pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A span's (or an event's) fields as the layers read them.
#[derive(Default)]
pub(crate) struct Fields {
    kind: Option<Kind>,
    name: Option<String>,
    parent: Option<String>,
    trace_state: Option<String>,
    error: bool,
    status_description: Option<String>,
    pub message: Option<String>,
    pub attributes: Vec<Attribute>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match field.name() {
            "otel.kind" => {
                if let Value::Str(s) = &value {
                    self.kind = Kind::parse(s);
                }
            }
            "otel.name" => self.name = Some(as_string(value)),
            "otel.parent" => self.parent = Some(as_string(value)),
            "otel.tracestate" => self.trace_state = Some(as_string(value)),
            "otel.status_code" => self.error = as_string(value).eq_ignore_ascii_case("error"),
            "otel.status_description" => self.status_description = Some(as_string(value)),
            "message" => self.message = Some(as_string(value)),
            name => self.attributes.push((Cow::Borrowed(name), value)),
        }
    }
}

fn as_string(value: Value) -> String {
    match value {
        Value::Str(s) => s,
        Value::Bool(b) => b.to_string(),
        Value::I64(i) => i.to_string(),
        Value::F64(f) => f.to_string(),
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::Str(value.to_string()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.put(field, Value::I64(v)),
            Err(_) => self.put(field, Value::Str(value.to_string())),
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::F64(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut s = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(s, ": {cause}");
            source = cause.source();
        }
        self.put(field, Value::Str(s));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::Str(format!("{value:?}")));
    }
}

impl Recording {
    /// Adds or replaces attributes, within the limits.
    fn set(&mut self, attributes: Vec<Attribute>, limits: &Limits) {
        for (key, value) in attributes {
            let value = cut(value, limits);
            if let Some(slot) = self.attributes.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
            } else if self.attributes.len() < limits.attributes {
                self.attributes.push((key, value));
            } else {
                self.dropped_attributes += 1;
            }
        }
    }

    fn apply(&mut self, fields: Fields, limits: &Limits) {
        if let Some(name) = fields.name {
            self.name = Cow::Owned(name);
        }
        if let Some(kind) = fields.kind {
            self.kind = kind;
        }
        if fields.error || fields.status_description.is_some() {
            let message = fields.status_description.unwrap_or_default();
            // The first failure recorded is the one that counts.
            if self.error.is_none() || self.error.as_deref() == Some("") {
                self.error = Some(message);
            }
        }
        self.set(fields.attributes, limits);
    }
}

/// A string value cut to the length limit, on a character boundary.
pub(crate) fn cut(value: Value, limits: &Limits) -> Value {
    match (value, limits.value_length) {
        (Value::Str(mut s), Some(max)) if s.len() > max => {
            let mut end = max;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            Value::Str(s)
        }
        (value, _) => value,
    }
}

impl<S> tracing_subscriber::Layer<S> for OtelLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        // A caller's trace, a parent span here, or a new trace where one enters.
        let remote = fields.parent.as_deref().and_then(|tp| {
            SpanContext::from_headers(
                tp.as_bytes(),
                fields.trace_state.as_deref().map(str::as_bytes),
            )
        });
        let local = match &remote {
            Some(_) => None,
            None => span.parent().and_then(|parent| {
                parent
                    .extensions()
                    .get::<SpanState>()
                    .map(|state| state.context.clone())
            }),
        };
        let entry =
            fields.parent.is_some() || matches!(fields.kind, Some(Kind::Server | Kind::Consumer));
        let (trace_id, parent, sampled, trace_state, remote_parent) = match (remote, local) {
            (Some(r), _) => {
                let sampled = self.sampler.sample(r.trace_id, Some(r.sampled));
                (r.trace_id, Some(r.span_id), sampled, r.trace_state, true)
            }
            (None, Some(l)) => (l.trace_id, Some(l.span_id), l.sampled, l.trace_state, false),
            (None, None) if entry => {
                let trace_id = TraceId::random();
                let sampled = self.sampler.sample(trace_id, None);
                (trace_id, None, sampled, String::new(), false)
            }
            // Outside any trace: not recorded.
            (None, None) => return,
        };
        let context = SpanContext {
            trace_id,
            span_id: SpanId::random(),
            sampled,
            trace_state,
        };
        let recording = sampled.then(|| {
            let meta = attrs.metadata();
            let mut recording = Box::new(Recording {
                parent,
                remote_parent,
                name: Cow::Borrowed(meta.name()),
                kind: Kind::Internal,
                start: now_nanos(),
                attributes: Vec::new(),
                dropped_attributes: 0,
                events: Vec::new(),
                dropped_events: 0,
                error: None,
            });
            recording.apply(fields, &self.limits);
            recording
        });
        span.extensions_mut()
            .insert(SpanState { context, recording });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(recording) = ext
            .get_mut::<SpanState>()
            .and_then(|s| s.recording.as_mut())
        {
            let mut fields = Fields::default();
            values.record(&mut fields);
            recording.apply(fields, &self.limits);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(recording) = ext
            .get_mut::<SpanState>()
            .and_then(|s| s.recording.as_mut())
        else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.message.take().unwrap_or_default();
        if level == Level::ERROR && recording.error.is_none() {
            recording.error = Some(message.clone());
        }
        if recording.events.len() >= self.limits.events {
            recording.dropped_events += 1;
            return;
        }
        let mut attributes = vec![(
            Cow::Borrowed("level"),
            Value::Str(level.as_str().to_string()),
        )];
        attributes.extend(
            fields
                .attributes
                .into_iter()
                .map(|(k, v)| (k, cut(v, &self.limits))),
        );
        recording.events.push(crate::otlp::Event {
            time: now_nanos(),
            name: message,
            attributes,
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(state) = span.extensions().get::<SpanState>()
        {
            let entry = (
                id.clone(),
                state.context.trace_id,
                state.context.span_id,
                state.context.sampled,
            );
            ENTERED.with_borrow_mut(|stack| stack.push(entry));
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        // Spans leave in the order they entered: the top is this one's if
        // it was pushed at all (no lookup of its state needed).
        ENTERED.with_borrow_mut(|stack| {
            if stack.last().is_some_and(|(top, ..)| top == id) {
                stack.pop();
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        let Some(r) = state.recording else { return };
        self.exporter.push(FinishedSpan {
            trace_id: state.context.trace_id,
            span_id: state.context.span_id,
            parent_span_id: r.parent,
            remote_parent: r.remote_parent,
            trace_state: state.context.trace_state,
            name: r.name,
            kind: r.kind,
            start: r.start,
            end: now_nanos(),
            attributes: r.attributes,
            dropped_attributes: r.dropped_attributes,
            events: r.events,
            dropped_events: r.dropped_events,
            error: r.error,
            scope: "skiff",
        });
    }
}
