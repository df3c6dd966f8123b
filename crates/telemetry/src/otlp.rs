//! Finished spans, and their OTLP encodings: protobuf
//! (`opentelemetry/proto/collector/trace/v1/trace_service.proto` and the
//! messages it uses, written here from the specification's field numbers) and
//! OTLP/JSON (the protobuf JSON mapping with OTLP's exceptions: hex ids,
//! enums as numbers).

use std::borrow::Cow;

use serde_json::{Value as Json, json};

use crate::context::{SpanId, TraceId};

/// A span's role (OTLP's `SpanKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Work inside Skiff (a host call).
    Internal = 1,
    /// A request Skiff serves.
    Server = 2,
    /// A request Skiff makes.
    Client = 3,
    /// A message Skiff sends.
    Producer = 4,
    /// A message (or a tick) Skiff handles.
    Consumer = 5,
}

impl Kind {
    /// The kind `otel.kind` names.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "internal" => Kind::Internal,
            "server" => Kind::Server,
            "client" => Kind::Client,
            "producer" => Kind::Producer,
            "consumer" => Kind::Consumer,
            _ => return None,
        })
    }
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    I64(i64),
    /// A floating-point number.
    F64(f64),
}

/// An attribute: a key and its value.
pub type Attribute = (Cow<'static, str>, Value);

/// Something that happened during a span (a warning or an error logged).
#[derive(Debug, Clone)]
pub struct Event {
    /// When, in nanoseconds since the Unix epoch.
    pub time: u64,
    /// What (the log message).
    pub name: String,
    /// The event's other fields.
    pub attributes: Vec<Attribute>,
}

/// A finished span, ready to export.
#[derive(Debug, Clone)]
pub struct FinishedSpan {
    /// Its trace.
    pub trace_id: TraceId,
    /// Its id.
    pub span_id: SpanId,
    /// Its parent, if any.
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent is in another process (came in by `traceparent`).
    pub remote_parent: bool,
    /// The `tracestate` that came with the trace.
    pub trace_state: String,
    /// Its name.
    pub name: Cow<'static, str>,
    /// Its kind.
    pub kind: Kind,
    /// Start and end, in nanoseconds since the Unix epoch.
    pub start: u64,
    /// See `start`.
    pub end: u64,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
    /// Attributes over the limit, not kept.
    pub dropped_attributes: u32,
    /// Its events.
    pub events: Vec<Event>,
    /// Events over the limit, not kept.
    pub dropped_events: u32,
    /// `Some(message)` if it failed.
    pub error: Option<String>,
    /// The instrumentation scope: the crate that made it (a `tracing` target).
    pub scope: &'static str,
}

/// OTLP's protobuf messages: the response, decoded from collectors; the
/// request's, to check [`encode_protobuf`] against (tests).
pub mod pb {
    #![allow(missing_docs)]

    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportTraceServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_spans: Vec<ResourceSpans>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportTraceServiceResponse {
        #[prost(message, optional, tag = "1")]
        pub partial_success: Option<ExportTracePartialSuccess>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportTracePartialSuccess {
        #[prost(int64, tag = "1")]
        pub rejected_spans: i64,
        #[prost(string, tag = "2")]
        pub error_message: String,
    }

    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceSpans {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_spans: Vec<ScopeSpans>,
    }

    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
    }

    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeSpans {
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        #[prost(message, repeated, tag = "2")]
        pub spans: Vec<Span>,
    }

    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstrumentationScope {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }

    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        #[prost(string, tag = "3")]
        pub trace_state: String,
        #[prost(bytes = "vec", tag = "4")]
        pub parent_span_id: Vec<u8>,
        #[prost(fixed32, tag = "16")]
        pub flags: u32,
        #[prost(string, tag = "5")]
        pub name: String,
        #[prost(int32, tag = "6")]
        pub kind: i32,
        #[prost(fixed64, tag = "7")]
        pub start_time_unix_nano: u64,
        #[prost(fixed64, tag = "8")]
        pub end_time_unix_nano: u64,
        #[prost(message, repeated, tag = "9")]
        pub attributes: Vec<KeyValue>,
        #[prost(uint32, tag = "10")]
        pub dropped_attributes_count: u32,
        #[prost(message, repeated, tag = "11")]
        pub events: Vec<Event>,
        #[prost(uint32, tag = "12")]
        pub dropped_events_count: u32,
        #[prost(message, optional, tag = "15")]
        pub status: Option<Status>,
    }

    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Event {
        #[prost(fixed64, tag = "1")]
        pub time_unix_nano: u64,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(message, repeated, tag = "3")]
        pub attributes: Vec<KeyValue>,
    }

    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(string, tag = "2")]
        pub message: String,
        #[prost(int32, tag = "3")]
        pub code: i32,
    }

    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }

    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4")]
        pub value: Option<any_value::Value>,
    }

    #[cfg(test)]
    pub mod any_value {
        // The names are the specification's (`string_value`, …).
        #![allow(clippy::enum_variant_names)]

        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(string, tag = "1")]
            StringValue(String),
            #[prost(bool, tag = "2")]
            BoolValue(bool),
            #[prost(int64, tag = "3")]
            IntValue(i64),
            #[prost(double, tag = "4")]
            DoubleValue(f64),
        }
    }
}

