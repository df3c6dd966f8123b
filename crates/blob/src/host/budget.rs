//! How many bytes of object values one instance holds in host memory.
//!
//! An object's bytes are in host memory while a guest writes it (until
//! `finish`) and after `get-data` (until the value or its stream is
//! dropped); the guest's own memory limit does not cover them. Each value
//! holds a [`Reservation`] on its instance's [`Budget`], released when the
//! value goes, so one instance cannot hold more than a bound however many
//! values it opens.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

/// The bytes held by one instance's values.
#[derive(Clone, Default)]
pub(crate) struct Budget {
    used: Arc<AtomicU64>,
}

impl Budget {
    /// An empty reservation on this budget.
    pub(crate) fn reservation(&self) -> Reservation {
        Reservation {
            used: self.used.clone(),
            held: 0,
        }
    }
}

/// Bytes held against a [`Budget`], given back when dropped.
pub(crate) struct Reservation {
    used: Arc<AtomicU64>,
    held: u64,
}

impl Reservation {
    /// Holds `bytes` more, unless the budget's total would pass `max`
    /// ([`Error::TooMuchHeld`]).
    pub(crate) fn grow(&mut self, bytes: u64, max: u64) -> Result<(), Error> {
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        let after = before.saturating_add(bytes);
        if after > max {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(Error::TooMuchHeld { len: after, max });
        }
        self.held += bytes;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.used.fetch_sub(self.held, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_add_up_and_give_back() {
        let budget = Budget::default();
        let mut a = budget.reservation();
        a.grow(60, 100).unwrap();
        let mut b = budget.reservation();
        let err = b.grow(50, 100).unwrap_err();
        assert_eq!(err, Error::TooMuchHeld { len: 110, max: 100 });
        b.grow(40, 100).unwrap();
        drop(a);
        b.grow(60, 100).unwrap();
        drop(b);
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
    }
}
