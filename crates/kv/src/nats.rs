//! `type = "nats"`: a store in a NATS JetStream key-value bucket (the
//! backend wasmCloud's `keyvalue-nats` provider uses).
//!
//! One bucket per label, made (one value per key, file storage) if it does
//! not exist yet. [`increment`](Store::increment) and
//! [`compare_and_swap`](Store::compare_and_swap) are atomic through the
//! bucket's revisions: a write that expects the revision it read fails if
//! another writer got in first, and is tried again (`increment`) or reported
//! as not swapped. While the server is unreachable, calls fail at once with
//! [`Error::Backend`] naming it; the client reconnects on its own. Every
//! call is bounded (5 s; a listing 30 s): a request in flight when the
//! server went away is never answered.
//!
//! Keys are guest strings, while a bucket's keys may only hold
//! `[-/_=.a-zA-Z0-9]` (and no empty token between dots). A key that is
//! valid there and holds no `=` is stored as it is, so other NATS clients
//! see the same names; any other is stored escaped, every byte outside
//! `[-/_a-zA-Z0-9]` as `=XX` (hex), and the empty key as `=`.

use std::fmt::Write as _;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream;
use async_nats::jetstream::kv::{CreateErrorKind, Operation, UpdateErrorKind};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryStreamExt;
use skiff_nats::{NatsConfig, async_nats};

use crate::error::{Error, Result};
use crate::store::{KeyPage, PAGE_SIZE, Store, add_to_counter};

const BACKEND: &str = "nats";

/// How long one read or write may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long listing a bucket's keys may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// A store in a JetStream key-value bucket.
pub struct NatsStore {
    /// The connection, shared with other users of the same configuration.
    client: skiff_nats::Connection,
    kv: jetstream::kv::Store,
    /// `nats bucket `B` at nats://…` (never credentials).
    description: String,
}

impl NatsStore {
    /// Connects to the server(s) `config` names and opens `bucket` (in
    /// JetStream domain `domain`, if given), making it if it does not
    /// exist. Fails when the server cannot be reached now, has no JetStream,
    /// or will not make the bucket.
    pub async fn connect(config: &NatsConfig, bucket: &str, domain: Option<&str>) -> Result<Self> {
        let description = format!("nats bucket `{bucket}` at {}", config.describe());
        let client = skiff_nats::shared(config)
            .await
            .map_err(|message| Error::backend(BACKEND, message))?;
        let context = match domain {
            Some(domain) => jetstream::with_domain(client.client().clone(), domain),
            None => jetstream::new(client.client().clone()),
        };
        let kv = match context.get_key_value(bucket).await {
            Ok(kv) => kv,
            Err(missing) => {
                // The bucket's stream, as a key-value bucket is made, but
                // made directly: async-nats's `create_key_value` first
                // reads the account's info in a shape servers before 2.10
                // (Debian's 2.9) do not send.
                let made = context
                    .create_stream(jetstream::stream::Config {
                        name: format!("KV_{bucket}"),
                        description: Some("key-value store of a Skiff app".to_string()),
                        subjects: vec![format!("$KV.{bucket}.>")],
                        max_messages_per_subject: 1,
                        storage: jetstream::stream::StorageType::File,
                        allow_rollup: true,
                        deny_delete: true,
                        allow_direct: true,
                        discard: jetstream::stream::DiscardPolicy::New,
                        num_replicas: 1,
                        ..Default::default()
                    })
                    .await;
                let opened = match made {
                    Ok(_) => context
                        .get_key_value(bucket)
                        .await
                        .map_err(|err| err.to_string()),
                    Err(err) => Err(err.to_string()),
                };
                let domain = domain
                    .map(|d| format!(" in JetStream domain `{d}`"))
                    .unwrap_or_default();
                opened.map_err(|err| {
                    Error::backend(
                        BACKEND,
                        format!(
                            "{description}: could not open the bucket{domain} ({missing}) or \
                             make it ({err}); is JetStream on (`nats-server -js`), and may this \
                             user make streams?"
                        ),
                    )
                })?
            }
        };
        tracing::debug!("opened {description}");
        Ok(NatsStore {
            client,
            kv,
            description,
        })
    }

