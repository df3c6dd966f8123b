//! Spans for the events Skiff's other triggers hand to components: a
//! message (Redis, MQTT, NATS or the embedded broker) or a cron tick, named
//! and attributed as OpenTelemetry's messaging conventions say
//! (`process {destination}`, `messaging.system`,
//! `messaging.destination.name`).

use tracing::Span;
use tracing::field::Empty;

use crate::{TARGET, enabled};

/// The span of one event handled by `component`: a message from
/// `system` (`redis`, `mqtt`, `nats`, …) on `destination` (a channel, topic
/// or subject), continuing `traceparent` (with `tracestate`) where the
/// message carried one. `None` when traces are off.
pub fn consumer_span(
    system: &str,
    destination: &str,
    component: &str,
    traceparent: Option<&str>,
    trace_state: Option<&str>,
) -> Option<Span> {
    if !enabled() {
        return None;
    }
    Some(tracing::info_span!(
        target: TARGET,
        "messaging.process",
        otel.kind = "consumer",
        otel.name = %format!("process {destination}"),
        otel.parent = traceparent,
        otel.tracestate = trace_state,
        otel.status_code = Empty,
        otel.status_description = Empty,
        messaging.system = system,
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = destination,
        skiff.component = component,
    ))
}

/// The span of a cron run of `component`: schedule `expression`, due at
/// `timestamp` (Unix seconds). `None` when traces are off.
pub fn cron_span(expression: &str, timestamp: u64, component: &str) -> Option<Span> {
    if !enabled() {
        return None;
    }
    Some(tracing::info_span!(
        target: TARGET,
        "cron.run",
        otel.kind = "consumer",
        otel.name = %format!("cron {expression}"),
        otel.status_code = Empty,
        otel.status_description = Empty,
        skiff.cron.expression = expression,
        skiff.cron.timestamp = timestamp,
        skiff.component = component,
    ))
}

/// Marks an event's span failed with `description`.
pub fn record_failure(span: &Span, description: &str) {
    span.record("otel.status_code", "error");
    span.record("otel.status_description", description);
}
