//! Spare instances: a `wasi:http@0.2` component's next instance, made ahead of
//! the request it will serve.
//!
//! Every request still gets a fresh instance that serves it alone; only *when*
//! that instance is made changes. When a request's guest run ends, its store is
//! retired: dropped (resetting its pool slot), then the component's next
//! instance is made. A run driven by its connection's task ([`AfterResponses`])
//! is retired by that task once hyper has written what the poll produced (the
//! response), any other in a task of its own; either way neither the teardown
//! nor the next instantiation sits between a request and its response. The next
//! request
//! takes the spare, re-arms its deadline and fuel, and runs `handle` at once;
//! with none ready (the first request, or more requests at once than spares) it
//! instantiates inline as before.
//!
//! At most [`SPARE_INSTANCES`] spares exist across an app (the pool has room for
//! them on top of the requests' own slots), and [`PER_COMPONENT`] per component:
//! each retired store is replaced by at most one spare, so a component keeps
//! about as many as it had requests in flight at once. A spare unused
//! for [`SPARE_TTL`] is dropped, so an idle app holds nothing for long
//! (`SKIFF_SPARE_INSTANCES` lowers the budget, `0` turns spares off). A
//! component whose instantiation fails gets no more spares: its requests
//! instantiate inline and report the failure themselves.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use skiff_engine::SPARE_INSTANCES;
use skiff_host::{HostState, InstanceConfig};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};

use crate::metrics::ComponentMetrics;

/// How long a spare may wait for a request before it is dropped
/// (`SKIFF_SPARE_TTL_MS` overrides it).
pub(crate) const SPARE_TTL: Duration = Duration::from_secs(10);

/// Spares one component may hold ready.
pub(crate) const PER_COMPONENT: usize = 4;

/// How often unused spares are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// An app's spares: the budget they share and every component's slot.
pub(crate) struct Spares {
    budget: usize,
    ttl: Duration,
    alive: AtomicUsize,
    slots: OnceLock<Vec<Weak<SpareSlot>>>,
    sweeping: AtomicBool,
    /// Set once the app has moved to another engine: no more spares are made
    /// and those ready are dropped.
    closed: AtomicBool,
}

impl Spares {
    /// An app's spare budget: [`SPARE_INSTANCES`] at once, or fewer with
    /// `SKIFF_SPARE_INSTANCES` (`0` turns spares off).
    pub(crate) fn new() -> Arc<Self> {
        let env = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok());
        Arc::new(Spares {
            budget: env("SKIFF_SPARE_INSTANCES").map_or(SPARE_INSTANCES as usize, |n| {
                n.min(u64::from(SPARE_INSTANCES)) as usize
            }),
            ttl: env("SKIFF_SPARE_TTL_MS").map_or(SPARE_TTL, Duration::from_millis),
            alive: AtomicUsize::new(0),
            slots: OnceLock::new(),
            sweeping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
    }

    /// Drops every spare and makes no more (the app moved to another engine;
    /// these would keep the old one's instances alive for nothing).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.expire(Duration::ZERO);
    }

    /// Records every component's slot, for the sweeper; once, after loading.
    pub(crate) fn register(&self, slots: Vec<Weak<SpareSlot>>) {
        let _ = self.slots.set(slots);
    }

    /// Drops every spare unused for `ttl` or longer.
    pub(crate) fn expire(&self, ttl: Duration) {
        for slot in self.slots.get().into_iter().flatten() {
            if let Some(slot) = slot.upgrade() {
                slot.expire(ttl);
            }
        }
    }

    /// Starts the sweeper (once) on the current tokio runtime.
    fn sweep(self: &Arc<Self>) {
        if self.sweeping.load(Ordering::Relaxed) || self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let spares = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match spares.upgrade() {
                    Some(spares) => {
                        spares.expire(spares.ttl);
                    }
                    None => break,
                }
            }
        });
    }
}

/// A spare: a fresh instance and its store, never run.
pub(crate) struct Spare {
    /// Its store, armed when it was made; re-arm before use.
    pub(crate) store: Store<HostState>,
    /// The instance's `wasi:http/incoming-handler`.
    pub(crate) proxy: Proxy,
    /// How long store creation plus instantiation took.
    pub(crate) took: Duration,
    made: Instant,
    /// The thread that made it ([`this_thread`]).
    thread: usize,
}

/// Which of a component's spares, given the threads that made them (oldest
/// first), a request on thread `here` takes: the newest made here, else the
/// newest.
fn pick(
    mut made_on: impl ExactSizeIterator<Item = usize> + DoubleEndedIterator,
    here: usize,
) -> Option<usize> {
    let newest = made_on.len().checked_sub(1)?;
    Some(made_on.rposition(|thread| thread == here).unwrap_or(newest))
}

/// A small number naming the current thread, for [`SpareSlot::take`]'s
/// preference for spares made on the thread that takes them.
fn this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static THIS: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    THIS.with(|id| *id)
}

