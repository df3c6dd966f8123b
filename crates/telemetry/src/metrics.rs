//! OTLP metrics: what the registered producers report (the HTTP trigger's
//! per-component figures, the same that `skiff up --metrics` serves to
//! Prometheus), collected every `OTEL_METRIC_EXPORT_INTERVAL` on a thread of
//! its own and exported by OTLP.
//!
//! Producers keep their own counters (relaxed atomics on the request path);
//! a collection only reads them. A producer may keep a figure only while
//! metrics are exported ([`enabled`]), as the HTTP trigger does for
//! `http.server.request.duration`. Counters and histograms are cumulative, or with
//! `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta` the change since
//! the previous export.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::config::{Export, Signal, Temporality};
use crate::export::{Client, Record, Resource};
use crate::layer::now_nanos;
use crate::otlp::{self, Attribute, Value, wire};

/// One metric as a producer reports it.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Its name (`skiff.http.responses`).
    pub name: &'static str,
    /// What it measures.
    pub description: &'static str,
    /// Its unit, UCUM (`s`, `{request}`).
    pub unit: &'static str,
    /// Its points.
    pub data: Data,
}

/// A metric's points, by kind.
#[derive(Debug, Clone)]
pub enum Data {
    /// A monotonic counter: the total since the producer started.
    Counter(Vec<Point<u64>>),
    /// A value now.
    Gauge(Vec<Point<i64>>),
    /// A histogram on fixed buckets: the totals since the producer started.
    Histogram {
        /// The buckets' upper bounds (inclusive), increasing; a last bucket
        /// above them is implied.
        bounds: Vec<f64>,
        /// One per attribute set.
        points: Vec<HistogramPoint>,
    },
}

/// A metric attribute's value: a string, or an integer where the
/// conventions type it so (`http.response.status_code`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
}

impl From<String> for AttributeValue {
    fn from(s: String) -> Self {
        AttributeValue::Str(s)
    }
}

impl From<&str> for AttributeValue {
    fn from(s: &str) -> Self {
        AttributeValue::Str(s.to_string())
    }
}

impl From<i64> for AttributeValue {
    fn from(n: i64) -> Self {
        AttributeValue::Int(n)
    }
}

/// A counter's or gauge's value for one set of attributes.
#[derive(Debug, Clone)]
pub struct Point<T> {
    /// Its attributes (`skiff.component`, …).
    pub attributes: Vec<(&'static str, AttributeValue)>,
    /// The value.
    pub value: T,
}

/// A histogram's buckets for one set of attributes.
#[derive(Debug, Clone)]
pub struct HistogramPoint {
    /// Its attributes.
    pub attributes: Vec<(&'static str, AttributeValue)>,
    /// Observations per bucket (not cumulative): one more than the bounds.
    pub counts: Vec<u64>,
    /// The sum of the observations.
    pub sum: f64,
}

/// What reports metrics when they are collected: appends its metrics to the
/// list.
pub type Producer = Arc<dyn Fn(&mut Vec<Metric>) + Send + Sync>;

enum Msg {
    /// A producer's last metrics, taken as it went away.
    Last(Vec<Metric>),
    /// Collect and export now; answer when done.
    Flush(Sender<()>),
}

/// The metrics reader's handle.
pub(crate) struct Reader {
    tx: Mutex<Sender<Msg>>,
}

struct Registry {
    producers: Mutex<Vec<(u64, Producer)>>,
    next: AtomicU64,
    reader: OnceLock<Arc<Reader>>,
}

static REGISTRY: Registry = Registry {
    producers: Mutex::new(Vec::new()),
    next: AtomicU64::new(0),
    reader: OnceLock::new(),
};

/// Whether metrics are exported by OTLP in this process.
pub fn enabled() -> bool {
    REGISTRY.reader.get().is_some()
}

/// A registered producer; dropping it unregisters the producer, after
/// taking its metrics one last time (exported with the next export, or at
/// shutdown), so a server's last figures are not lost when it stops.
#[must_use = "the producer is unregistered when this is dropped"]
pub struct Registration {
    id: Option<u64>,
}

/// Registers `producer`, collected at every export. Does nothing (and
/// returns an inert registration) when metrics are not exported, so callers
/// need not check.
pub fn register(producer: Producer) -> Registration {
    if !enabled() {
        return Registration { id: None };
    }
    let id = REGISTRY.next.fetch_add(1, Ordering::Relaxed);
    REGISTRY
        .producers
        .lock()
        .expect("producers lock")
        .push((id, producer));
    Registration { id: Some(id) }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let producer = {
            let mut producers = REGISTRY.producers.lock().expect("producers lock");
            let Some(at) = producers.iter().position(|(i, _)| *i == id) else {
                return;
            };
            producers.remove(at).1
        };
        let mut last = Vec::new();
        producer(&mut last);
        if let Some(reader) = REGISTRY.reader.get() {
            let _ = reader.tx.lock().expect("reader lock").send(Msg::Last(last));
        }
    }
}

impl Reader {
    /// Starts the reader thread and makes it the process's.
    pub fn start(
        export: &Export,
        interval: Duration,
        temporality: Temporality,
        resource: Arc<Resource>,
    ) -> Result<Arc<Reader>, String> {
        let client = Client::new(export, Signal::Metrics)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let state = ReaderState {
            rx,
            client,
            resource,
            interval,
            temporality,
            start: now_nanos(),
            previous: HashMap::new(),
            last_time: now_nanos(),
        };
        std::thread::Builder::new()
            .name("skiff-otlp-metrics".into())
            .spawn(move || state.run())
            .map_err(|e| format!("could not start the OTLP metrics thread: {e}"))?;
        let reader = Arc::new(Reader { tx: Mutex::new(tx) });
        let _ = REGISTRY.reader.set(reader.clone());
        Ok(reader)
    }

