//! Closing connections that stay idle: no request in progress for longer than
//! the server's idle timeout.
//!
//! A connection is busy from the moment hyper hands the service a request head
//! until that request's response body has been sent (or dropped); otherwise it
//! is idle: opened and silent, trickling a request head, or kept alive between
//! requests, over HTTP/1 or HTTP/2 alike. One [`Sweeper`] per listener looks
//! its connections over a few times per idle timeout and closes those idle for
//! it, so a request costs a few atomic operations and no timer (hyper's
//! header-read timeout registers one per request, 1.4% of a hello request's
//! instructions; a timer per connection, polled with it, still cost 0.4%; and
//! neither covers HTTP/2 or a connection's first bytes).

use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

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

/// The instant the server's idle clocks count from.
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

/// Closes the connections of one listener that stay idle: every connection is
/// registered with its [`Activity`] and its task's abort handle, and a task of
/// the sweeper's own looks them over a few times per limit, aborting (and so
/// closing) each one idle for `limit`. A request pays nothing for this beyond
/// its [`Busy`] count: no timer, and no poll of one, on its connection.
pub(crate) struct Sweeper {
    watched: Watched,
    task: AbortHandle,
}

/// The connections a [`Sweeper`] watches: each one's activity and task.
type Watched = Arc<Mutex<Vec<(Arc<Activity>, AbortHandle)>>>;

impl Sweeper {
    /// Starts sweeping for connections idle for `limit`, on the current runtime.
    pub(crate) fn start(limit: Duration) -> Self {
        let watched = Watched::default();
        let every = (limit / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let swept = watched.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let mut watched = swept.lock().unwrap_or_else(|e| e.into_inner());
                watched.retain(|(activity, conn)| {
                    if conn.is_finished() {
                        return false;
                    }
                    if activity.idle_for().is_some_and(|idle| idle >= limit) {
                        conn.abort();
                        return false;
                    }
                    true
                });
            }
        })
        .abort_handle();
        Sweeper { watched, task }
    }

    /// Watches a connection: `conn` (its task) is aborted once `activity` has
    /// been idle for the limit.
    pub(crate) fn watch(&self, activity: Arc<Activity>, conn: AbortHandle) {
        self.watched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((activity, conn));
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.task.abort();
    }
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
    async fn idle_connections_are_aborted_busy_ones_are_not() {
        let limit = Duration::from_millis(100);
        let sweeper = Sweeper::start(limit);
        let watch = |activity: &Arc<Activity>| {
            let conn = tokio::spawn(std::future::pending::<()>());
            sweeper.watch(activity.clone(), conn.abort_handle());
            conn
        };
        let started = Instant::now();
        let idle = Activity::new();
        let idle_conn = watch(&idle);
        let busy = Activity::new();
        let request = busy.begin();
        let busy_conn = watch(&busy);

        // Idle from the start: aborted once the limit has passed.
        assert!(idle_conn.await.unwrap_err().is_cancelled());
        assert!(started.elapsed() >= limit);

        // Busy for three limits, then idle: aborted a limit after the request ended.
        tokio::time::sleep(3 * limit).await;
        assert!(
            !busy_conn.is_finished(),
            "a connection with a request in progress was closed"
        );
        drop(request);
        let ended = Instant::now();
        assert!(busy_conn.await.unwrap_err().is_cancelled());
        assert!(ended.elapsed() >= limit);
    }
}
