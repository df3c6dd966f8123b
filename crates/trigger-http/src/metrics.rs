//! Per-component request metrics, exposed in the Prometheus text format.
//!
//! Every HTTP component keeps a [`ComponentMetrics`]: a histogram of how long a
//! request's fresh instance took to get ready (store creation plus
//! instantiation), a histogram of the time to the response head, and response
//! counts by status class. Recording is a few relaxed atomic additions on
//! fixed buckets, cheap enough to stay on for every request; reading takes a
//! snapshot without stopping the writers. `skiff up --metrics ADDR` serves
//! [`HttpApp::render_metrics`](crate::HttpApp::render_metrics) at `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use skiff_host::ConnectionStats;

/// Bucket upper bounds in nanoseconds: fine from 1 µs to 100 µs, where
/// instantiation lives, then coarser up to 30 s for whole requests.
pub(crate) const BOUNDS_NS: [u64; 36] = [
    1_000,
    2_000,
    3_000,
    4_000,
    5_000,
    6_000,
    7_000,
    8_000,
    9_000,
    10_000,
    12_000,
    15_000,
    20_000,
    25_000,
    30_000,
    40_000,
    50_000,
    75_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    20_000_000_000,
    30_000_000_000,
];

/// A histogram of durations on fixed buckets (see `BOUNDS_NS`), lock-free.
#[derive(Debug)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// A consistent-enough copy: each counter is read once, so a snapshot taken
    /// under load may be a few observations behind in some buckets.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// A point-in-time copy of a [`Histogram`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    buckets: [u64; BOUNDS_NS.len() + 1],
    sum_ns: u64,
}

impl HistogramSnapshot {
    /// Observations per bucket (not cumulative), the last one above every
    /// bound.
    pub(crate) fn bucket_counts(&self) -> &[u64] {
        &self.buckets
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Sum of all observations.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// `(upper bound, cumulative count)` per bucket, `None` for `+Inf`, as
    /// Prometheus reports them.
    pub fn cumulative(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        let bounds = BOUNDS_NS
            .iter()
            .map(|&ns| Some(Duration::from_nanos(ns)))
            .chain(std::iter::once(None));
        bounds.zip(self.buckets.iter().scan(0u64, |total, &n| {
            *total += n;
            Some(*total)
        }))
    }

    /// The `q` quantile (0..=1) by linear interpolation inside its bucket, the
    /// way Prometheus' `histogram_quantile` estimates it; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * count as f64;
        let mut below = 0u64;
        let mut lower_ns = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            let upper_ns = BOUNDS_NS.get(i).copied();
            if n > 0 && (below + n) as f64 >= rank {
                // Past the last bound there is nothing to interpolate towards.
                let Some(upper_ns) = upper_ns else {
                    return Some(Duration::from_nanos(lower_ns));
                };
                let within = (rank - below as f64) / n as f64;
                let ns = lower_ns as f64 + within * (upper_ns - lower_ns) as f64;
                return Some(Duration::from_nanos(ns as u64));
            }
            below += n;
            if let Some(upper_ns) = upper_ns {
                lower_ns = upper_ns;
            }
        }
        None
    }
}

/// How an event a trigger handed a component went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handled.
    Ok,
    /// The handler returned an error.
    Error,
    /// The guest trapped (or its instance could not be made).
    Trap,
    /// It exceeded the component's timeout.
    Timeout,
}

/// The outcomes, as their metrics name them.
const OUTCOMES: [(Outcome, &str); 4] = [
    (Outcome::Ok, "ok"),
    (Outcome::Error, "error"),
    (Outcome::Trap, "trap"),
    (Outcome::Timeout, "timeout"),
];

/// The events one component handled for one trigger type (Redis, MQTT,
/// messaging, cron): how long each took and how it went.
#[derive(Debug, Default)]
pub struct EventMetrics {
    /// Store creation, instantiation and the handler, per event.
    pub duration: Histogram,
    outcomes: [AtomicU64; 4],
}

impl EventMetrics {
    /// Records one event.
    pub fn record(&self, outcome: Outcome, took: Duration) {
        self.duration.observe(took);
        self.outcomes[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Events with `outcome` so far.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize].load(Ordering::Relaxed)
    }
}

