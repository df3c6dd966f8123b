//! The exporter's configuration, from OpenTelemetry's standard environment
//! variables (<https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/>
//! and the OTLP exporter's), so an operator configures Skiff as any other
//! instrumented service.

use std::path::PathBuf;
use std::time::Duration;

use crate::sampler::Sampler;

/// Which signals are exported, where and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where spans go; `None` when traces are off (`OTEL_TRACES_EXPORTER=none`).
    pub traces: Option<Export>,
    /// Where metrics go; `None` when they are off (`OTEL_METRICS_EXPORTER=none`).
    pub metrics: Option<Export>,
    /// Where log records go; `None` when they are off (`OTEL_LOGS_EXPORTER=none`).
    pub logs: Option<Export>,
    /// Which traces are recorded.
    pub sampler: Sampler,
    /// `service.name`, if the operator set one (else the app's name).
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order.
    pub resource_attributes: Vec<(String, String)>,
    /// How finished spans are batched (`OTEL_BSP_*`).
    pub span_batch: Batch,
    /// How log records are batched (`OTEL_BLRP_*`).
    pub log_batch: Batch,
    /// Attributes per span at most (more are dropped and counted).
    pub attribute_count_limit: usize,
    /// Events per span at most (more are dropped and counted).
    pub event_count_limit: usize,
    /// String attribute values are cut to this many bytes (on a character
    /// boundary), if set.
    pub attribute_value_length_limit: Option<usize>,
    /// Attributes per log record at most (more are dropped and counted).
    pub log_attribute_count_limit: usize,
    /// A log record's string attribute values are cut to this many bytes.
    pub log_attribute_value_length_limit: Option<usize>,
    /// How often metrics are collected and exported (`OTEL_METRIC_EXPORT_INTERVAL`).
    pub metric_interval: Duration,
    /// Counters and histograms as totals since start, or as the change since
    /// the last export (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
    pub temporality: Temporality,
}

/// One signal's exporter: the collector's URL and how to talk to it.
#[derive(Debug, Clone)]
pub struct Export {
    /// The full URL exports are sent to: `…/v1/traces` (`/v1/metrics`,
    /// `/v1/logs`) for OTLP over HTTP, the collector's base URL for gRPC.
    pub endpoint: http::Uri,
    /// OTLP's encoding and transport.
    pub protocol: Protocol,
    /// Headers sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// How long one export may take, retries included.
    pub timeout: Duration,
    /// Whether exports are gzip-compressed.
    pub gzip: bool,
    /// A PEM file of CA certificates the collector's certificate is checked
    /// against (as well as the system's roots).
    pub certificate: Option<PathBuf>,
    /// A PEM certificate chain and key for mutual TLS with the collector.
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

/// How a signal's records are batched on their way out.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    /// How long a finished record waits to be sent with others.
    pub schedule_delay: Duration,
    /// Records held for export at most; more are dropped and counted.
    pub max_queue_size: usize,
    /// Records per export at most.
    pub max_export_batch_size: usize,
}

/// OpenTelemetry's three signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Counters, gauges and histograms.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// `traces`, `metrics` or `logs`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The signal's part of its variables' names (`OTEL_EXPORTER_OTLP_TRACES_…`).
    fn var(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
            Signal::Logs => "LOGS",
        }
    }
}

/// Whether exported counters and histograms are cumulative or deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// Totals since the process started (the specification's default).
    Cumulative,
    /// The change since the previous export (`delta`, and `lowmemory`,
    /// which is the same for the counters and histograms Skiff has).
    Delta,
}

/// OTLP's three transports (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`: protobuf over HTTP (the specification's default).
    HttpProtobuf,
    /// `http/json`: OTLP's JSON over HTTP.
    HttpJson,
    /// `grpc`: the signal service's `Export` call over HTTP/2.
    Grpc,
}

impl Protocol {
    /// The name `OTEL_EXPORTER_OTLP_PROTOCOL` uses.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
            Protocol::Grpc => "grpc",
        }
    }
}

