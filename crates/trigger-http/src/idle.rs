//! Closing connections that stay idle: no request in progress for longer than
//! the server's idle timeout.
//!
//! A connection is busy from the moment hyper hands the service a request head
//! until that request's response body has been sent (or dropped); otherwise it
//! is idle: opened and silent, trickling a request head, or kept alive between
//! requests, over HTTP/1 or HTTP/2 alike. One timer per connection checks it,
//! re-armed for when the connection would have been idle long enough, so a
//! request costs a few atomic operations and no timer of its own (hyper's
//! header-read timeout registers one per request, ~1.4% of a hello request's
//! instructions, and covers neither HTTP/2 nor a connection's first bytes).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::Error as HttpError;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// One connection's requests in progress, and since when it has had none.
#[derive(Debug)]
pub(crate) struct Activity {
    busy: AtomicUsize,
    /// Microseconds since [`origin`] at which `busy` last fell to zero (or the
    /// connection opened).
    idle_since: AtomicU64,
}

/// The instant the server's idle clocks count from (tokio's clock, which
/// tests can pause).
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn now_micros() -> u64 {
    Instant::now()
        .saturating_duration_since(origin())
        .as_micros() as u64
}

impl Activity {
    /// A connection that opened now: idle from now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now_micros()),
        })
    }

    /// A request begins; it ends when the returned guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// How long the connection has been idle; `None` while a request is in progress.
    fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.idle_since.load(Ordering::Acquire);
        Some(Duration::from_micros(now_micros().saturating_sub(since)))
    }
}

/// A request in progress on a connection (see [`Activity::begin`]).
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        // Stamp before leaving: a check that sees no request in progress then
        // sees at least this end (`fetch_max`: ends racing on other threads
        // leave the latest).
        self.0.idle_since.fetch_max(now_micros(), Ordering::AcqRel);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request [`Busy`] until it has been sent or dropped.
pub(crate) struct Tracked {
    inner: HyperOutgoingBody,
    _busy: Busy,
}

impl Tracked {
    /// `inner`, keeping `busy` for as long as it lives.
    pub(crate) fn new(inner: HyperOutgoingBody, busy: Busy) -> Self {
        Tracked { inner, _busy: busy }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Drives `conn` to its end, or drops it (closing the connection) once
/// `activity` has been idle for `limit`: `None` then.
pub(crate) async fn bounded<F: Future>(
    conn: F,
    activity: &Activity,
    limit: Duration,
) -> Option<F::Output> {
    let mut conn = pin!(conn);
    let mut check = pin!(tokio::time::sleep(limit));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        while check.as_mut().poll(cx).is_ready() {
            let wait = match activity.idle_for() {
                Some(idle) if idle >= limit => return Poll::Ready(None),
                Some(idle) => limit - idle,
                None => limit,
            };
            check.as_mut().reset(Instant::now() + wait);
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_until_the_last_request_ends() {
        let activity = Activity::new();
        assert!(activity.idle_for().is_some());
        let first = activity.begin();
        let second = activity.begin();
        assert_eq!(activity.idle_for(), None);
        drop(first);
        assert_eq!(activity.idle_for(), None, "one request still in progress");
        std::thread::sleep(Duration::from_millis(20));
        drop(second);
        let idle = activity.idle_for().expect("idle once both ended");
        assert!(
            idle < Duration::from_millis(20),
            "idle counts from the last end: {idle:?}"
        );
    }

    #[tokio::test]
    async fn an_idle_connection_is_dropped_a_busy_one_is_not() {
        let limit = Duration::from_millis(100);
        // Idle from the start: dropped once the limit has passed.
        let activity = Activity::new();
        let started = Instant::now();
        let out = bounded(std::future::pending::<()>(), &activity, limit).await;
        assert_eq!(out, None);
        assert!(started.elapsed() >= limit);

        // Busy for three limits, then idle: dropped a limit after the request ended.
        let activity = Activity::new();
        let busy = activity.begin();
        let conn = async {
            tokio::time::sleep(3 * limit).await;
            drop(busy);
            std::future::pending::<()>().await
        };
        let started = Instant::now();
        assert_eq!(bounded(conn, &activity, limit).await, None);
        assert!(started.elapsed() >= 4 * limit, "{:?}", started.elapsed());

        // A connection that ends by itself gives its output.
        let activity = Activity::new();
        assert_eq!(bounded(async { 7 }, &activity, limit).await, Some(7));
    }
}