/// `Span.flags`: the W3C flags (sampled: every exported span is), and
/// whether the parent is known to be remote or local.
fn flags(span: &FinishedSpan) -> u32 {
    const SAMPLED: u32 = 0x01;
    const HAS_IS_REMOTE: u32 = 0x100;
    const IS_REMOTE: u32 = 0x200;
    SAMPLED | HAS_IS_REMOTE | if span.remote_parent { IS_REMOTE } else { 0 }
}

const STATUS_ERROR: i32 = 2;

/// The spans as one protobuf export request (an
/// `ExportTraceServiceRequest`), grouped by scope, written straight from
/// the spans: no message tree is built, so nothing is copied or allocated
/// but the output. [`pb`] decodes it (see the tests).
pub fn encode_protobuf(resource: &[Attribute], spans: &[FinishedSpan]) -> Vec<u8> {
    let groups = by_scope(spans);
    // Each span's length once: every enclosing message's length needs it.
    let lens: Vec<Vec<usize>> = groups
        .iter()
        .map(|(_, spans)| spans.iter().map(|s| span_len(s)).collect())
        .collect();
    let scope_spans_lens: Vec<usize> = groups
        .iter()
        .zip(&lens)
        .map(|((scope, _), lens)| {
            wire::field_len(1, scope_len(scope))
                + lens.iter().map(|&l| wire::field_len(2, l)).sum::<usize>()
        })
        .collect();
    let resource_len = attributes_len(1, resource);
    let resource_spans_len = wire::field_len(1, resource_len)
        + scope_spans_lens
            .iter()
            .map(|&l| wire::field_len(2, l))
            .sum::<usize>();
    let mut buf = Vec::with_capacity(wire::field_len(1, resource_spans_len));
    wire::message(&mut buf, 1, resource_spans_len);
    // ResourceSpans: 1 resource, 2 scope_spans.
    wire::message(&mut buf, 1, resource_len);
    for kv in resource {
        key_value(&mut buf, 1, kv);
    }
    for (((scope, spans), lens), &scope_spans_len) in
        groups.iter().zip(&lens).zip(&scope_spans_lens)
    {
        wire::message(&mut buf, 2, scope_spans_len);
        // ScopeSpans: 1 scope (1 name, 2 version), 2 spans.
        wire::message(&mut buf, 1, scope_len(scope));
        wire::string(&mut buf, 1, scope);
        wire::string(&mut buf, 2, env!("CARGO_PKG_VERSION"));
        for (span, &len) in spans.iter().zip(lens) {
            wire::message(&mut buf, 2, len);
            write_span(&mut buf, span);
        }
    }
    debug_assert_eq!(buf.len(), buf.capacity());
    buf
}

fn scope_len(scope: &str) -> usize {
    wire::string_len(1, scope) + wire::string_len(2, env!("CARGO_PKG_VERSION"))
}

/// The length of `list` as repeated `KeyValue`s in field `field`.
fn attributes_len(field: u32, list: &[Attribute]) -> usize {
    list.iter()
        .map(|kv| wire::field_len(field, key_value_len(kv)))
        .sum()
}