/// A variable with a value Skiff cannot use.
#[derive(Debug, thiserror::Error)]
#[error("environment variable `{var}` is `{value}`: {reason}")]
pub struct ConfigError {
    /// The variable.
    pub var: String,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(var: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var: var.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl Config {
    /// The configuration in the process's environment; `None` where every
    /// signal is off: no OTLP endpoint is set, `OTEL_SDK_DISABLED=true`, or
    /// each `OTEL_{TRACES,METRICS,LOGS}_EXPORTER` is `none`.
    pub fn from_env() -> Result<Option<Config>, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`Config::from_env`], reading variables through `get`.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Config>, ConfigError> {
        // Set but empty counts as unset, as the specification asks.
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("OTEL_SDK_DISABLED") {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" => return Ok(None),
                "false" => {}
                _ => {
                    return Err(invalid(
                        "OTEL_SDK_DISABLED",
                        &v,
                        "expected `true` or `false`",
                    ));
                }
            }
        }
        let mut traces = export(&get, Signal::Traces)?;
        let mut metrics = export(&get, Signal::Metrics)?;
        let mut logs = export(&get, Signal::Logs)?;
        if traces.is_none() && metrics.is_none() && logs.is_none() {
            return Ok(None);
        }
        // Each signal's processor may cap how long one export takes, under
        // the exporter's own timeout.
        let cap = |export: &mut Option<Export>, var: &str| -> Result<(), ConfigError> {
            if let (Some(export), Some(v)) = (export.as_mut(), get(var)) {
                let cap = Duration::from_millis(positive(var, &v)?);
                export.timeout = export.timeout.min(cap);
            }
            Ok(())
        };
        cap(&mut traces, "OTEL_BSP_EXPORT_TIMEOUT")?;
        cap(&mut metrics, "OTEL_METRIC_EXPORT_TIMEOUT")?;
        cap(&mut logs, "OTEL_BLRP_EXPORT_TIMEOUT")?;
        let sampler = Sampler::from_vars(
            get("OTEL_TRACES_SAMPLER").as_deref(),
            get("OTEL_TRACES_SAMPLER_ARG").as_deref(),
        )?;
        let resource_attributes = match get("OTEL_RESOURCE_ATTRIBUTES") {
            None => Vec::new(),
            Some(v) => parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &v)?,
        };
        let service_name = get("OTEL_SERVICE_NAME").map(|v| v.trim().to_string());
        let millis = |var: &'static str, default: u64| -> Result<u64, ConfigError> {
            get(var).map_or(Ok(default), |v| positive(var, &v))
        };
        let batch = |prefix: &str, delay: u64| -> Result<Batch, ConfigError> {
            let var = |name: &str| format!("{prefix}_{name}");
            let number = |name: &str, default: u64| {
                let var = var(name);
                get(&var).map_or(Ok(default), |v| positive(&var, &v))
            };
            let schedule_delay = Duration::from_millis(number("SCHEDULE_DELAY", delay)?);
            let max_queue_size = number("MAX_QUEUE_SIZE", 2048)? as usize;
            let max_export_batch_size = number("MAX_EXPORT_BATCH_SIZE", 512)? as usize;
            if max_export_batch_size > max_queue_size {
                return Err(invalid(
                    &var("MAX_EXPORT_BATCH_SIZE"),
                    &max_export_batch_size.to_string(),
                    format!(
                        "more than the queue holds (`{}` is {max_queue_size})",
                        var("MAX_QUEUE_SIZE")
                    ),
                ));
            }
            Ok(Batch {
                schedule_delay,
                max_queue_size,
                max_export_batch_size,
            })
        };
        let span_batch = batch("OTEL_BSP", 5000)?;
        let log_batch = batch("OTEL_BLRP", 1000)?;
        let limit = |specific: &str, general: &str| {
            pick(&get, specific, general)
                .map(|(var, v)| count(&var, &v))
                .transpose()
        };
        let attribute_count_limit = limit(
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_ATTRIBUTE_COUNT_LIMIT",
        )?
        .unwrap_or(128);
        let event_count_limit = match get("OTEL_SPAN_EVENT_COUNT_LIMIT") {
            None => 128,
            Some(v) => count("OTEL_SPAN_EVENT_COUNT_LIMIT", &v)?,
        };
        let attribute_value_length_limit = limit(
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        )?;
        let log_attribute_count_limit = limit(
            "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_ATTRIBUTE_COUNT_LIMIT",
        )?
        .unwrap_or(128);
        let log_attribute_value_length_limit = limit(
            "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        )?;
        let metric_interval = Duration::from_millis(millis("OTEL_METRIC_EXPORT_INTERVAL", 60_000)?);
        let temporality = match get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE") {
            None => Temporality::Cumulative,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "cumulative" => Temporality::Cumulative,
                "delta" | "lowmemory" => Temporality::Delta,
                _ => {
                    return Err(invalid(
                        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                        &v,
                        "expected `cumulative`, `delta` or `lowmemory`",
                    ));
                }
            },
        };
        if let Some(v) = get("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION")
            && v.trim() != "explicit_bucket_histogram"
        {
            return Err(invalid(
                "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
                &v,
                "Skiff's histograms have explicit buckets (`explicit_bucket_histogram`)",
            ));
        }
        Ok(Some(Config {
            traces,
            metrics,
            logs,
            sampler,
            service_name,
            resource_attributes,
            span_batch,
            log_batch,
            attribute_count_limit,
            event_count_limit,
            attribute_value_length_limit,
            log_attribute_count_limit,
            log_attribute_value_length_limit,
            metric_interval,
            temporality,
        }))
    }
}

