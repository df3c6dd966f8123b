//! Wall-clock deadlines for guest execution, enforced through epochs.
//!
//! The epoch ticker advances every [`crate::EPOCH_TICK`]. An armed store gets a
//! callback at each tick while wasm runs: before the deadline the guest yields to
//! the async executor (so a spinning guest never starves other requests on the same
//! worker thread); at the deadline the callback fails with [`DeadlineExceeded`],
//! which unwinds the guest as a trap that callers can recognise by downcasting.

use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

/// The error a guest is stopped with when it runs past its time budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("guest exceeded its time limit of {0:?}")]
pub struct DeadlineExceeded(pub Duration);

/// Makes wasm in `store` yield at every epoch tick and stop once `timeout` (from now) has passed.
///
/// The first yield comes at the second tick from now, so after at least one
/// whole tick of running: a guest that runs for less than a tick (nearly every
/// request) is never interrupted, and whatever it answers is complete by the
/// time its caller first regains control. At the first tick it would yield
/// 0–5 ms in, at random. A guest that keeps running yields at every tick after
/// that.
///
/// With `timeout = None` the guest still yields at every tick but is never stopped.
/// The store must be driven with wasmtime's `*_async` entry points.
pub fn arm_deadline<T: 'static>(store: &mut Store<T>, timeout: Option<Duration>) {
    let start = Instant::now();
    store.set_epoch_deadline(2);
    store.epoch_deadline_callback(move |_| {
        if let Some(limit) = timeout
            && start.elapsed() >= limit
        {
            return Err(wasmtime::Error::new(DeadlineExceeded(limit)));
        }
        Ok(UpdateDeadline::Yield(1))
    });
}

/// Walks an error's chain looking for [`DeadlineExceeded`].
pub fn find_deadline(err: &anyhow::Error) -> Option<DeadlineExceeded> {
    err.chain()
        .find_map(|e| e.downcast_ref::<DeadlineExceeded>().copied())
}