fn any_value_len(value: &Value) -> usize {
    match value {
        // A oneof member is written even when empty.
        Value::Str(s) => wire::field_len(1, s.len()),
        Value::Bool(_) => wire::tag_len(2) + 1,
        Value::I64(i) => wire::tag_len(3) + wire::varint_len(*i as u64),
        Value::F64(_) => wire::tag_len(4) + 8,
    }
}

fn key_value_len((key, value): &Attribute) -> usize {
    wire::string_len(1, key) + wire::field_len(2, any_value_len(value))
}

/// Writes a KeyValue as field `field`.
pub(crate) fn key_value(buf: &mut Vec<u8>, field: u32, kv: &Attribute) {
    let (key, value) = kv;
    let value_len = any_value_len(value);
    wire::message(
        buf,
        field,
        wire::string_len(1, key) + wire::field_len(2, value_len),
    );
    wire::string(buf, 1, key);
    wire::message(buf, 2, value_len);
    match value {
        Value::Str(s) => wire::string_always(buf, 1, s),
        Value::Bool(b) => {
            wire::tag(buf, 2, wire::VARINT);
            buf.push(u8::from(*b));
        }
        Value::I64(i) => {
            wire::tag(buf, 3, wire::VARINT);
            wire::varint(buf, *i as u64);
        }
        Value::F64(f) => {
            wire::tag(buf, 4, wire::FIXED64);
            buf.extend_from_slice(&f.to_le_bytes());
        }
    }
}

fn status_len(span: &FinishedSpan) -> usize {
    match &span.error {
        None => 0,
        Some(message) => wire::string_len(2, message) + wire::tag_len(3) + 1,
    }
}

fn event_len(event: &Event) -> usize {
    wire::tag_len(1) + 8 + wire::string_len(2, &event.name) + attributes_len(3, &event.attributes)
}

fn span_len(s: &FinishedSpan) -> usize {
    wire::field_len(1, 16)
        + wire::field_len(2, 8)
        + wire::string_len(3, &s.trace_state)
        + s.parent_span_id.map_or(0, |_| wire::field_len(4, 8))
        + wire::string_len(5, &s.name)
        + wire::tag_len(6)
        + wire::varint_len(s.kind as u64)
        + 2 * (wire::tag_len(7) + 8)
        + attributes_len(9, &s.attributes)
        + wire::uint_len(10, u64::from(s.dropped_attributes))
        + s.events
            .iter()
            .map(|e| wire::field_len(11, event_len(e)))
            .sum::<usize>()
        + wire::uint_len(12, u64::from(s.dropped_events))
        + wire::field_len(15, status_len(s))
        + wire::tag_len(16)
        + 4
}

fn write_span(buf: &mut Vec<u8>, s: &FinishedSpan) {
    wire::bytes(buf, 1, &s.trace_id.0);
    wire::bytes(buf, 2, &s.span_id.0);
    wire::string(buf, 3, &s.trace_state);
    if let Some(parent) = s.parent_span_id {
        wire::bytes(buf, 4, &parent.0);
    }
    wire::string(buf, 5, &s.name);
    wire::tag(buf, 6, wire::VARINT);
    wire::varint(buf, s.kind as u64);
    wire::tag(buf, 7, wire::FIXED64);
    buf.extend_from_slice(&s.start.to_le_bytes());
    wire::tag(buf, 8, wire::FIXED64);
    buf.extend_from_slice(&s.end.to_le_bytes());
    for kv in &s.attributes {
        key_value(buf, 9, kv);
    }
    wire::uint(buf, 10, u64::from(s.dropped_attributes));
    for event in &s.events {
        wire::message(buf, 11, event_len(event));
        wire::tag(buf, 1, wire::FIXED64);
        buf.extend_from_slice(&event.time.to_le_bytes());
        wire::string(buf, 2, &event.name);
        for kv in &event.attributes {
            key_value(buf, 3, kv);
        }
    }
    wire::uint(buf, 12, u64::from(s.dropped_events));
    wire::message(buf, 15, status_len(s));
    if let Some(message) = &s.error {
        wire::string(buf, 2, message);
        wire::tag(buf, 3, wire::VARINT);
        wire::varint(buf, STATUS_ERROR as u64);
    }
    wire::tag(buf, 16, wire::FIXED32);
    buf.extend_from_slice(&flags(s).to_le_bytes());
}

