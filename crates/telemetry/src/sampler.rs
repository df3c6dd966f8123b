//! Which traces are recorded: `OTEL_TRACES_SAMPLER` and its argument.
//!
//! The decision is made where a trace enters Skiff (a request, a message, a
//! cron tick); the spans under it follow it.

use crate::config::ConfigError;
use crate::context::TraceId;

/// A sampler named by `OTEL_TRACES_SAMPLER`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    root: Root,
    /// `parentbased_*`: a trace continued from a caller is recorded exactly
    /// when the caller's `traceparent` says it is sampled.
    parent_based: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Root {
    AlwaysOn,
    AlwaysOff,
    /// Records this fraction of traces, chosen by trace id, so every service
    /// sampling at the same ratio keeps the same traces.
    Ratio(f64),
}

impl Default for Sampler {
    /// `parentbased_always_on`, the specification's default.
    fn default() -> Self {
        Sampler {
            root: Root::AlwaysOn,
            parent_based: true,
        }
    }
}

impl Sampler {
    /// The sampler `OTEL_TRACES_SAMPLER` (and `OTEL_TRACES_SAMPLER_ARG`) name.
    pub fn from_vars(name: Option<&str>, arg: Option<&str>) -> Result<Sampler, ConfigError> {
        let Some(name) = name.map(str::trim) else {
            return Ok(Sampler::default());
        };
        let ratio = || -> Result<f64, ConfigError> {
            let Some(arg) = arg else { return Ok(1.0) };
            match arg.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(ConfigError {
                    var: "OTEL_TRACES_SAMPLER_ARG".into(),
                    value: arg.into(),
                    reason: "expected a probability between 0 and 1".into(),
                }),
            }
        };
        let (root, parent_based) = match name {
            "always_on" => (Root::AlwaysOn, false),
            "always_off" => (Root::AlwaysOff, false),
            "traceidratio" => (Root::Ratio(ratio()?), false),
            "parentbased_always_on" => (Root::AlwaysOn, true),
            "parentbased_always_off" => (Root::AlwaysOff, true),
            "parentbased_traceidratio" => (Root::Ratio(ratio()?), true),
            _ => {
                return Err(ConfigError {
                    var: "OTEL_TRACES_SAMPLER".into(),
                    value: name.into(),
                    reason: "expected one of `always_on`, `always_off`, `traceidratio`, \
                             `parentbased_always_on`, `parentbased_always_off`, \
                             `parentbased_traceidratio`"
                        .into(),
                });
            }
        };
        Ok(Sampler { root, parent_based })
    }

    /// Whether a trace entering Skiff is recorded; `remote_sampled` is the
    /// caller's `sampled` flag when the trace continues a caller's.
    pub fn sample(&self, trace_id: TraceId, remote_sampled: Option<bool>) -> bool {
        if self.parent_based
            && let Some(sampled) = remote_sampled
        {
            return sampled;
        }
        match self.root {
            Root::AlwaysOn => true,
            Root::AlwaysOff => false,
            Root::Ratio(r) if r >= 1.0 => true,
            Root::Ratio(r) => {
                // The id's last 8 bytes, as a fraction of 2^64 (W3C trace
                // ids are random there).
                let bound = (r * (u64::MAX as f64)) as u64;
                trace_id.low_u64() < bound
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_follows_the_caller_and_records_new_traces() {
        let s = Sampler::from_vars(None, None).unwrap();
        let id = TraceId::random();
        assert!(s.sample(id, None));
        assert!(s.sample(id, Some(true)));
        assert!(!s.sample(id, Some(false)));
    }

    #[test]
    fn non_parent_based_samplers_ignore_the_caller() {
        let id = TraceId::random();
        let on = Sampler::from_vars(Some("always_on"), None).unwrap();
        assert!(on.sample(id, Some(false)));
        let off = Sampler::from_vars(Some("always_off"), None).unwrap();
        assert!(!off.sample(id, Some(true)));
        let pb_off = Sampler::from_vars(Some("parentbased_always_off"), None).unwrap();
        assert!(!pb_off.sample(id, None));
        assert!(pb_off.sample(id, Some(true)));
    }

    #[test]
    fn a_ratio_keeps_about_that_share_by_trace_id() {
        let s = Sampler::from_vars(Some("traceidratio"), Some("0.25")).unwrap();
        let kept = (0..20_000)
            .filter(|_| s.sample(TraceId::random(), None))
            .count();
        assert!((4_000..6_000).contains(&kept), "{kept}");
        // The same trace id always gets the same answer.
        let id = TraceId::random();
        assert_eq!(s.sample(id, None), s.sample(id, None));
        let none = Sampler::from_vars(Some("traceidratio"), Some("0")).unwrap();
        assert!(!none.sample(TraceId([0xff; 16]), None));
    }
}