/// The signal's variable if set, else the general one: `(name, value)`.
fn pick(
    get: &impl Fn(&str) -> Option<String>,
    specific: &str,
    general: &str,
) -> Option<(String, String)> {
    get(specific)
        .map(|v| (specific.to_string(), v))
        .or_else(|| get(general).map(|v| (general.to_string(), v)))
}

/// One signal's exporter from `OTEL_{SIGNAL}_EXPORTER` and the OTLP
/// exporter's variables (the signal's own, else the general ones); `None`
/// when the signal is off or no endpoint is set.
fn export(
    get: &impl Fn(&str) -> Option<String>,
    signal: Signal,
) -> Result<Option<Export>, ConfigError> {
    let sig = signal.var();
    let exporter_var = format!("OTEL_{sig}_EXPORTER");
    if let Some(v) = get(&exporter_var) {
        match v.trim() {
            "none" => return Ok(None),
            "otlp" => {}
            "prometheus" if signal == Signal::Metrics => {
                return Err(invalid(
                    &exporter_var,
                    &v,
                    "Skiff serves Prometheus metrics with `skiff up --metrics ADDR`; \
                     this variable takes `otlp` or `none`",
                ));
            }
            _ => {
                return Err(invalid(
                    &exporter_var,
                    &v,
                    format!(
                        "Skiff exports {} by `otlp` (or `none` turns them off)",
                        signal.name()
                    ),
                ));
            }
        }
    }
    let var = |name: &str| {
        (
            format!("OTEL_EXPORTER_OTLP_{sig}_{name}"),
            format!("OTEL_EXPORTER_OTLP_{name}"),
        )
    };
    let either = |name: &str| {
        let (specific, general) = var(name);
        pick(get, &specific, &general)
    };
    let protocol = match either("PROTOCOL") {
        None => Protocol::HttpProtobuf,
        Some((var, v)) => match v.trim() {
            "http/protobuf" => Protocol::HttpProtobuf,
            "http/json" => Protocol::HttpJson,
            "grpc" => Protocol::Grpc,
            _ => {
                return Err(invalid(
                    &var,
                    &v,
                    "expected `http/protobuf`, `http/json` or `grpc`",
                ));
            }
        },
    };
    let (own_endpoint, general_endpoint) = var("ENDPOINT");
    let endpoint = if let Some(v) = get(&own_endpoint) {
        // The signal's own endpoint is used as it is.
        parse_endpoint(&own_endpoint, &v, None)?
    } else if let Some(v) = get(&general_endpoint) {
        let path = match (protocol, signal) {
            (Protocol::Grpc, _) => None,
            (_, Signal::Traces) => Some("v1/traces"),
            (_, Signal::Metrics) => Some("v1/metrics"),
            (_, Signal::Logs) => Some("v1/logs"),
        };
        parse_endpoint(&general_endpoint, &v, path)?
    } else {
        return Ok(None);
    };
    let mut headers = Vec::new();
    let (own_headers, general_headers) = var("HEADERS");
    for var in [general_headers, own_headers] {
        if let Some(v) = get(&var) {
            for (name, value) in parse_headers(&var, &v)? {
                headers.retain(|(n, _)| *n != name);
                headers.push((name, value));
            }
        }
    }
    let timeout = match either("TIMEOUT") {
        None => Duration::from_secs(10),
        Some((var, v)) => Duration::from_millis(positive(&var, &v)?),
    };
    let gzip = match either("COMPRESSION") {
        None => false,
        Some((var, v)) => match v.trim() {
            "gzip" => true,
            "none" => false,
            _ => return Err(invalid(&var, &v, "expected `gzip` or `none`")),
        },
    };
    let file = |name: &str| {
        either(name)
            .map(|(var, v)| {
                let path = PathBuf::from(v.trim());
                if path.is_file() {
                    Ok(path)
                } else {
                    Err(invalid(&var, &v, "no such file"))
                }
            })
            .transpose()
    };
    let certificate = file("CERTIFICATE")?;
    let client_cert = file("CLIENT_CERTIFICATE")?;
    let client_key = file("CLIENT_KEY")?;
    let client_identity = match (client_cert, client_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(cert), None) => {
            return Err(invalid(
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                &cert.display().to_string(),
                "a client certificate needs its key in `OTEL_EXPORTER_OTLP_CLIENT_KEY`",
            ));
        }
        (None, Some(key)) => {
            return Err(invalid(
                "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                &key.display().to_string(),
                "a client key needs its certificate in `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`",
            ));
        }
    };
    Ok(Some(Export {
        endpoint,
        protocol,
        headers,
        timeout,
        gzip,
        certificate,
        client_identity,
    }))
}