/// An AnyValue in OTLP/JSON.
pub(crate) fn json_value(v: &Value) -> Json {
    match v {
        Value::Str(s) => json!({ "stringValue": s }),
        Value::Bool(b) => json!({ "boolValue": b }),
        // 64-bit integers are strings in the protobuf JSON mapping.
        Value::I64(i) => json!({ "intValue": i.to_string() }),
        Value::F64(f) if f.is_finite() => json!({ "doubleValue": f }),
        Value::F64(f) => json!({ "doubleValue": f.to_string() }),
    }
}

/// A list of KeyValues in OTLP/JSON.
pub(crate) fn json_attributes(list: &[Attribute]) -> Json {
    Json::Array(
        list.iter()
            .map(|(k, v)| json!({ "key": k, "value": json_value(v) }))
            .collect(),
    )
}

/// The instrumentation scope in OTLP/JSON.
pub(crate) fn json_scope(name: &str) -> Json {
    json!({ "name": name, "version": env!("CARGO_PKG_VERSION") })
}

/// An export request of any signal: field 1 (`resource_spans`,
/// `resource_metrics`, `resource_logs`) holding the resource (field 1) and
/// what `scopes` writes after it (the scope lists, field 2).
pub(crate) fn encode_request(resource: &[Attribute], scopes: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut buf = Vec::new();
    wire::nested(&mut buf, 1, |buf| {
        wire::nested(buf, 1, |buf| {
            for kv in resource {
                key_value(buf, 1, kv);
            }
        });
        scopes(buf);
    });
    buf
}

/// Writes an InstrumentationScope (Skiff's version) as field `field`.
pub(crate) fn write_scope(buf: &mut Vec<u8>, field: u32, name: &str) {
    wire::message(buf, field, scope_len(name));
    wire::string(buf, 1, name);
    wire::string(buf, 2, env!("CARGO_PKG_VERSION"));
}

impl crate::export::Record for FinishedSpan {
    const SIGNAL: crate::config::Signal = crate::config::Signal::Traces;
    const NOUN: &'static str = "span";

    fn encode_protobuf(resource: &[Attribute], records: &[Self]) -> Vec<u8> {
        encode_protobuf(resource, records)
    }

    fn to_json(resource: &[Attribute], records: &[Self]) -> Json {
        to_json(resource, records)
    }
}

/// Protobuf's wire format, as far as OTLP's messages need it. proto3:
/// empty strings and zero numbers are left out.
pub(crate) mod wire {
    pub const VARINT: u32 = 0;
    pub const FIXED64: u32 = 1;
    pub const LEN: u32 = 2;
    pub const FIXED32: u32 = 5;

    pub fn varint_len(mut v: u64) -> usize {
        let mut n = 1;
        while v >= 0x80 {
            v >>= 7;
            n += 1;
        }
        n
    }

    pub fn varint(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    pub fn tag_len(field: u32) -> usize {
        varint_len(u64::from(field << 3))
    }

    pub fn tag(buf: &mut Vec<u8>, field: u32, wire_type: u32) {
        varint(buf, u64::from(field << 3 | wire_type));
    }

    /// A length-delimited field holding `len` bytes.
    pub fn field_len(field: u32, len: usize) -> usize {
        tag_len(field) + varint_len(len as u64) + len
    }

    /// The head of a message field whose body, `len` bytes, follows.
    pub fn message(buf: &mut Vec<u8>, field: u32, len: usize) {
        tag(buf, field, LEN);
        varint(buf, len as u64);
    }

    pub fn string_len(field: u32, s: &str) -> usize {
        if s.is_empty() {
            0
        } else {
            field_len(field, s.len())
        }
    }

    pub fn string(buf: &mut Vec<u8>, field: u32, s: &str) {
        if !s.is_empty() {
            string_always(buf, field, s);
        }
    }

    /// A string field even when empty (a oneof member is always written).
    pub fn string_always(buf: &mut Vec<u8>, field: u32, s: &str) {
        bytes(buf, field, s.as_bytes());
    }

    pub fn bytes(buf: &mut Vec<u8>, field: u32, b: &[u8]) {
        message(buf, field, b.len());
        buf.extend_from_slice(b);
    }

    pub fn uint_len(field: u32, v: u64) -> usize {
        if v == 0 {
            0
        } else {
            tag_len(field) + varint_len(v)
        }
    }

    pub fn uint(buf: &mut Vec<u8>, field: u32, v: u64) {
        if v != 0 {
            tag(buf, field, VARINT);
            varint(buf, v);
        }
    }

    /// A fixed64 field, even when zero.
    pub fn fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
        tag(buf, field, FIXED64);
        buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A double field, even when zero.
    pub fn double(buf: &mut Vec<u8>, field: u32, v: f64) {
        fixed64(buf, field, v.to_bits());
    }

    /// A message field whose body `write` puts in a scratch buffer first:
    /// simpler than sizing it ahead, for messages off the request path.
    pub fn nested(buf: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>)) {
        let mut body = Vec::new();
        write(&mut body);
        message(buf, field, body.len());
        buf.extend_from_slice(&body);
    }
}