    /// Runs `call` (named `what` in errors) against the server: failing at
    /// once unless the client is connected now (rather than after a
    /// timeout), and within `bound`, since a request lost while the server
    /// went away would never be answered.
    async fn call<T, E: std::fmt::Display>(
        &self,
        what: &str,
        bound: Duration,
        call: impl Future<Output = std::result::Result<T, E>>,
    ) -> Result<T> {
        match self.client.connection_state() {
            State::Connected => {}
            state => {
                return Err(self.error(format!(
                    "unreachable (the client is {state}; it keeps reconnecting)"
                )));
            }
        }
        match tokio::time::timeout(bound, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.error(err)),
            Err(_) => Err(self.error(format!("no answer to {what} within {bound:?}"))),
        }
    }

    fn error(&self, cause: impl std::fmt::Display) -> Error {
        Error::backend(BACKEND, format!("{}: {cause}", self.description))
    }

    /// The latest entry of `key` that holds a value: its value and revision.
    async fn entry(&self, key: &str) -> Result<Option<(Bytes, u64)>> {
        let entry = self
            .call("a read", CALL_TIMEOUT, self.kv.entry(encode_key(key)))
            .await?;
        Ok(entry
            .filter(|e| e.operation == Operation::Put)
            .map(|e| (e.value, e.revision)))
    }

    /// Writes `value` at `key` if `key` is still at `revision` (`None`: if
    /// it holds no value); returns whether it did.
    async fn write_if(&self, key: &str, revision: Option<u64>, value: &[u8]) -> Result<bool> {
        let stored = encode_key(key);
        let value = Bytes::copy_from_slice(value);
        match revision {
            None => {
                let create = async {
                    match self.kv.create(&stored, value).await {
                        Ok(_) => Ok(true),
                        Err(err) if err.kind() == CreateErrorKind::AlreadyExists => Ok(false),
                        Err(err) => Err(err),
                    }
                };
                self.call("a write", CALL_TIMEOUT, create).await
            }
            Some(revision) => {
                let update = async {
                    match self.kv.update(&stored, value, revision).await {
                        Ok(_) => Ok(true),
                        Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
                        Err(err) => Err(err),
                    }
                };
                self.call("a write", CALL_TIMEOUT, update).await
            }
        }
    }

    /// Every key with a value, decoded and sorted.
    async fn sorted_keys(&self) -> Result<Vec<String>> {
        let list = async {
            let keys = self.kv.keys().await.map_err(|err| err.to_string())?;
            keys.map_ok(|stored| decode_key(&stored))
                .try_collect::<Vec<String>>()
                .await
                .map_err(|err| err.to_string())
        };
        let mut keys = self.call("a listing", LIST_TIMEOUT, list).await?;
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

#[async_trait]
impl Store for NatsStore {
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.entry(key).await?.map(|(value, _)| value.to_vec()))
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let put = self.kv.put(encode_key(key), Bytes::copy_from_slice(value));
        self.call("a write", CALL_TIMEOUT, put).await.map(drop)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let delete = self.kv.delete(encode_key(key));
        self.call("a delete", CALL_TIMEOUT, delete).await
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.entry(key).await?.is_some())
    }

    /// The cursor is the number of keys already returned, in sorted order;
    /// each page reads the bucket's keys anew (a bucket has no cursor of
    /// its own), so keys written in between may shift a page.
    async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage> {
        let keys = self.sorted_keys().await?;
        let start = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
        if start > keys.len() {
            return Err(Error::InvalidCursor {
                cursor: start.to_string(),
            });
        }
        let end = (start + PAGE_SIZE).min(keys.len());
        Ok(KeyPage {
            keys: keys[start..end].to_vec(),
            cursor: (end < keys.len()).then_some(end as u64),
        })
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        loop {
            let current = self.entry(key).await?;
            let next = add_to_counter(key, current.as_ref().map(|(v, _)| &v[..]), delta)?;
            let revision = current.map(|(_, revision)| revision);
            if self
                .write_if(key, revision, next.to_string().as_bytes())
                .await?
            {
                return Ok(next);
            }
        }
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool> {
        let stored = self.entry(key).await?;
        let revision = match (current, &stored) {
            (None, None) => None,
            (Some(expected), Some((value, revision))) if expected == &value[..] => Some(*revision),
            _ => return Ok(false),
        };
        // Another writer between the read and this write moved the
        // revision on: then the value is no longer the one compared.
        self.write_if(key, revision, new).await
    }
}

/// Whether `key` may be stored as it is: a valid bucket key with no `=`.
fn stored_as_is(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && !key.contains("..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'.'))
}

/// The bucket key of guest key `key` (see the module docs).
pub(crate) fn encode_key(key: &str) -> String {
    if stored_as_is(key) {
        return key.to_string();
    }
    if key.is_empty() {
        return "=".to_string();
    }
    let mut out = String::with_capacity(key.len() * 3);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "={b:02X}");
        }
    }
    out
}

/// The guest key of bucket key `stored`: [`encode_key`] undone. A `=` not
/// followed by two hex digits (a key another client wrote) is kept.
pub(crate) fn decode_key(stored: &str) -> String {
    if stored == "=" {
        return String::new();
    }
    if !stored.contains('=') {
        return stored.to_string();
    }
    let bytes = stored.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_are_stored_as_they_are() {
        for key in ["counter", "user.42", "a/b-c_d", "v1.2.3"] {
            assert_eq!(encode_key(key), key);
            assert_eq!(decode_key(key), key);
        }
    }

    #[test]
    fn other_keys_are_escaped_and_come_back() {
        for (key, stored) in [
            ("", "="),
            ("=", "=3D"),
            ("with space", "with=20space"),
            (".hidden", "=2Ehidden"),
            ("a..b", "a=2E=2Eb"),
            ("a.b=c", "a=2Eb=3Dc"),
            ("*", "=2A"),
            ("ключ", "=D0=BA=D0=BB=D1=8E=D1=87"),
        ] {
            assert_eq!(encode_key(key), stored, "{key:?}");
            assert_eq!(decode_key(stored), key, "{stored:?}");
            assert!(
                stored
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-/_=".contains(&b)),
                "{stored}"
            );
        }
        // Another client's key with a `=` that is no escape is kept.
        assert_eq!(decode_key("a=b"), "a=b");
        assert_eq!(decode_key("x=4"), "x=4");
    }
}