/// What it takes to make one component's instances.
pub(crate) struct Maker {
    /// The app's engine.
    pub(crate) engine: wasmtime::Engine,
    /// The component, pre-instantiated.
    pub(crate) pre: ProxyPre<HostState>,
    /// Its grants.
    pub(crate) config: Arc<InstanceConfig>,
    /// Its request timeout.
    pub(crate) timeout: Duration,
    /// Its metrics.
    pub(crate) metrics: Arc<ComponentMetrics>,
}

/// One component's spares and what it takes to make the next one.
pub(crate) struct SpareSlot {
    spares: Arc<Spares>,
    maker: Maker,
    /// Its spares, ready and being made.
    ready: Mutex<Ready>,
    broken: AtomicBool,
}

/// A component's spares: those ready, oldest first, and the number being
/// made; together never more than [`PER_COMPONENT`].
#[derive(Default)]
struct Ready {
    spares: Vec<Spare>,
    making: usize,
}

impl SpareSlot {
    /// A component's (empty) slot.
    pub(crate) fn new(spares: Arc<Spares>, maker: Maker) -> Arc<Self> {
        Arc::new(SpareSlot {
            spares,
            maker,
            ready: Mutex::default(),
            broken: AtomicBool::new(false),
        })
    }

    /// A spare, if one is ready, re-armed for a request starting now; counts
    /// it (and its instantiation) in the component's metrics. The newest made
    /// on this thread is preferred, then the newest made anywhere: a spare's
    /// store, instance state and freshly reset memory are still in the cache
    /// of the core that made it, and a request served on another core would
    /// fetch them from there.
    pub(crate) fn take(&self) -> Option<Spare> {
        let mut spare = {
            let mut ready = self.lock();
            let at = pick(ready.spares.iter().map(|spare| spare.thread), this_thread())?;
            ready.spares.remove(at)
        };
        self.spares.alive.fetch_sub(1, Ordering::AcqRel);
        if self
            .maker
            .config
            .rearm(&mut spare.store, Some(self.maker.timeout))
            .is_err()
        {
            return None;
        }
        self.maker.metrics.instantiation.observe(spare.took);
        self.maker.metrics.count_preinstantiated();
        Some(spare)
    }

    /// How many spares this component has, ready or being made.
    pub(crate) fn held(&self) -> usize {
        let ready = self.lock();
        ready.spares.len() + ready.making
    }

    /// Makes up to `n` spares, each in a task of its own on the current tokio
    /// runtime (none outside one): the first spares on an engine the app has
    /// just moved to.
    pub(crate) fn warm(self: &Arc<Self>, n: usize) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for _ in 0..n {
            let slot = self.clone();
            rt.spawn(async move { slot.refill().await });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ready> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops this component's spares unused for `ttl` or longer.
    fn expire(&self, ttl: Duration) {
        let mut ready = self.lock();
        let fresh = ready
            .spares
            .partition_point(|spare| spare.made.elapsed() >= ttl);
        let expired: Vec<Spare> = ready.spares.drain(..fresh).collect();
        drop(ready);
        self.spares.alive.fetch_sub(expired.len(), Ordering::AcqRel);
    }

    /// Ends a request's store off the request's path: drops it, then makes
    /// one more spare for the component ([`SpareSlot::refill`]). Inside a connection's poll
    /// ([`AfterResponses`]) that happens once the poll is over; elsewhere in a
    /// task of its own; outside a tokio runtime the store is just dropped.
    pub(crate) fn retire(self: &Arc<Self>, store: Store<HostState>) {
        let job = Retired {
            slot: self.clone(),
            store,
        };
        let job = RETIRED.with(|queue| match &mut *queue.borrow_mut() {
            Some(queue) => {
                queue.push(job);
                None
            }
            None => Some(job),
        });
        if let Some(job) = job
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(job.finish());
        }
    }

