//! `http.server.request.duration`, the request metric of OpenTelemetry's
//! HTTP conventions, so a collector's stock HTTP dashboards (rate, errors,
//! latency by route) read Skiff as they read any service.
//!
//! Every request the server answers is timed, the host's own answers too (a
//! path no route matches, a `static_response`), from its arrival to the end
//! of its response body: a streamed response counts until its last byte, and
//! one the client gave up on until then. Each attribute set (method, status,
//! route, scheme, protocol version, component) has a histogram of its own on
//! the same buckets as Skiff's other histograms.
//!
//! It is kept only while metrics are exported by OTLP: with them off the
//! request path does none of this.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use skiff_telemetry::metrics::{AttributeValue, Data, HistogramPoint, Metric};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::metrics::{BOUNDS_NS, Histogram};

/// The methods the conventions name; any other is reported as `_OTHER`, so
/// a client cannot make series without bound.
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// One series' attributes, as the map keeps them.
#[derive(Debug, Clone, PartialOrd, Ord)]
struct Series {
    method: &'static str,
    status: u16,
    /// The route as the manifest writes it; `None` when none matched (or a
    /// private route).
    route: Option<Box<str>>,
    https: bool,
    version: &'static str,
    component: Option<Box<str>>,
}

/// One series' attributes, borrowed from the request and the app's route
/// table: what a request looks its series up by, so that finding a series
/// already seen allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SeriesRef<'a> {
    method: &'static str,
    status: u16,
    route: Option<&'a str>,
    https: bool,
    version: &'static str,
    component: Option<&'a str>,
}

impl SeriesRef<'_> {
    fn owned(self) -> Series {
        Series {
            method: self.method,
            status: self.status,
            route: self.route.map(Into::into),
            https: self.https,
            version: self.version,
            component: self.component.map(Into::into),
        }
    }
}

/// What both key forms have in common: the map is keyed by [`Series`] and
/// searched with a [`SeriesRef`], both seen through this trait (the
/// standard library's way to look up by a borrowed form that is not a plain
/// reference to the key).
trait SeriesKey {
    fn key(&self) -> SeriesRef<'_>;
}

impl SeriesKey for Series {
    fn key(&self) -> SeriesRef<'_> {
        SeriesRef {
            method: self.method,
            status: self.status,
            route: self.route.as_deref(),
            https: self.https,
            version: self.version,
            component: self.component.as_deref(),
        }
    }
}

impl SeriesKey for SeriesRef<'_> {
    fn key(&self) -> SeriesRef<'_> {
        *self
    }
}

impl<'a> Borrow<dyn SeriesKey + 'a> for Series {
    fn borrow(&self) -> &(dyn SeriesKey + 'a) {
        self
    }
}

impl Hash for dyn SeriesKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for dyn SeriesKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn SeriesKey + '_ {}

// The owned key hashes and compares as its borrowed form does, as `Borrow`
// requires.
impl Hash for Series {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for Series {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Series {}

/// What is known of a request when it arrives.
#[derive(Debug)]
pub(crate) struct Arrival {
    started: Instant,
    method: &'static str,
    https: bool,
    version: &'static str,
}

/// An app's request durations, by series; shared with the app's next
/// version on reload, so the totals go on.
#[derive(Debug, Default)]
pub(crate) struct RequestDurations {
    series: RwLock<HashMap<Series, Arc<Histogram>>>,
}

impl RequestDurations {
    /// Notes a request's arrival.
    pub(crate) fn arrival<B>(req: &http::Request<B>) -> Arrival {
        let method = req.method().as_str();
        Arrival {
            started: Instant::now(),
            method: KNOWN_METHODS
                .iter()
                .find(|&&m| m == method)
                .copied()
                .unwrap_or("_OTHER"),
            https: req.uri().scheme_str() == Some("https"),
            version: match req.version() {
                http::Version::HTTP_09 => "0.9",
                http::Version::HTTP_10 => "1.0",
                http::Version::HTTP_2 => "2",
                http::Version::HTTP_3 => "3",
                _ => "1.1",
            },
        }
    }

    /// `resp`, whose body records the request's duration in its series
    /// once it ends (or is dropped unfinished).
    pub(crate) fn time(
        &self,
        arrival: Arrival,
        route: &str,
        component: Option<&str>,
        resp: http::Response<HyperOutgoingBody>,
    ) -> http::Response<HyperOutgoingBody> {
        let series = SeriesRef {
            method: arrival.method,
            status: resp.status().as_u16(),
            route: (!route.is_empty()).then_some(route),
            https: arrival.https,
            version: arrival.version,
            component,
        };
        let histogram = self.histogram(series);
        resp.map(|body| {
            Timed {
                body,
                pending: Some((histogram, arrival.started)),
            }
            .boxed_unsync()
        })
    }

    /// The series' histogram; only a series' first request allocates.
    fn histogram(&self, series: SeriesRef<'_>) -> Arc<Histogram> {
        let key: &dyn SeriesKey = &series;
        if let Some(h) = self.series.read().expect("durations lock").get(key) {
            return h.clone();
        }
        self.series
            .write()
            .expect("durations lock")
            .entry(series.owned())
            .or_default()
            .clone()
    }

