//! Keep-alive connections of one component's outbound HTTP requests
//! (`connection_pooling` in `[outbound_http]`, on by default as in Spin).
//!
//! A connection whose response was read to its end goes back to its
//! component's pool, under its destination (scheme, host, port and, for
//! HTTPS, the TLS client configuration it was made with), and the next
//! request there takes it instead of connecting and shaking hands again.
//! A pooled connection is only taken for an address the request's own grant
//! check let through, so a reload that revokes a grant or blocks a network
//! also stops reuse of what was connected before it. Components never share
//! connections: each has its own pool.
//!
//! An HTTP/2 connection (HTTPS servers that choose `h2` by ALPN, and
//! clear-text `http://` destinations named for HTTP/2 with prior knowledge,
//! "h2c") joins the pool as soon as it is made and stays there while in use:
//! the requests to its destination share it, each on a stream of its own, and
//! its idle time counts from the last request that took it. Whether a
//! clear-text destination is h2c is part of its key, so a reload that names
//! it (or stops naming it) never hands a request a connection of the other
//! protocol.
//!
//! Idle connections are closed after [`IDLE_TIMEOUT`] (as hyper-util's and
//! Go's clients do), when the server closes them, or at the component's next
//! request once a reload has turned `connection_pooling` off; at most
//! [`MAX_IDLE_PER_DESTINATION`] are kept per destination and
//! [`MAX_IDLE`] per component. Each pool counts the connections its component
//! opened and the requests that reused one ([`ConnectionStats`], rendered by
//! `skiff up --metrics`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use skiff_outbound_networking::OutboundTarget;
use wasmtime_wasi_http::WasiBody;

/// How long an unused connection stays open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most idle connections kept for one destination: enough for a component
/// with a request in flight on each of 128 connections to keep them all.
pub const MAX_IDLE_PER_DESTINATION: usize = 128;
/// Most idle connections kept for one component.
pub const MAX_IDLE: usize = 512;

/// The sending half of a connection (its I/O runs in a task of its own):
/// HTTP/1, one request at a time, or HTTP/2 (chosen by ALPN, or clear-text
/// with prior knowledge), whose requests share it, each on a stream of its own.
pub(crate) enum Conn {
    /// HTTP/1.1.
    H1(hyper::client::conn::http1::SendRequest<WasiBody>),
    /// HTTP/2; clones send on the same connection.
    H2(hyper::client::conn::http2::SendRequest<WasiBody>),
}

impl Conn {
    /// Whether it is HTTP/2.
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self, Conn::H2(_))
    }

    /// Whether a request can be sent on it now.
    pub(crate) fn is_ready(&self) -> bool {
        match self {
            Conn::H1(conn) => conn.is_ready(),
            Conn::H2(conn) => conn.is_ready(),
        }
    }

    /// Whether its server (or an error) has closed it.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Conn::H1(conn) => conn.is_closed(),
            Conn::H2(conn) => conn.is_closed(),
        }
    }

    /// Another sender on the same HTTP/2 connection (`None` for HTTP/1).
    fn share(&self) -> Option<Conn> {
        match self {
            Conn::H1(_) => None,
            Conn::H2(conn) => Some(Conn::H2(conn.clone())),
        }
    }

    /// Sends `request`; an error hands back a request that was not sent.
    pub(crate) async fn try_send_request(
        &mut self,
        request: http::Request<WasiBody>,
    ) -> Result<
        http::Response<hyper::body::Incoming>,
        hyper::client::conn::TrySendError<http::Request<WasiBody>>,
    > {
        match self {
            Conn::H1(conn) => conn.try_send_request(request).await,
            Conn::H2(conn) => conn.try_send_request(request).await,
        }
    }
}

/// Where a pooled connection goes, and how.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Destination {
    target: OutboundTarget,
    /// The address of the TLS configuration (`0` for plain HTTP); the
    /// configuration is kept alive by every connection made with it, so the
    /// address cannot name another one while any such connection is pooled.
    tls: usize,
    /// Whether plain HTTP goes as HTTP/2 with prior knowledge (h2c).
    h2c: bool,
}

impl Destination {
    /// `target`, reached with `tls` (`None`: plain HTTP), over clear-text
    /// HTTP/2 with prior knowledge when `h2c`.
    pub(crate) fn new(
        target: &OutboundTarget,
        tls: Option<&Arc<rustls::ClientConfig>>,
        h2c: bool,
    ) -> Self {
        Destination {
            target: target.clone(),
            tls: tls.map_or(0, |config| Arc::as_ptr(config) as usize),
            h2c,
        }
    }
}

/// An idle connection.
struct Idle {
    conn: Conn,
    peer: SocketAddr,
    since: Instant,
    _tls: Option<Arc<rustls::ClientConfig>>,
}

/// A connection in use whose response may leave it reusable.
pub(crate) struct Lease {
    pub(crate) pool: Arc<Pool>,
    pub(crate) destination: Destination,
    pub(crate) conn: Conn,
    pub(crate) peer: SocketAddr,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

impl Lease {
    /// Returns the connection to its pool once hyper is ready to send on it
    /// again: at once when its response has been read to the end, or after
    /// the rest of a request body the server answered without waiting for.
    /// An HTTP/2 connection stays in the pool while in use ([`Pool::share`]):
    /// there is nothing to return.
    pub(crate) fn release(self) {
        let Lease {
            pool,
            destination,
            conn,
            peer,
            tls,
        } = self;
        let Conn::H1(mut conn) = conn else {
            return;
        };
        if conn.is_ready() {
            pool.put(destination, Conn::H1(conn), peer, tls);
        } else if !conn.is_closed() {
            tokio::spawn(async move {
                if conn.ready().await.is_ok() {
                    pool.put(destination, Conn::H1(conn), peer, tls);
                }
            });
        }
    }
}

/// One component's idle connections, and what its outbound HTTP connections
/// have done.
pub struct Pool {
    state: Mutex<State>,
    idle_timeout: Duration,
    opened: AtomicU64,
    reused: AtomicU64,
}

/// What one component's outbound HTTP connections have done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Connections opened (connected, with TLS established for HTTPS), with
    /// `connection_pooling` on or off.
    pub opened: u64,
    /// Requests sent on a kept-alive connection instead of a new one.
    pub reused: u64,
    /// Kept-alive connections in the pool now: HTTP/1 ones idle, and
    /// HTTP/2 ones open to more requests.
    pub idle: usize,
}