/// The spans as one OTLP/JSON export request.
pub fn to_json(resource: &[Attribute], spans: &[FinishedSpan]) -> Json {
    let attrs = json_attributes;
    let scope_spans: Vec<Json> = by_scope(spans)
        .into_iter()
        .map(|(scope, spans)| {
            let spans: Vec<Json> = spans
                .into_iter()
                .map(|s| {
                    let mut span = json!({
                        "traceId": s.trace_id.to_string(),
                        "spanId": s.span_id.to_string(),
                        "flags": flags(s),
                        "name": s.name,
                        "kind": s.kind as i32,
                        "startTimeUnixNano": s.start.to_string(),
                        "endTimeUnixNano": s.end.to_string(),
                        "attributes": attrs(&s.attributes),
                        "events": s.events.iter().map(|e| json!({
                            "timeUnixNano": e.time.to_string(),
                            "name": e.name,
                            "attributes": attrs(&e.attributes),
                        })).collect::<Vec<_>>(),
                        "status": match &s.error {
                            Some(message) => json!({ "code": STATUS_ERROR, "message": message }),
                            None => json!({}),
                        },
                    });
                    let obj = span.as_object_mut().expect("an object");
                    if let Some(parent) = s.parent_span_id {
                        obj.insert("parentSpanId".into(), parent.to_string().into());
                    }
                    if !s.trace_state.is_empty() {
                        obj.insert("traceState".into(), s.trace_state.clone().into());
                    }
                    if s.dropped_attributes > 0 {
                        obj.insert("droppedAttributesCount".into(), s.dropped_attributes.into());
                    }
                    if s.dropped_events > 0 {
                        obj.insert("droppedEventsCount".into(), s.dropped_events.into());
                    }
                    span
                })
                .collect();
            json!({
                "scope": { "name": scope, "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            })
        })
        .collect();
    json!({
        "resourceSpans": [{
            "resource": { "attributes": attrs(resource) },
            "scopeSpans": scope_spans,
        }]
    })
}

/// The spans grouped by scope, scopes in order of first appearance.
fn by_scope(spans: &[FinishedSpan]) -> Vec<(&'static str, Vec<&FinishedSpan>)> {
    let mut groups: Vec<(&'static str, Vec<&FinishedSpan>)> = Vec::new();
    for span in spans {
        match groups.iter_mut().find(|(scope, _)| *scope == span.scope) {
            Some((_, list)) => list.push(span),
            None => groups.push((span.scope, vec![span])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn span(scope: &'static str) -> FinishedSpan {
        FinishedSpan {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent_span_id: Some(SpanId([3; 8])),
            remote_parent: true,
            trace_state: "a=b".into(),
            name: "GET /".into(),
            kind: Kind::Server,
            start: 1_700_000_000_000_000_000,
            end: 1_700_000_000_000_100_000,
            attributes: vec![
                ("http.request.method".into(), Value::Str("GET".into())),
                ("http.response.status_code".into(), Value::I64(200)),
            ],
            dropped_attributes: 0,
            events: vec![],
            dropped_events: 0,
            error: None,
            scope,
        }
    }

    /// The message tree prost would build for the same spans.
    fn expected(resource: &[Attribute], spans: &[FinishedSpan]) -> pb::ExportTraceServiceRequest {
        let kv = |(k, v): &Attribute| pb::KeyValue {
            key: k.to_string(),
            value: Some(pb::AnyValue {
                value: Some(match v {
                    Value::Str(s) => pb::any_value::Value::StringValue(s.clone()),
                    Value::Bool(b) => pb::any_value::Value::BoolValue(*b),
                    Value::I64(i) => pb::any_value::Value::IntValue(*i),
                    Value::F64(f) => pb::any_value::Value::DoubleValue(*f),
                }),
            }),
        };
        let scope_spans = by_scope(spans)
            .into_iter()
            .map(|(scope, spans)| pb::ScopeSpans {
                scope: Some(pb::InstrumentationScope {
                    name: scope.to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                }),
                spans: spans
                    .into_iter()
                    .map(|s| pb::Span {
                        trace_id: s.trace_id.0.to_vec(),
                        span_id: s.span_id.0.to_vec(),
                        trace_state: s.trace_state.clone(),
                        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
                        flags: flags(s),
                        name: s.name.to_string(),
                        kind: s.kind as i32,
                        start_time_unix_nano: s.start,
                        end_time_unix_nano: s.end,
                        attributes: s.attributes.iter().map(kv).collect(),
                        dropped_attributes_count: s.dropped_attributes,
                        events: s
                            .events
                            .iter()
                            .map(|e| pb::Event {
                                time_unix_nano: e.time,
                                name: e.name.clone(),
                                attributes: e.attributes.iter().map(kv).collect(),
                            })
                            .collect(),
                        dropped_events_count: s.dropped_events,
                        status: Some(pb::Status {
                            message: s.error.clone().unwrap_or_default(),
                            code: if s.error.is_some() { STATUS_ERROR } else { 0 },
                        }),
                    })
                    .collect(),
            })
            .collect();
        pb::ExportTraceServiceRequest {
            resource_spans: vec![pb::ResourceSpans {
                resource: Some(pb::Resource {
                    attributes: resource.iter().map(kv).collect(),
                }),
                scope_spans,
            }],
        }
    }

    #[test]
    fn protobuf_decodes_to_the_spans_and_groups_by_scope() {
        let mut failed = span("b");
        failed.error = Some("guest failed: trap".into());
        failed.parent_span_id = None;
        failed.trace_state = String::new();
        failed.dropped_attributes = 3;
        failed.dropped_events = 300;
        failed.attributes.extend([
            ("ok".into(), Value::Bool(true)),
            ("neg".into(), Value::I64(-5)),
            ("ratio".into(), Value::F64(0.25)),
            ("empty".into(), Value::Str(String::new())),
            ("long".into(), Value::Str("x".repeat(300))),
        ]);
        failed.events.push(Event {
            time: 1_700_000_000_000_000_050,
            name: "guest failed".into(),
            attributes: vec![("level".into(), Value::Str("ERROR".into()))],
        });
        let spans = [span("a"), failed, span("a")];
        let resource = [("service.name".into(), Value::Str("x".into()))];
        let bytes = encode_protobuf(&resource, &spans);
        let decoded = pb::ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
        assert_eq!(decoded, expected(&resource, &spans));
        assert_eq!(bytes.len(), expected(&resource, &spans).encoded_len());
        let scopes = &decoded.resource_spans[0].scope_spans;
        assert_eq!(scopes.len(), 2);
        assert_eq!(scopes[0].spans.len(), 2);
        assert_eq!(scopes[0].spans[0].flags, 0x301);
        assert_eq!(scopes[0].spans[0].kind, 2);
        assert_eq!(
            scopes[1].spans[0].status.as_ref().unwrap().code,
            STATUS_ERROR
        );
    }

    #[test]
    fn json_uses_hex_ids_and_numeric_enums() {
        let json = to_json(&[], &[span("a")]);
        let s = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "01010101010101010101010101010101");
        assert_eq!(s["parentSpanId"], "0303030303030303");
        assert_eq!(s["kind"], 2);
        assert_eq!(s["attributes"][1]["value"]["intValue"], "200");
    }
}