/// Every trigger's event metrics in this process, by trigger type and
/// component, in the order first seen: kept for the process's life, so a
/// reload (`--watch`) carries them on, as the HTTP components' are.
type EventRegistry = std::sync::Mutex<Vec<((&'static str, String), std::sync::Arc<EventMetrics>)>>;

static EVENTS: EventRegistry = std::sync::Mutex::new(Vec::new());

/// The event metrics of `component` under trigger type `trigger`, made on
/// first use.
pub(crate) fn event_metrics(
    trigger: &'static str,
    component: &str,
) -> std::sync::Arc<EventMetrics> {
    let mut events = EVENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, m)) = events
        .iter()
        .find(|((t, c), _)| *t == trigger && c == component)
    {
        return m.clone();
    }
    let m = std::sync::Arc::new(EventMetrics::default());
    events.push(((trigger, component.to_string()), m.clone()));
    m
}

/// A copy of the event registry's entries.
fn events() -> Vec<((&'static str, String), std::sync::Arc<EventMetrics>)> {
    EVENTS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The event triggers' metrics in the Prometheus text format (nothing if
/// no event trigger ran in this process).
pub fn render_events() -> String {
    let events = events();
    let mut out = String::new();
    if events.is_empty() {
        return out;
    }
    let name = "skiff_trigger_events_total";
    let _ = writeln!(
        out,
        "# HELP {name} Events (messages, cron runs) handed to a component, by trigger type and outcome (ok, error returned, trap, timeout).\n# TYPE {name} counter"
    );
    for ((trigger, id), m) in &events {
        let id = escape(id);
        for (outcome, label) in OUTCOMES {
            let _ = writeln!(
                out,
                "{name}{{trigger=\"{trigger}\",component=\"{id}\",outcome=\"{label}\"}} {}",
                m.count(outcome)
            );
        }
    }
    let name = "skiff_trigger_event_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time to handle an event: a fresh instance and the handler's run.\n# TYPE {name} histogram"
    );
    for ((trigger, id), m) in &events {
        let labels = format!("trigger=\"{trigger}\",component=\"{}\"", escape(id));
        write_histogram(&mut out, name, &labels, &m.duration.snapshot());
    }
    out
}

/// One histogram series in the text format: its buckets (`le` after
/// `labels`), sum and count.
fn write_histogram(out: &mut String, name: &str, labels: &str, snap: &HistogramSnapshot) {
    for (bound, cumulative) in snap.cumulative() {
        let le = bound.map_or_else(|| "+Inf".to_string(), |b| b.as_secs_f64().to_string());
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", snap.sum().as_secs_f64());
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", snap.count());
}

/// The event triggers' metrics as OpenTelemetry metrics (attributes
/// `skiff.trigger`, `skiff.component` and, for the counter,
/// `skiff.event.outcome`).
pub fn collect_events(out: &mut Vec<skiff_telemetry::metrics::Metric>) {
    use skiff_telemetry::metrics::{Data, HistogramPoint, Metric, Point};
    let events = events();
    if events.is_empty() {
        return;
    }
    let attributes = |trigger: &str, id: &str| {
        vec![
            ("skiff.trigger", trigger.into()),
            ("skiff.component", id.into()),
        ]
    };
    let mut counts = Vec::new();
    let mut points = Vec::new();
    for ((trigger, id), m) in &events {
        for (outcome, label) in OUTCOMES {
            let mut attrs = attributes(trigger, id);
            attrs.push(("skiff.event.outcome", label.into()));
            counts.push(Point {
                attributes: attrs,
                value: m.count(outcome),
            });
        }
        let snap = m.duration.snapshot();
        points.push(HistogramPoint {
            attributes: attributes(trigger, id),
            counts: snap.buckets.to_vec(),
            sum: snap.sum().as_secs_f64(),
        });
    }
    out.push(Metric {
        name: "skiff.trigger.events",
        description: "Events (messages, cron runs) handed to a component, by trigger type and outcome (ok, error returned, trap, timeout).",
        unit: "{event}",
        data: Data::Counter(counts),
    });
    out.push(Metric {
        name: "skiff.trigger.event.duration",
        description: "Time to handle an event: a fresh instance and the handler's run.",
        unit: "s",
        data: Data::Histogram {
            bounds: BOUNDS_NS.iter().map(|&ns| ns as f64 / 1e9).collect(),
            points,
        },
    });
}

/// Response status classes counted per component.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One component's metrics.
#[derive(Debug, Default)]
pub struct ComponentMetrics {
    /// Store creation plus instantiation of a request's fresh instance, when
    /// it was made (ahead of the request, for a spare).
    pub instantiation: Histogram,
    /// Request arrival (after routing) to the response head.
    pub response_head: Histogram,
    responses: [AtomicU64; 5],
    preinstantiated: AtomicU64,
}

impl ComponentMetrics {
    /// Counts a response by its status class.
    pub fn count_response(&self, status: http::StatusCode) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request served by an instance made ahead of it.
    pub fn count_preinstantiated(&self) {
        self.preinstantiated.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests served by an instance made ahead of them.
    pub fn preinstantiated(&self) -> u64 {
        self.preinstantiated.load(Ordering::Relaxed)
    }

    /// Responses sent with a status of class `class` (`"2xx"`, `"5xx"`…).
    pub fn responses(&self, class: &str) -> u64 {
        CLASSES
            .iter()
            .position(|&c| c == class)
            .map_or(0, |i| self.responses[i].load(Ordering::Relaxed))
    }
}

/// Renders the metrics of an app's components (`(id, metrics)` in manifest
/// order) plus its unrouted-request count in the Prometheus text format 0.0.4.
pub(crate) fn render<'a>(
    components: impl Iterator<Item = (&'a str, &'a ComponentMetrics, ConnectionStats)> + Clone,
    unrouted: u64,
) -> String {
    let mut out = String::with_capacity(4096);
    let histograms: [(&str, &str, PickHistogram); 2] = [
        (
            "skiff_instantiation_seconds",
            "Time to create a request's store and instantiate its component, from the pre-instantiated component (ahead of the request for a spare instance).",
            |m| &m.instantiation,
        ),
        (
            "skiff_http_response_head_seconds",
            "Time from a routed request's arrival to its response head (the body may stream after).",
            |m| &m.response_head,
        ),
    ];
    for (name, help, pick) in histograms {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (id, metrics, _) in components.clone() {
            let labels = format!("component=\"{}\"", escape(id));
            write_histogram(&mut out, name, &labels, &pick(metrics).snapshot());
        }
    }
    let name = "skiff_http_responses_total";
    let _ = writeln!(
        out,
        "# HELP {name} Responses by component and status class, including the host's own (busy, too large, guest failed).\n# TYPE {name} counter"
    );
    for (id, metrics, _) in components.clone() {
        let id = escape(id);
        for class in CLASSES {
            let _ = writeln!(
                out,
                "{name}{{component=\"{id}\",class=\"{class}\"}} {}",
                metrics.responses(class)
            );
        }
    }
    let name = "skiff_preinstantiated_requests_total";
    let _ = writeln!(
        out,
        "# HELP {name} Requests served by a fresh instance made ahead of them (a spare), so no instantiation was on their path.\n# TYPE {name} counter"
    );
    for (id, metrics, _) in components.clone() {
        let _ = writeln!(
            out,
            "{name}{{component=\"{}\"}} {}",
            escape(id),
            metrics.preinstantiated()
        );
    }
    let connections: [(&str, &str, &str, PickConnections); 3] = [
        (
            "skiff_outbound_http_connections_opened_total",
            "Outbound HTTP connections the component's guests opened (connected, with TLS established for HTTPS).",
            "counter",
            |c| c.opened,
        ),
        (
            "skiff_outbound_http_connections_reused_total",
            "Outbound HTTP requests sent on a kept-alive connection instead of a new one (`connection_pooling`).",
            "counter",
            |c| c.reused,
        ),
        (
            "skiff_outbound_http_idle_connections",
            "Kept-alive outbound HTTP connections idle now, ready for the component's next request.",
            "gauge",
            |c| c.idle as u64,
        ),
    ];
    for (name, help, kind, pick) in connections {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (id, _, stats) in components.clone() {
            let _ = writeln!(
                out,
                "{name}{{component=\"{}\"}} {}",
                escape(id),
                pick(&stats)
            );
        }
    }
    let name = "skiff_http_unrouted_requests_total";
    let _ = writeln!(
        out,
        "# HELP {name} Requests that matched no route (answered 404 by the host).\n# TYPE {name} counter\n{name} {unrouted}"
    );
    out
}

/// The same figures as [`render`], as OpenTelemetry metrics (exported by
/// OTLP when `OTEL_*` asks for metrics): attributes `skiff.component` and,
/// for responses, `skiff.http.status_class`.
pub(crate) fn collect<'a>(
    components: impl Iterator<Item = (&'a str, &'a ComponentMetrics, ConnectionStats)> + Clone,
    unrouted: u64,
    out: &mut Vec<skiff_telemetry::metrics::Metric>,
) {
    use skiff_telemetry::metrics::{Data, HistogramPoint, Metric, Point};
    let component = |id: &str| vec![("skiff.component", id.into())];
    let bounds: Vec<f64> = BOUNDS_NS.iter().map(|&ns| ns as f64 / 1e9).collect();
    let histograms: [(&'static str, &'static str, PickHistogram); 2] = [
        (
            "skiff.instantiation.duration",
            "Time to create a request's store and instantiate its component (ahead of the request for a spare instance).",
            |m| &m.instantiation,
        ),
        (
            "skiff.http.response_head.duration",
            "Time from a routed request's arrival to its response head (the body may stream after).",
            |m| &m.response_head,
        ),
    ];
    for (name, description, pick) in histograms {
        let points = components
            .clone()
            .map(|(id, metrics, _)| {
                let snap = pick(metrics).snapshot();
                HistogramPoint {
                    attributes: component(id),
                    counts: snap.buckets.to_vec(),
                    sum: snap.sum().as_secs_f64(),
                }
            })
            .collect();
        out.push(Metric {
            name,
            description,
            unit: "s",
            data: Data::Histogram {
                bounds: bounds.clone(),
                points,
            },
        });
    }
    let mut responses = Vec::new();
    for (id, metrics, _) in components.clone() {
        for class in CLASSES {
            let mut attributes = component(id);
            attributes.push(("skiff.http.status_class", class.into()));
            responses.push(Point {
                attributes,
                value: metrics.responses(class),
            });
        }
    }
    out.push(Metric {
        name: "skiff.http.responses",
        description: "Responses by component and status class, including the host's own (busy, too large, guest failed).",
        unit: "{response}",
        data: Data::Counter(responses),
    });
    let counter = |pick: fn(&ComponentMetrics, &ConnectionStats) -> u64| {
        components
            .clone()
            .map(|(id, metrics, stats)| Point {
                attributes: component(id),
                value: pick(metrics, &stats),
            })
            .collect()
    };
    out.push(Metric {
        name: "skiff.http.preinstantiated_requests",
        description: "Requests served by a fresh instance made ahead of them (a spare), so no instantiation was on their path.",
        unit: "{request}",
        data: Data::Counter(counter(|m, _| m.preinstantiated())),
    });
    out.push(Metric {
        name: "skiff.outbound_http.connections.opened",
        description: "Outbound HTTP connections the component's guests opened (connected, with TLS established for HTTPS).",
        unit: "{connection}",
        data: Data::Counter(counter(|_, c| c.opened)),
    });
    out.push(Metric {
        name: "skiff.outbound_http.connections.reused",
        description: "Outbound HTTP requests sent on a kept-alive connection instead of a new one (`connection_pooling`).",
        unit: "{request}",
        data: Data::Counter(counter(|_, c| c.reused)),
    });
    out.push(Metric {
        name: "skiff.outbound_http.connections.idle",
        description: "Kept-alive outbound HTTP connections idle now, ready for the component's next request.",
        unit: "{connection}",
        data: Data::Gauge(
            components
                .clone()
                .map(|(id, _, stats)| Point {
                    attributes: component(id),
                    value: i64::try_from(stats.idle).unwrap_or(i64::MAX),
                })
                .collect(),
        ),
    });
    out.push(Metric {
        name: "skiff.http.unrouted_requests",
        description: "Requests that matched no route (answered 404 by the host).",
        unit: "{request}",
        data: Data::Counter(vec![Point {
            attributes: Vec::new(),
            value: unrouted,
        }]),
    });
}

/// Selects one of a component's histograms.
type PickHistogram = fn(&ComponentMetrics) -> &Histogram;

/// Selects one of a component's outbound connection figures.
type PickConnections = fn(&ConnectionStats) -> u64;

/// Escapes a Prometheus label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_quantiles_interpolate() {
        let h = Histogram::default();
        for us in [3, 3, 3, 7, 9, 9, 40, 2_000_000] {
            h.observe(Duration::from_micros(us));
        }
        let snap = h.snapshot();
        assert_eq!(snap.count(), 8);
        assert_eq!(
            snap.sum(),
            Duration::from_micros(3 + 3 + 3 + 7 + 9 + 9 + 40 + 2_000_000)
        );
        let cumulative: Vec<_> = snap.cumulative().collect();
        assert_eq!(cumulative.len(), BOUNDS_NS.len() + 1);
        assert!(cumulative.windows(2).all(|w| w[0].1 <= w[1].1));
        let at = |us: u64| {
            cumulative
                .iter()
                .find(|(b, _)| *b == Some(Duration::from_micros(us)))
                .unwrap()
                .1
        };
        assert_eq!(at(2), 0);
        assert_eq!(at(3), 3, "a bound is inclusive (le)");
        assert_eq!(at(7), 4);
        assert_eq!(at(9), 6);
        assert_eq!(at(40), 7);
        assert_eq!(at(1_000_000), 7);
        assert_eq!(cumulative.last().unwrap(), &(None, 8));
        // Rank 4 of 8 is the 3 µs bucket's third (of three) observation: its bound.
        assert_eq!(snap.quantile(0.375), Some(Duration::from_micros(3)));
        // The median (rank 4) is the first observation in (6, 7] µs: its bound.
        assert_eq!(snap.quantile(0.5), Some(Duration::from_micros(7)));
        // Rank 5 of 8 is half-way into the (8, 9] µs bucket's two observations.
        assert_eq!(snap.quantile(0.625), Some(Duration::from_nanos(8_500)));
        assert_eq!(Histogram::default().snapshot().quantile(0.5), None);
    }

    #[test]
    fn past_the_last_bound_counts_in_inf() {
        let h = Histogram::default();
        h.observe(Duration::from_secs(60));
        let snap = h.snapshot();
        assert_eq!(snap.cumulative().last(), Some((None, 1)));
        assert_eq!(
            snap.cumulative().nth(BOUNDS_NS.len() - 1),
            Some((Some(Duration::from_secs(30)), 0))
        );
        assert_eq!(snap.quantile(0.5), Some(Duration::from_secs(30)));
    }

    #[test]
    fn renders_prometheus_text() {
        let m = ComponentMetrics::default();
        m.instantiation.observe(Duration::from_micros(5));
        m.response_head.observe(Duration::from_micros(80));
        m.count_response(http::StatusCode::OK);
        m.count_response(http::StatusCode::SERVICE_UNAVAILABLE);
        let stats = ConnectionStats {
            opened: 3,
            reused: 7,
            idle: 2,
        };
        let text = render([("a\"b", &m, stats)].into_iter(), 2);
        assert!(text.contains("# TYPE skiff_instantiation_seconds histogram\n"));
        assert!(
            text.contains(
                "skiff_instantiation_seconds_bucket{component=\"a\\\"b\",le=\"0.000005\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "skiff_instantiation_seconds_bucket{component=\"a\\\"b\",le=\"0.000004\"} 0\n"
        ));
        assert!(text.contains("skiff_instantiation_seconds_count{component=\"a\\\"b\"} 1\n"));
        assert!(text.contains(
            "skiff_http_response_head_seconds_bucket{component=\"a\\\"b\",le=\"+Inf\"} 1\n"
        ));
        assert!(
            text.contains("skiff_http_responses_total{component=\"a\\\"b\",class=\"2xx\"} 1\n")
        );
        assert!(
            text.contains("skiff_http_responses_total{component=\"a\\\"b\",class=\"5xx\"} 1\n")
        );
        assert!(
            text.contains("skiff_http_responses_total{component=\"a\\\"b\",class=\"4xx\"} 0\n")
        );
        assert!(text.contains("skiff_http_unrouted_requests_total 2\n"));
        for line in [
            "# TYPE skiff_outbound_http_connections_opened_total counter\n",
            "skiff_outbound_http_connections_opened_total{component=\"a\\\"b\"} 3\n",
            "skiff_outbound_http_connections_reused_total{component=\"a\\\"b\"} 7\n",
            "# TYPE skiff_outbound_http_idle_connections gauge\n",
            "skiff_outbound_http_idle_connections{component=\"a\\\"b\"} 2\n",
        ] {
            assert!(text.contains(line), "no `{line}` in:\n{text}");
        }
    }
}