#[derive(Default)]
struct State {
    idle: HashMap<Destination, Vec<Idle>>,
    count: usize,
    /// Whether a task is closing expired connections.
    reaping: bool,
}

impl Default for Pool {
    fn default() -> Self {
        Pool::with_idle_timeout(IDLE_TIMEOUT)
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("idle", &self.idle_count())
            .finish()
    }
}

impl Pool {
    /// A pool whose connections close after `idle_timeout` unused.
    pub fn with_idle_timeout(idle_timeout: Duration) -> Self {
        Pool {
            state: Mutex::default(),
            idle_timeout,
            opened: AtomicU64::new(0),
            reused: AtomicU64::new(0),
        }
    }

    /// Connections opened, requests that reused one, and those idle now.
    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            opened: self.opened.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            idle: self.idle_count(),
        }
    }

    /// Counts a connection opened.
    pub(crate) fn count_opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request sent on a kept-alive connection.
    pub(crate) fn count_reused(&self) {
        self.reused.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes every idle connection (`connection_pooling` was turned off).
    pub(crate) fn clear(&self) {
        let idle = {
            let mut state = self.lock();
            if state.count == 0 {
                return;
            }
            state.count = 0;
            std::mem::take(&mut state.idle)
        };
        // Dropping a connection's sender ends its I/O task, which closes it.
        drop(idle);
    }

    /// How many idle connections the pool holds.
    pub fn idle_count(&self) -> usize {
        self.lock().count
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently used idle connection to `destination` whose peer is
    /// one of `addrs` (the addresses the request's grant allows), if any.
    pub(crate) fn take(
        &self,
        destination: &Destination,
        addrs: &[SocketAddr],
    ) -> Option<(Conn, SocketAddr)> {
        let mut state = self.lock();
        let State { idle, count, .. } = &mut *state;
        let list = idle.get_mut(destination)?;
        let before = list.len();
        let now = Instant::now();
        list.retain(|idle| self.usable(idle, now));
        let found = list
            .iter()
            .rposition(|idle| idle.conn.is_ready() && addrs.contains(&idle.peer))
            .map(|i| match list[i].conn.share() {
                // HTTP/2: shared, so it stays; its idle time starts again.
                Some(shared) => {
                    list[i].since = now;
                    (shared, list[i].peer)
                }
                None => {
                    let idle = list.remove(i);
                    (idle.conn, idle.peer)
                }
            });
        *count -= before - list.len();
        if list.is_empty() {
            idle.remove(destination);
        }
        found
    }

    fn usable(&self, idle: &Idle, now: Instant) -> bool {
        !idle.conn.is_closed() && now.duration_since(idle.since) < self.idle_timeout
    }

    /// Keeps a new HTTP/2 connection for the requests to `destination` from
    /// now on, while its first request is still in flight: they share it.
    pub(crate) fn share(
        self: &Arc<Self>,
        destination: &Destination,
        conn: &Conn,
        peer: SocketAddr,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) {
        if let Some(shared) = conn.share() {
            self.clone().put(destination.clone(), shared, peer, tls);
        }
    }

    /// Keeps a connection for the next request to `destination`.
    fn put(
        self: Arc<Self>,
        destination: Destination,
        conn: Conn,
        peer: SocketAddr,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) {
        let mut state = self.lock();
        if state.count >= MAX_IDLE {
            return;
        }
        let State {
            idle,
            count,
            reaping,
        } = &mut *state;
        let list = idle.entry(destination).or_default();
        if list.len() >= MAX_IDLE_PER_DESTINATION {
            list.remove(0);
            *count -= 1;
        }
        list.push(Idle {
            conn,
            peer,
            since: Instant::now(),
            _tls: tls,
        });
        *count += 1;
        if !*reaping {
            *reaping = true;
            tokio::spawn(reap(Arc::downgrade(&self), self.idle_timeout));
        }
    }

    /// Closes the connections idle for too long, or closed by their server;
    /// returns how many are left.
    fn sweep(&self) -> usize {
        let mut state = self.lock();
        let State { idle, count, .. } = &mut *state;
        let now = Instant::now();
        idle.retain(|_, list| {
            let before = list.len();
            list.retain(|idle| self.usable(idle, now));
            *count -= before - list.len();
            !list.is_empty()
        });
        *count
    }
}

/// Sweeps `pool` every third of `idle_timeout` until it is empty or gone.
async fn reap(pool: Weak<Pool>, idle_timeout: Duration) {
    loop {
        tokio::time::sleep(idle_timeout / 3).await;
        let Some(pool) = pool.upgrade() else { return };
        if pool.sweep() == 0 {
            let mut state = pool.lock();
            // A connection put back since the sweep finds no reaper running.
            if state.count == 0 {
                state.reaping = false;
                return;
            }
        }
    }
}
