//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): trace and span
//! ids, and the `traceparent` / `tracestate` headers that carry them between
//! services.

use std::fmt;

/// A trace's id: 16 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// A span's id: 8 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// A random id (not all zero).
    pub fn random() -> Self {
        loop {
            let id = fastrand::u128(..).to_be_bytes();
            if id != [0; 16] {
                return TraceId(id);
            }
        }
    }

    /// Its last 8 bytes as a number: what the `traceidratio` sampler compares.
    pub(crate) fn low_u64(&self) -> u64 {
        u64::from_be_bytes(self.0[8..].try_into().expect("8 bytes"))
    }
}

impl SpanId {
    /// A random id (not all zero).
    pub fn random() -> Self {
        loop {
            let id = fastrand::u64(..).to_be_bytes();
            if id != [0; 8] {
                return SpanId(id);
            }
        }
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// Where a span sits in its trace, as `traceparent` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanContext {
    /// The trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// Whether the trace is recorded (`traceparent`'s `sampled` flag).
    pub sampled: bool,
    /// The vendors' `tracestate` that travels with the trace, as received.
    pub trace_state: String,
}

/// The longest `tracestate` passed on; a longer one is dropped, as the
/// specification allows (it asks for at least 512 characters to be kept).
const MAX_TRACE_STATE: usize = 512;

impl SpanContext {
    /// Parses a `traceparent` header (and the `tracestate` beside it, if any).
    /// `None` for a malformed value, which the specification says to ignore:
    /// the request then starts a new trace.
    pub fn from_headers(traceparent: &[u8], tracestate: Option<&[u8]>) -> Option<Self> {
        let (trace_id, span_id, flags) = parse_traceparent(traceparent)?;
        let trace_state = tracestate
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
            .filter(|v| v.len() <= MAX_TRACE_STATE && v.is_ascii())
            .unwrap_or_default()
            .to_string();
        Some(SpanContext {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
            trace_state,
        })
    }

    /// The `traceparent` header value for this span: version `00`.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            self.trace_id,
            self.span_id,
            if self.sampled { "01" } else { "00" }
        )
    }
}

/// `version-traceid-parentid-flags`, lower-case hex. A version above `00` is
/// read as `00` (its first four fields), as the specification asks; `ff` is
/// invalid, as are all-zero ids.
fn parse_traceparent(value: &[u8]) -> Option<(TraceId, SpanId, u8)> {
    let value = value.trim_ascii();
    if value.len() < 55 {
        return None;
    }
    let version = hex_byte(&value[0..2])?;
    if version == 0xff || (version == 0 && value.len() != 55) {
        return None;
    }
    if value.len() > 55 && value[55] != b'-' {
        return None;
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let mut trace = [0u8; 16];
    for (i, b) in trace.iter_mut().enumerate() {
        *b = hex_byte(&value[3 + 2 * i..5 + 2 * i])?;
    }
    let mut span = [0u8; 8];
    for (i, b) in span.iter_mut().enumerate() {
        *b = hex_byte(&value[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_byte(&value[53..55])?;
    if trace == [0; 16] || span == [0; 8] {
        return None;
    }
    Some((TraceId(trace), SpanId(span), flags))
}

/// Two lower-case hex digits.
fn hex_byte(two: &[u8]) -> Option<u8> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    Some(digit(two[0])? << 4 | digit(two[1])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_formats_the_specification_example() {
        let ctx =
            SpanContext::from_headers(EXAMPLE.as_bytes(), Some(b"rojo=00f067aa0ba902b7")).unwrap();
        assert_eq!(ctx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id.to_string(), "00f067aa0ba902b7");
        assert!(ctx.sampled);
        assert_eq!(ctx.trace_state, "rojo=00f067aa0ba902b7");
        assert_eq!(ctx.traceparent(), EXAMPLE);
        let unsampled = SpanContext::from_headers(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            None,
        )
        .unwrap();
        assert!(!unsampled.sampled);
        assert!(unsampled.traceparent().ends_with("-00"));
    }

    #[test]
    fn refuses_what_the_specification_calls_invalid() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            // upper case
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            // all-zero ids
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // version ff, and version 00 with more after it
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            // wrong separators
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7x01",
        ] {
            assert_eq!(
                SpanContext::from_headers(bad.as_bytes(), None),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn reads_a_later_version_as_version_00() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        let ctx = SpanContext::from_headers(later.as_bytes(), None).unwrap();
        assert_eq!(ctx.traceparent(), EXAMPLE);
    }

    #[test]
    fn drops_an_oversized_tracestate() {
        let long = "a=".to_string() + &"b".repeat(600);
        let ctx = SpanContext::from_headers(EXAMPLE.as_bytes(), Some(long.as_bytes())).unwrap();
        assert_eq!(ctx.trace_state, "");
    }

    #[test]
    fn random_ids_are_not_zero_and_differ() {
        let a = (TraceId::random(), SpanId::random());
        let b = (TraceId::random(), SpanId::random());
        assert_ne!(a.0, b.0);
        assert_ne!(a.1, b.1);
        assert_ne!(a.0.0, [0; 16]);
    }
}