    /// Asks for a collection and export now; the receiver hears when it is
    /// done (`None`: the reader thread is gone).
    pub fn begin_flush(&self) -> Option<Receiver<()>> {
        let (done, wait) = std::sync::mpsc::channel();
        self.tx
            .lock()
            .expect("reader lock")
            .send(Msg::Flush(done))
            .ok()?;
        Some(wait)
    }
}

/// A series: a metric's name and a point's attributes.
type SeriesKey = (&'static str, Vec<(&'static str, AttributeValue)>);

/// A series' last cumulative figures (for deltas).
enum Previous {
    Counter(u64),
    Histogram(Vec<u64>, f64),
}

struct ReaderState {
    rx: Receiver<Msg>,
    client: Client,
    resource: Arc<Resource>,
    interval: Duration,
    temporality: Temporality,
    /// When the reader started: cumulative series' start time.
    start: u64,
    /// Each series' figures at the last export (delta temporality).
    previous: HashMap<SeriesKey, Previous>,
    /// When the last export's figures were taken.
    last_time: u64,
}

impl ReaderState {
    fn run(mut self) {
        let Some(rt) = crate::export::export_runtime() else {
            return;
        };
        let mut pending: Vec<Metric> = Vec::new();
        let mut due = Instant::now() + self.interval;
        loop {
            let wait = due.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Last(metrics)) => pending.extend(metrics),
                Ok(Msg::Flush(done)) => {
                    while let Ok(msg) = self.rx.try_recv() {
                        match msg {
                            Msg::Last(metrics) => pending.extend(metrics),
                            Msg::Flush(other) => drop(other.send(())),
                        }
                    }
                    rt.block_on(self.export(std::mem::take(&mut pending)));
                    due = Instant::now() + self.interval;
                    let _ = done.send(());
                }
                Err(RecvTimeoutError::Timeout) => {
                    rt.block_on(self.export(std::mem::take(&mut pending)));
                    due = Instant::now() + self.interval;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Collects from every producer (plus `pending`, the last figures of
    /// producers gone since) and exports the lot.
    async fn export(&mut self, mut metrics: Vec<Metric>) {
        let producers: Vec<Producer> = REGISTRY
            .producers
            .lock()
            .expect("producers lock")
            .iter()
            .map(|(_, p)| p.clone())
            .collect();
        for producer in producers {
            producer(&mut metrics);
        }
        if metrics.is_empty() {
            return;
        }
        let time = now_nanos();
        let collected = match self.temporality {
            Temporality::Cumulative => Collected {
                metrics,
                start: self.start,
                time,
                delta: false,
            },
            Temporality::Delta => {
                let metrics = deltas(&mut self.previous, metrics);
                Collected {
                    metrics,
                    start: self.last_time,
                    time,
                    delta: true,
                }
            }
        };
        self.last_time = time;
        let resource = self.resource.get();
        let points: usize = collected.metrics.iter().map(Metric::points).sum();
        if let Err(err) = self
            .client
            .export(&resource, std::slice::from_ref(&collected))
            .await
        {
            tracing::warn!(
                target: "otel_export",
                "OpenTelemetry: {points} metric point(s) not exported to {}: {err}",
                self.client.endpoint
            );
        }
    }
}

/// Turns cumulative figures into the change since the last export (a
/// counter that went down, a producer started over, counts from zero),
/// remembering them in `previous` for the next.
fn deltas(previous: &mut HashMap<SeriesKey, Previous>, mut metrics: Vec<Metric>) -> Vec<Metric> {
    for metric in &mut metrics {
        let name = metric.name;
        match &mut metric.data {
            Data::Counter(points) => {
                for p in points {
                    let key = (name, p.attributes.clone());
                    let now = p.value;
                    if let Some(Previous::Counter(before)) = previous.get(&key)
                        && *before <= now
                    {
                        p.value = now - before;
                    }
                    previous.insert(key, Previous::Counter(now));
                }
            }
            Data::Histogram { points, .. } => {
                for p in points {
                    let key = (name, p.attributes.clone());
                    let (counts, sum) = (p.counts.clone(), p.sum);
                    if let Some(Previous::Histogram(before, before_sum)) = previous.get(&key)
                        && before.len() == counts.len()
                        && before.iter().zip(&counts).all(|(b, n)| b <= n)
                    {
                        for (n, b) in p.counts.iter_mut().zip(before) {
                            *n -= b;
                        }
                        p.sum = (sum - before_sum).max(0.0);
                    }
                    previous.insert(key, Previous::Histogram(counts, sum));
                }
            }
            Data::Gauge(_) => {}
        }
    }
    metrics
}

impl Metric {
    fn points(&self) -> usize {
        match &self.data {
            Data::Counter(p) => p.len(),
            Data::Gauge(p) => p.len(),
            Data::Histogram { points, .. } => points.len(),
        }
    }
}

/// One collection, as exported: the metrics and their time window.
pub(crate) struct Collected {
    metrics: Vec<Metric>,
    start: u64,
    time: u64,
    delta: bool,
}

impl Collected {
    /// OTLP's `AggregationTemporality`: 1 delta, 2 cumulative.
    fn temporality(&self) -> u64 {
        if self.delta { 1 } else { 2 }
    }
}

/// The scope metrics are exported under.
const SCOPE: &str = "skiff";

fn attributes(list: &[(&'static str, AttributeValue)]) -> Vec<Attribute> {
    list.iter()
        .map(|(k, v)| {
            let v = match v {
                AttributeValue::Str(s) => Value::Str(s.clone()),
                AttributeValue::Int(n) => Value::I64(*n),
            };
            ((*k).into(), v)
        })
        .collect()
}

impl Record for Collected {
    const SIGNAL: Signal = Signal::Metrics;
    const NOUN: &'static str = "metrics collection";

    /// An `ExportMetricsServiceRequest`: 1 resource_metrics { 1 resource,
    /// 2 scope_metrics { 1 scope, 2 metrics } }.
    fn encode_protobuf(resource: &[Attribute], records: &[Self]) -> Vec<u8> {
        otlp::encode_request(resource, |buf| {
            wire::nested(buf, 2, |buf| {
                otlp::write_scope(buf, 1, SCOPE);
                for c in records {
                    for m in &c.metrics {
                        wire::nested(buf, 2, |buf| write_metric(buf, c, m));
                    }
                }
            });
        })
    }

    fn to_json(resource: &[Attribute], records: &[Self]) -> Json {
        let mut metrics = Vec::new();
        for c in records {
            let (start, time) = (c.start.to_string(), c.time.to_string());
            for m in &c.metrics {
                let mut metric = json!({
                    "name": m.name,
                    "description": m.description,
                    "unit": m.unit,
                });
                let point = |attrs: &[(&'static str, AttributeValue)]| {
                    json!({
                        "attributes": otlp::json_attributes(&attributes(attrs)),
                        "startTimeUnixNano": start,
                        "timeUnixNano": time,
                    })
                };
                // A NumberDataPoint's `asInt`: an int64, a string in JSON.
                let numbers = |points: Vec<(&[(&'static str, AttributeValue)], String)>| {
                    points
                        .into_iter()
                        .map(|(attrs, value)| {
                            let mut j = point(attrs);
                            j["asInt"] = json!(value);
                            j
                        })
                        .collect::<Vec<Json>>()
                };
                match &m.data {
                    Data::Counter(points) => {
                        let points = numbers(
                            points
                                .iter()
                                .map(|p| (&p.attributes[..], p.value.to_string()))
                                .collect(),
                        );
                        metric["sum"] = json!({
                            "dataPoints": points,
                            "aggregationTemporality": c.temporality(),
                            "isMonotonic": true,
                        });
                    }
                    Data::Gauge(points) => {
                        let points = numbers(
                            points
                                .iter()
                                .map(|p| (&p.attributes[..], p.value.to_string()))
                                .collect(),
                        );
                        metric["gauge"] = json!({ "dataPoints": points });
                    }
                    Data::Histogram { bounds, points } => {
                        let points: Vec<Json> = points
                            .iter()
                            .map(|p| {
                                let mut j = point(&p.attributes);
                                j["count"] = json!(p.counts.iter().sum::<u64>().to_string());
                                j["sum"] = json!(p.sum);
                                j["bucketCounts"] =
                                    p.counts.iter().map(|n| json!(n.to_string())).collect();
                                j["explicitBounds"] = json!(bounds);
                                j
                            })
                            .collect();
                        metric["histogram"] = json!({
                            "dataPoints": points,
                            "aggregationTemporality": c.temporality(),
                        });
                    }
                }
                metrics.push(metric);
            }
        }
        json!({
            "resourceMetrics": [{
                "resource": { "attributes": otlp::json_attributes(resource) },
                "scopeMetrics": [{ "scope": otlp::json_scope(SCOPE), "metrics": metrics }],
            }]
        })
    }
}

/// A `Metric`: 1 name, 2 description, 3 unit, then 5 gauge, 7 sum or
/// 9 histogram.
fn write_metric(buf: &mut Vec<u8>, c: &Collected, m: &Metric) {
    wire::string(buf, 1, m.name);
    wire::string(buf, 2, m.description);
    wire::string(buf, 3, m.unit);
    // A NumberDataPoint: 7 attributes, 2 start, 3 time, 6 as_int (sfixed64).
    let number = |buf: &mut Vec<u8>, attrs: &[(&'static str, AttributeValue)], value: i64| {
        wire::nested(buf, 1, |buf| {
            for kv in &attributes(attrs) {
                otlp::key_value(buf, 7, kv);
            }
            wire::fixed64(buf, 2, c.start);
            wire::fixed64(buf, 3, c.time);
            wire::fixed64(buf, 6, value as u64);
        });
    };
    match &m.data {
        Data::Counter(points) => wire::nested(buf, 7, |buf| {
            for p in points {
                number(buf, &p.attributes, p.value.min(i64::MAX as u64) as i64);
            }
            wire::uint(buf, 2, c.temporality());
            wire::uint(buf, 3, 1);
        }),
        Data::Gauge(points) => wire::nested(buf, 5, |buf| {
            for p in points {
                number(buf, &p.attributes, p.value);
            }
        }),
        Data::Histogram { bounds, points } => wire::nested(buf, 9, |buf| {
            for p in points {
                // A HistogramDataPoint: 9 attributes, 2 start, 3 time,
                // 4 count, 5 sum, 6 bucket_counts and 7 explicit_bounds
                // (packed).
                wire::nested(buf, 1, |buf| {
                    for kv in &attributes(&p.attributes) {
                        otlp::key_value(buf, 9, kv);
                    }
                    wire::fixed64(buf, 2, c.start);
                    wire::fixed64(buf, 3, c.time);
                    wire::fixed64(buf, 4, p.counts.iter().sum());
                    wire::double(buf, 5, p.sum);
                    wire::message(buf, 6, p.counts.len() * 8);
                    for n in &p.counts {
                        buf.extend_from_slice(&n.to_le_bytes());
                    }
                    wire::message(buf, 7, bounds.len() * 8);
                    for b in bounds {
                        buf.extend_from_slice(&b.to_le_bytes());
                    }
                });
            }
            wire::uint(buf, 2, c.temporality());
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(value: u64) -> Metric {
        Metric {
            name: "c",
            description: "",
            unit: "1",
            data: Data::Counter(vec![Point {
                attributes: vec![("k", "v".into())],
                value,
            }]),
        }
    }

    fn histogram(counts: Vec<u64>, sum: f64) -> Metric {
        Metric {
            name: "h",
            description: "",
            unit: "s",
            data: Data::Histogram {
                bounds: vec![1.0],
                points: vec![HistogramPoint {
                    attributes: Vec::new(),
                    counts,
                    sum,
                }],
            },
        }
    }

    fn value(m: &Metric) -> u64 {
        match &m.data {
            Data::Counter(p) => p[0].value,
            _ => unreachable!(),
        }
    }

    #[test]
    fn deltas_count_the_change_and_start_over_when_a_counter_does() {
        let mut previous = HashMap::new();
        let out = deltas(&mut previous, vec![counter(5), histogram(vec![1, 2], 3.0)]);
        assert_eq!(value(&out[0]), 5, "the first export counts from zero");
        let out = deltas(&mut previous, vec![counter(8), histogram(vec![1, 4], 4.5)]);
        assert_eq!(value(&out[0]), 3);
        match &out[1].data {
            Data::Histogram { points, .. } => {
                assert_eq!(points[0].counts, [0, 2]);
                assert_eq!(points[0].sum, 1.5);
            }
            _ => unreachable!(),
        }
        // A producer that started over (a new server): its totals as they are.
        let out = deltas(&mut previous, vec![counter(2), histogram(vec![0, 1], 0.5)]);
        assert_eq!(value(&out[0]), 2);
        match &out[1].data {
            Data::Histogram { points, .. } => assert_eq!(points[0].counts, [0, 1]),
            _ => unreachable!(),
        }
        let out = deltas(&mut previous, vec![counter(2)]);
        assert_eq!(value(&out[0]), 0);
    }
}
