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

/// OTLP's protobuf messages, as far as traces need them.
pub mod pb {
    #![allow(missing_docs)]

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

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceSpans {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_spans: Vec<ScopeSpans>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeSpans {
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        #[prost(message, repeated, tag = "2")]
        pub spans: Vec<Span>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstrumentationScope {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }

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

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Event {
        #[prost(fixed64, tag = "1")]
        pub time_unix_nano: u64,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(message, repeated, tag = "3")]
        pub attributes: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(string, tag = "2")]
        pub message: String,
        #[prost(int32, tag = "3")]
        pub code: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4")]
        pub value: Option<any_value::Value>,
    }

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

const STATUS_UNSET: i32 = 0;
const STATUS_ERROR: i32 = 2;

/// The spans as one protobuf export request, grouped by scope.
pub fn to_protobuf(
    resource: &[Attribute],
    spans: &[FinishedSpan],
) -> pb::ExportTraceServiceRequest {
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
                        code: if s.error.is_some() {
                            STATUS_ERROR
                        } else {
                            STATUS_UNSET
                        },
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

/// The spans as one OTLP/JSON export request.
pub fn to_json(resource: &[Attribute], spans: &[FinishedSpan]) -> Json {
    fn attrs(list: &[Attribute]) -> Json {
        Json::Array(
            list.iter()
                .map(|(k, v)| {
                    let value = match v {
                        Value::Str(s) => json!({ "stringValue": s }),
                        Value::Bool(b) => json!({ "boolValue": b }),
                        // 64-bit integers are strings in the protobuf JSON mapping.
                        Value::I64(i) => json!({ "intValue": i.to_string() }),
                        Value::F64(f) if f.is_finite() => json!({ "doubleValue": f }),
                        Value::F64(f) => json!({ "doubleValue": f.to_string() }),
                    };
                    json!({ "key": k, "value": value })
                })
                .collect(),
        )
    }
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

    #[test]
    fn protobuf_round_trips_and_groups_by_scope() {
        let spans = [span("a"), span("b"), span("a")];
        let req = to_protobuf(&[("service.name".into(), Value::Str("x".into()))], &spans);
        let bytes = req.encode_to_vec();
        let back = pb::ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
        assert_eq!(back, req);
        let scopes = &back.resource_spans[0].scope_spans;
        assert_eq!(scopes.len(), 2);
        assert_eq!(scopes[0].spans.len(), 2);
        assert_eq!(scopes[0].spans[0].flags, 0x301);
        assert_eq!(scopes[0].spans[0].kind, 2);
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
