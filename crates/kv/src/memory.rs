//! `type = "memory"`: a store that lives in the host process and is gone when
//! it exits. For tests and throwaway caches.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::error::Result;
use crate::store::{KeyPage, PAGE_SIZE, Store, add_to_counter};

/// An in-memory store. Operations take a short lock, so every single-key
/// operation (including increment and compare-and-swap) is atomic, and so are
/// the batch operations.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // Nothing can panic while the lock is held, but never let a poisoned
        // lock take the store down with it.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn describe(&self) -> String {
        "memory store".to_string()
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.entries().get(key).cloned())
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.entries().insert(key.to_string(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.entries().remove(key);
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.entries().contains_key(key))
    }

    /// The cursor is the number of keys (in key order) already returned.
    async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage> {
        let skip = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
        let entries = self.entries();
        let keys: Vec<String> = entries.keys().skip(skip).take(PAGE_SIZE).cloned().collect();
        let next = skip.saturating_add(keys.len());
        let cursor = (next < entries.len()).then_some(next as u64);
        Ok(KeyPage { keys, cursor })
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        let mut entries = self.entries();
        let new = add_to_counter(key, entries.get(key).map(Vec::as_slice), delta)?;
        entries.insert(key.to_string(), new.to_string().into_bytes());
        Ok(new)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool> {
        let mut entries = self.entries();
        if entries.get(key).map(Vec::as_slice) != current {
            return Ok(false);
        }
        entries.insert(key.to_string(), new.to_vec());
        Ok(true)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let entries = self.entries();
        Ok(keys.iter().map(|key| entries.get(key).cloned()).collect())
    }

    async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<()> {
        let mut entries = self.entries();
        for (key, value) in pairs {
            entries.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        let mut entries = self.entries();
        for key in keys {
            entries.remove(key);
        }
        Ok(())
    }
}
