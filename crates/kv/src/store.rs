//! The backend trait every key-value store implements, and the limits wrapper.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};

/// How many keys one [`Store::list_keys`] page holds at most (Redis may
/// return a few more or fewer: `SCAN`'s `COUNT` is a hint).
pub const PAGE_SIZE: usize = 1000;

/// One page of keys from [`Store::list_keys`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys of this page, in no particular order.
    pub keys: Vec<String>,
    /// The cursor of the next page, or `None` when this was the last one.
    pub cursor: Option<u64>,
}

/// A key-value store as guests see it: string keys, byte values.
///
/// Written for the semantics the guest interfaces need (`wasi:keyvalue`
/// `store`/`atomics`/`batch`, Spin's `key-value`), not for one backend:
///
/// - reads see the caller's own earlier writes;
/// - [`increment`](Store::increment) and
///   [`compare_and_swap`](Store::compare_and_swap) are atomic with respect to
///   every other operation on the same store, including from other hosts
///   sharing the backend;
/// - counters are stored as their decimal text (`b"42"`), which is what Redis
///   `INCRBY` uses, so a counter reads the same on every backend;
/// - batch operations are not atomic unless a backend says so;
/// - [`list_keys`](Store::list_keys) pages with an opaque `u64` cursor and may
///   miss or repeat keys written concurrently.
///
/// Size limits are not the backends' business: [`Limited`] checks them in
/// front of any store.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Names this store in messages, e.g. `redis at 127.0.0.1:6379`.
    fn describe(&self) -> String;

    /// The value of `key`, or `None` when it is absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Sets `key` to `value`, replacing any previous value.
    async fn set(&self, key: &str, value: &[u8]) -> Result<()>;

    /// Removes `key`; removing an absent key is not an error.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Whether `key` is present.
    async fn exists(&self, key: &str) -> Result<bool>;

    /// One page of keys: pass `None` for the first page, then each page's
    /// [`KeyPage::cursor`] until it is `None`.
    async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage>;

    /// Atomically adds `delta` to the integer stored at `key` (an absent key
    /// counts as 0) and returns the new value.
    ///
    /// Fails with [`Error::NotAnInteger`] when the value is not decimal text
    /// of an `i64`, and [`Error::Overflow`] when the sum leaves `i64`.
    async fn increment(&self, key: &str, delta: i64) -> Result<i64>;

    /// Atomically sets `key` to `new` if its current value is `current`
    /// (`None`: if the key is absent). Returns whether the swap happened.
    async fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8])
    -> Result<bool>;

    /// The values of `keys`, in the same order, `None` for absent keys.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    /// Sets every pair of `entries` (not atomically unless the backend says so).
    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<()> {
        for (key, value) in entries {
            self.set(key, value).await?;
        }
        Ok(())
    }

    /// Removes every key of `keys`; absent keys are skipped.
    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            self.delete(key).await?;
        }
        Ok(())
    }
}

/// Every key of `store`, sorted and without duplicates, walking all pages.
pub async fn all_keys(store: &dyn Store) -> Result<Vec<String>> {
    let mut keys = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = store.list_keys(cursor).await?;
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(keys.into_iter().collect()),
        }
    }
}

/// Parses a stored counter (decimal text of an `i64`).
pub(crate) fn parse_counter(key: &str, value: &[u8]) -> Result<i64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| Error::NotAnInteger {
            key: key.to_string(),
        })
}

/// `current + delta` for the counter at `key`, as its new stored text.
pub(crate) fn add_to_counter(key: &str, current: Option<&[u8]>, delta: i64) -> Result<i64> {
    let current = match current {
        Some(bytes) => parse_counter(key, bytes)?,
        None => 0,
    };
    current.checked_add(delta).ok_or_else(|| Error::Overflow {
        key: key.to_string(),
    })
}

/// Size limits on what guests store.
///
/// The defaults are the limits Spin documents for its key-value store: keys up
/// to 256 bytes, values up to 1 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest key, in bytes of UTF-8.
    pub max_key_bytes: usize,
    /// Largest value, in bytes.
    pub max_value_bytes: usize,
    /// Most keys in one batch operation.
    pub max_batch_keys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key_bytes: 256,
            max_value_bytes: 1024 * 1024,
            max_batch_keys: 1000,
        }
    }
}

impl Limits {
    /// Fails with [`Error::KeyTooLarge`] when `key` is over the limit.
    pub fn check_key(&self, key: &str) -> Result<()> {
        if key.len() > self.max_key_bytes {
            return Err(Error::KeyTooLarge {
                key: key.to_string(),
                len: key.len(),
                max: self.max_key_bytes,
            });
        }
        Ok(())
    }

    /// Fails when `key` or `value` is over its limit.
    pub fn check_entry(&self, key: &str, value: &[u8]) -> Result<()> {
        self.check_key(key)?;
        if value.len() > self.max_value_bytes {
            return Err(Error::ValueTooLarge {
                key: key.to_string(),
                len: value.len(),
                max: self.max_value_bytes,
            });
        }
        Ok(())
    }

    fn check_batch(&self, len: usize) -> Result<()> {
        if len > self.max_batch_keys {
            return Err(Error::BatchTooLarge {
                len,
                max: self.max_batch_keys,
            });
        }
        Ok(())
    }
}

/// A store that enforces [`Limits`] before its inner store sees a request.
///
/// The [`KeyValueManager`](crate::KeyValueManager) wraps every backend it
/// hands out in one, so the limits hold whatever the backend.
pub struct Limited {
    inner: Arc<dyn Store>,
    limits: Limits,
}

impl Limited {
    /// Wraps `inner` with `limits`.
    pub fn new(inner: Arc<dyn Store>, limits: Limits) -> Self {
        Limited { inner, limits }
    }

    /// The limits enforced.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

#[async_trait]
impl Store for Limited {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.limits.check_key(key)?;
        self.inner.get(key).await
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.limits.check_entry(key, value)?;
        self.inner.set(key, value).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.limits.check_key(key)?;
        self.inner.delete(key).await
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        self.limits.check_key(key)?;
        self.inner.exists(key).await
    }

    async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage> {
        self.inner.list_keys(cursor).await
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        self.limits.check_key(key)?;
        self.inner.increment(key, delta).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool> {
        self.limits.check_entry(key, new)?;
        self.inner.compare_and_swap(key, current, new).await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.limits.check_batch(keys.len())?;
        keys.iter().try_for_each(|key| self.limits.check_key(key))?;
        self.inner.get_many(keys).await
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<()> {
        self.limits.check_batch(entries.len())?;
        entries
            .iter()
            .try_for_each(|(key, value)| self.limits.check_entry(key, value))?;
        self.inner.set_many(entries).await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        self.limits.check_batch(keys.len())?;
        keys.iter().try_for_each(|key| self.limits.check_key(key))?;
        self.inner.delete_many(keys).await
    }
}