    /// Makes a spare unless this component has [`PER_COMPONENT`] ready or being
    /// made, the app's budget is spent, or this component cannot be
    /// instantiated. Two workers may each make one at once: a retired store
    /// whose refill were skipped because another was under way would leave the
    /// component a spare short, and a later request would instantiate inline.
    async fn refill(self: &Arc<Self>) {
        if self.broken.load(Ordering::Acquire) || self.spares.closed.load(Ordering::Acquire) {
            return;
        }
        {
            let mut ready = self.lock();
            if ready.spares.len() + ready.making >= PER_COMPONENT {
                return;
            }
            ready.making += 1;
        }
        if self.spares.alive.fetch_add(1, Ordering::AcqRel) >= self.spares.budget {
            self.spares.alive.fetch_sub(1, Ordering::AcqRel);
            self.done_making();
            return;
        }
        self.spares.sweep();
        let start = Instant::now();
        let made = async {
            let maker = &self.maker;
            let mut store = maker.config.new_store(&maker.engine, Some(maker.timeout))?;
            let proxy = maker.pre.instantiate_async(&mut store).await?;
            let took = start.elapsed();
            anyhow::Ok(Spare {
                store,
                proxy,
                took,
                made: start + took,
                thread: this_thread(),
            })
        };
        match made.await {
            Ok(spare) => {
                let mut ready = self.lock();
                ready.making -= 1;
                if self.spares.closed.load(Ordering::Acquire) {
                    // Closed while it was being made ([`Spares::close`] holds
                    // the lock while it drains, so no spare slips past it).
                    drop(ready);
                    self.spares.alive.fetch_sub(1, Ordering::AcqRel);
                    drop(spare);
                } else {
                    ready.spares.push(spare);
                }
            }
            Err(err) => {
                self.done_making();
                self.spares.alive.fetch_sub(1, Ordering::AcqRel);
                // A full pool passes; anything else would fail every time.
                if !crate::pool_exhausted(&format!("{err:#}")) {
                    self.broken.store(true, Ordering::Release);
                }
                tracing::debug!("no spare instance: {err:#}");
            }
        }
    }

    /// Ends a spare's making that produced none.
    fn done_making(&self) {
        self.lock().making -= 1;
    }
}

/// A store whose request is over, waiting to be dropped and replaced by a spare.
struct Retired {
    slot: Arc<SpareSlot>,
    store: Store<HostState>,
}

impl Retired {
    async fn finish(self) {
        drop(self.store);
        self.slot.refill().await;
    }
}

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

thread_local! {
    /// While a connection's future is polled: the stores retired during that
    /// poll. `None` outside one.
    static RETIRED: RefCell<Option<Vec<Retired>>> = const { RefCell::new(None) };
}

/// A connection's future, which after each poll of it finishes the stores its
/// guest runs retired: the response that poll produced has been written by then,
/// so teardown and the next spare follow it instead of delaying it, in the
/// connection's own task (no spawn, no wake-up of another worker). Work left when
/// the connection ends (or is dropped) moves to a task of its own.
pub(crate) struct AfterResponses<F> {
    inner: Pin<Box<F>>,
    jobs: Vec<Job>,
}

impl<F: Future> AfterResponses<F> {
    /// Wraps a connection's future.
    pub(crate) fn new(inner: F) -> Self {
        AfterResponses {
            inner: Box::pin(inner),
            jobs: Vec::new(),
        }
    }
}

impl<F: Future> Future for AfterResponses<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let scope = Scope::enter();
        let out = self.inner.as_mut().poll(cx);
        let retired = scope.exit();
        self.jobs
            .extend(retired.into_iter().map(|r| Box::pin(r.finish()) as Job));
        self.jobs
            .retain_mut(|job| job.as_mut().poll(cx).is_pending());
        if out.is_ready() {
            spawn_all(&mut self.jobs);
        }
        out
    }
}

impl<F> Drop for AfterResponses<F> {
    fn drop(&mut self) {
        spawn_all(&mut self.jobs);
    }
}

/// A connection poll's collection of retired stores; restores the thread's
/// previous state when it ends, even by a panic.
struct Scope(Option<Option<Vec<Retired>>>);

impl Scope {
    fn enter() -> Self {
        Scope(Some(RETIRED.with(|queue| queue.replace(Some(Vec::new())))))
    }

    /// The stores retired since [`Scope::enter`].
    fn exit(mut self) -> Vec<Retired> {
        let outer = self.0.take().unwrap_or_default();
        RETIRED
            .with(|queue| queue.replace(outer))
            .unwrap_or_default()
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(outer) = self.0.take() {
            drop(RETIRED.with(|queue| queue.replace(outer)));
        }
    }
}

fn spawn_all(jobs: &mut Vec<Job>) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        for job in jobs.drain(..) {
            rt.spawn(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_takes_the_newest_spare_made_on_its_own_thread() {
        fn threads(
            made_on: &[usize],
        ) -> impl DoubleEndedIterator<Item = usize> + ExactSizeIterator {
            made_on.iter().copied()
        }
        assert_eq!(pick(threads(&[]), 0), None);
        assert_eq!(pick(threads(&[1]), 0), Some(0), "any spare beats none");
        assert_eq!(pick(threads(&[0, 1, 0, 1]), 0), Some(2));
        assert_eq!(pick(threads(&[0, 1, 0, 1]), 1), Some(3));
        assert_eq!(pick(threads(&[1, 1]), 0), Some(1), "else the newest");
        assert_eq!(pick(threads(&[0, 1, 1]), 0), Some(0));
    }

    #[test]
    fn threads_are_told_apart() {
        let here = this_thread();
        assert_eq!(this_thread(), here);
        let there = std::thread::spawn(this_thread).join().unwrap();
        assert_ne!(there, here);
    }
}