fn count(var: &str, value: &str) -> Result<usize, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(var, value, "expected a whole number"))
}

fn positive(var: &str, value: &str) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(
            var,
            value,
            "expected a whole number of milliseconds above 0",
        )),
    }
}

/// An `http` or `https` URL; `path` (OTLP/HTTP's `v1/traces`) is appended to
/// a base endpoint's path.
fn parse_endpoint(var: &str, value: &str, path: Option<&str>) -> Result<http::Uri, ConfigError> {
    let uri: http::Uri = value
        .trim()
        .parse()
        .map_err(|e| invalid(var, value, format!("not a URL ({e})")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(invalid(
                var,
                value,
                "expected an `http://` or `https://` URL",
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid(var, value, "the URL names no host"));
    }
    let Some(path) = path else {
        return Ok(uri);
    };
    let base = uri.path().trim_end_matches('/');
    let full = match uri.query() {
        Some(q) => format!("{base}/{path}?{q}"),
        None => format!("{base}/{path}"),
    };
    let mut parts = uri.into_parts();
    parts.path_and_query = Some(
        full.parse()
            .map_err(|e| invalid(var, value, format!("not a URL ({e})")))?,
    );
    http::Uri::from_parts(parts).map_err(|e| invalid(var, value, format!("not a URL ({e})")))
}

/// `name=value,name=value` with percent-encoded values, as headers.
fn parse_headers(
    var: &str,
    value: &str,
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, ConfigError> {
    parse_pairs(var, value)?
        .into_iter()
        .map(|(name, v)| {
            let header = http::HeaderName::try_from(name.as_str())
                .map_err(|_| invalid(var, value, format!("`{name}` is not a header name")))?;
            let v = http::HeaderValue::try_from(v).map_err(|_| {
                invalid(
                    var,
                    value,
                    format!("the value of `{name}` is not a header value"),
                )
            })?;
            Ok((header, v))
        })
        .collect()
}

/// `key=value` pairs separated by commas, keys trimmed, values percent-decoded
/// (the W3C Baggage format the specification uses for these variables).
fn parse_pairs(var: &str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(invalid(var, value, format!("`{item}` is not `key=value`")));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(invalid(var, value, format!("`{item}` has no key")));
        }
        let v = percent_decode(v.trim())
            .ok_or_else(|| invalid(var, value, format!("`{item}` has a bad %-escape")))?;
        pairs.push((k.to_string(), v));
    }
    Ok(pairs)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Option<Config>, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert!(config(&[]).unwrap().is_none());
        assert!(
            config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])
                .unwrap()
                .is_none()
        );
        let on = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")];
        assert!(config(&on).unwrap().is_some());
        assert!(
            config(&[on[0], ("OTEL_SDK_DISABLED", "true")])
                .unwrap()
                .is_none()
        );
        // Each signal is on with an endpoint, and turned off by its own variable.
        let c = config(&on).unwrap().unwrap();
        assert!(c.traces.is_some() && c.metrics.is_some() && c.logs.is_some());
        let c = config(&[on[0], ("OTEL_TRACES_EXPORTER", "none")])
            .unwrap()
            .unwrap();
        assert!(c.traces.is_none() && c.metrics.is_some() && c.logs.is_some());
        let c = config(&[
            on[0],
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ])
        .unwrap()
        .unwrap();
        assert!(c.traces.is_some() && c.metrics.is_none() && c.logs.is_none());
        assert!(
            config(&[
                on[0],
                ("OTEL_TRACES_EXPORTER", "none"),
                ("OTEL_METRICS_EXPORTER", "none"),
                ("OTEL_LOGS_EXPORTER", "none"),
            ])
            .unwrap()
            .is_none()
        );
        // A signal's own endpoint turns on that signal alone.
        let c = config(&[(
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://logs:4318/v1/logs",
        )])
        .unwrap()
        .unwrap();
        assert!(c.traces.is_none() && c.metrics.is_none());
        assert_eq!(c.logs.unwrap().endpoint, "http://logs:4318/v1/logs");
    }

    #[test]
    fn endpoints_follow_the_specification() {
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")])
            .unwrap()
            .unwrap();
        let (traces, metrics, logs) = (c.traces.unwrap(), c.metrics.unwrap(), c.logs.unwrap());
        assert_eq!(traces.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(metrics.endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(logs.endpoint, "http://collector:4318/v1/logs");
        assert_eq!(traces.protocol, Protocol::HttpProtobuf);
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://gw.example/otlp/")])
            .unwrap()
            .unwrap();
        assert_eq!(
            c.traces.unwrap().endpoint,
            "https://gw.example/otlp/v1/traces"
        );
        // The signal's own endpoint is taken as it is.
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:9999/custom"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.traces.unwrap().endpoint, "http://b:9999/custom");
        assert_eq!(c.metrics.unwrap().endpoint, "http://a:4318/v1/metrics");
        // gRPC's path is the method's.
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap()
        .unwrap();
        let logs = c.logs.unwrap();
        assert_eq!(logs.endpoint, "http://a:4317/");
        assert_eq!(logs.protocol, Protocol::Grpc);
        // Each signal may take its own protocol.
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.metrics.unwrap().protocol, Protocol::HttpJson);
        assert_eq!(c.traces.unwrap().protocol, Protocol::HttpProtobuf);
    }

    #[test]
    fn processors_cap_the_export_timeout() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "4000"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "1500"),
            ("OTEL_BLRP_EXPORT_TIMEOUT", "9000"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.traces.unwrap().timeout, Duration::from_millis(4000));
        assert_eq!(c.metrics.unwrap().timeout, Duration::from_millis(1500));
        assert_eq!(c.logs.unwrap().timeout, Duration::from_millis(4000));
    }

    #[test]
    fn headers_and_resource_attributes_are_percent_decoded() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=secret%20one, x-team=a",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=two"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,team=web%2Capi",
            ),
        ])
        .unwrap()
        .unwrap();
        let headers: Vec<_> = c
            .traces
            .as_ref()
            .unwrap()
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(headers, [("x-team", "a"), ("api-key", "two")]);
        // The traces' own headers are theirs alone.
        let metrics: Vec<_> = c
            .metrics
            .as_ref()
            .unwrap()
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(metrics, [("api-key", "secret one"), ("x-team", "a")]);
        assert_eq!(
            c.resource_attributes,
            [
                ("deployment.environment".to_string(), "prod".to_string()),
                ("team".to_string(), "web,api".to_string())
            ]
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318");
        for (var, value, says) in [
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "thrift",
                "expected `http/protobuf`",
            ),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "ftp://a",
                "expected an `http://`",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "novalue",
                "is not `key=value`",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "bad name=x",
                "is not a header name",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "0", "above 0"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "`gzip` or `none`"),
            ("OTEL_TRACES_SAMPLER", "sometimes", "expected one of"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5", "between 0 and 1"),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                "/no/such/ca.pem",
                "no such file",
            ),
            (
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                "5000",
                "more than the queue holds",
            ),
            ("OTEL_TRACES_EXPORTER", "zipkin", "by `otlp`"),
            ("OTEL_METRICS_EXPORTER", "prometheus", "--metrics ADDR"),
            ("OTEL_LOGS_EXPORTER", "console", "exports logs by `otlp`"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
                "udp",
                "expected `http/protobuf`",
            ),
            (
                "OTEL_METRIC_EXPORT_INTERVAL",
                "soon",
                "milliseconds above 0",
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "sometimes",
                "`delta`",
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
                "base2_exponential_bucket_histogram",
                "explicit buckets",
            ),
            (
                "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
                "4096",
                "`OTEL_BLRP_MAX_QUEUE_SIZE` is 2048",
            ),
        ] {
            let mut vars = vec![base, (var, value)];
            if var == "OTEL_TRACES_SAMPLER_ARG" {
                vars.push(("OTEL_TRACES_SAMPLER", "traceidratio"));
            }
            if var == "OTEL_EXPORTER_OTLP_ENDPOINT" {
                vars.remove(0);
            }
            let err = config(&vars).unwrap_err();
            assert_eq!(err.var, var);
            let msg = err.to_string();
            assert!(msg.contains(says), "{msg}");
            assert!(msg.contains(var), "{msg}");
        }
    }
}