    /// The metric, one point per series seen.
    pub(crate) fn collect(&self, out: &mut Vec<Metric>) {
        let mut series: Vec<(Series, Arc<Histogram>)> = self
            .series
            .read()
            .expect("durations lock")
            .iter()
            .map(|(s, h)| (s.clone(), h.clone()))
            .collect();
        if series.is_empty() {
            return;
        }
        // A stable order, for whoever reads the export.
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let points: Vec<HistogramPoint> = series
            .iter()
            .map(|(s, h)| {
                let snap = h.snapshot();
                let mut attributes: Vec<(&'static str, AttributeValue)> = vec![
                    ("http.request.method", s.method.into()),
                    ("http.response.status_code", i64::from(s.status).into()),
                    ("url.scheme", if s.https { "https" } else { "http" }.into()),
                    ("network.protocol.name", "http".into()),
                    ("network.protocol.version", s.version.into()),
                ];
                if let Some(route) = &s.route {
                    attributes.push(("http.route", (**route).into()));
                }
                if s.status >= 500 {
                    attributes.push(("error.type", s.status.to_string().into()));
                }
                if let Some(component) = &s.component {
                    attributes.push(("skiff.component", (**component).into()));
                }
                HistogramPoint {
                    attributes,
                    counts: snap.bucket_counts().to_vec(),
                    sum: snap.sum().as_secs_f64(),
                }
            })
            .collect();
        out.push(Metric {
            name: "http.server.request.duration",
            description: "Duration of HTTP server requests: from arrival to the end of the response body.",
            unit: "s",
            data: Data::Histogram {
                bounds: BOUNDS_NS.iter().map(|&ns| ns as f64 / 1e9).collect(),
                points,
            },
        });
    }
}

/// A response body that records its request's duration when it ends.
struct Timed {
    body: HyperOutgoingBody,
    pending: Option<(Arc<Histogram>, Instant)>,
}

impl Timed {
    fn record(&mut self) {
        if let Some((histogram, started)) = self.pending.take() {
            histogram.observe(started.elapsed());
        }
    }
}

impl Body for Timed {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.record();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        self.record();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str, version: http::Version) -> http::Request<()> {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .version(version)
            .body(())
            .unwrap()
    }

    fn response(status: u16, body: &'static str) -> http::Response<HyperOutgoingBody> {
        let mut resp = http::Response::new(crate::body::full(body));
        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
        resp
    }

    fn attrs(point: &HistogramPoint) -> Vec<(&'static str, AttributeValue)> {
        point.attributes.clone()
    }

    #[tokio::test]
    async fn each_series_is_timed_to_the_end_of_its_body() {
        let durations = RequestDurations::default();
        // Read to the end: recorded.
        let arrival = RequestDurations::arrival(&request("GET", "/a", http::Version::HTTP_11));
        let resp = durations.time(arrival, "/a/...", Some("api"), response(200, "hello"));
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "hello");
        // Dropped unread: recorded too.
        let arrival = RequestDurations::arrival(&request(
            "BREW",
            "https://example.com/x",
            http::Version::HTTP_2,
        ));
        drop(durations.time(arrival, "", None, response(503, "")));
        // A second request of the first series.
        let arrival = RequestDurations::arrival(&request("GET", "/b", http::Version::HTTP_11));
        let resp = durations.time(arrival, "/a/...", Some("api"), response(200, "again"));
        resp.into_body().collect().await.unwrap();

        let mut out = Vec::new();
        durations.collect(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "http.server.request.duration");
        assert_eq!(out[0].unit, "s");
        let Data::Histogram { points, bounds } = &out[0].data else {
            panic!("not a histogram");
        };
        assert_eq!(bounds.len() + 1, points[0].counts.len());
        assert_eq!(points.len(), 2);
        let get = |status: i64| {
            points
                .iter()
                .find(|p| {
                    attrs(p).contains(&("http.response.status_code", AttributeValue::Int(status)))
                })
                .unwrap()
        };
        let ok = get(200);
        assert_eq!(ok.counts.iter().sum::<u64>(), 2);
        assert!(ok.sum > 0.0);
        let mut expected: Vec<(&str, AttributeValue)> = vec![
            ("http.request.method", "GET".into()),
            ("http.response.status_code", AttributeValue::Int(200)),
            ("url.scheme", "http".into()),
            ("network.protocol.name", "http".into()),
            ("network.protocol.version", "1.1".into()),
            ("http.route", "/a/...".into()),
            ("skiff.component", "api".into()),
        ];
        assert_eq!(attrs(ok), expected);
        let failed = get(503);
        assert_eq!(failed.counts.iter().sum::<u64>(), 1);
        expected = vec![
            ("http.request.method", "_OTHER".into()),
            ("http.response.status_code", AttributeValue::Int(503)),
            ("url.scheme", "https".into()),
            ("network.protocol.name", "http".into()),
            ("network.protocol.version", "2".into()),
            ("error.type", "503".into()),
        ];
        assert_eq!(attrs(failed), expected);
    }

    #[test]
    fn a_series_seen_before_is_found_by_its_borrowed_form() {
        let durations = RequestDurations::default();
        let key = |route, component, status| SeriesRef {
            method: "GET",
            status,
            route,
            https: false,
            version: "1.1",
            component,
        };
        let first = durations.histogram(key(Some("/a"), Some("api"), 200));
        let again = durations.histogram(key(Some("/a"), Some("api"), 200));
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same series, one histogram"
        );
        for other in [
            key(Some("/a"), Some("api"), 404),
            key(Some("/b"), Some("api"), 200),
            key(Some("/a"), None, 200),
            key(None, Some("api"), 200),
        ] {
            assert!(
                !Arc::ptr_eq(&first, &durations.histogram(other)),
                "{other:?}"
            );
        }
        assert_eq!(durations.series.read().unwrap().len(), 5);
    }

    #[test]
    fn nothing_is_reported_before_a_request() {
        let mut out = Vec::new();
        RequestDurations::default().collect(&mut out);
        assert!(out.is_empty());
    }
}
