//! `type = "redis"`: a store in a Redis server, under a key prefix.
//!
//! Every key a guest uses is stored as `<prefix><key>`, and listing only sees
//! keys under the prefix, so two apps (or two labels) sharing one Redis never
//! see each other's keys. The connection is a `redis` crate
//! `ConnectionManager`: when Redis goes away, calls fail with
//! [`Error::Backend`] naming the server, and once it is back the manager
//! reconnects on its own, without a host restart.

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Cmd, FromRedisValue, RedisError, Script};
use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::store::{KeyPage, PAGE_SIZE, Store};

const BACKEND: &str = "redis";

/// Sets `KEYS[1]` to `ARGV[3]` if its value is `ARGV[2]` (`ARGV[1] == "1"`)
/// or if it is absent (`ARGV[1] == "0"`); returns 1 when it did.
const CAS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
local matches
if ARGV[1] == '1' then
  matches = current == ARGV[2]
else
  matches = current == false
end
if matches then
  redis.call('SET', KEYS[1], ARGV[3])
  return 1
end
return 0
";

/// A store in Redis, under a key prefix.
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    /// `host:port` (never the URL, which may hold a password).
    address: String,
    cas: Script,
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://[user:password@]host[:port][/db]`,
    /// or `rediss://…` over TLS), storing keys under `prefix`. Fails when the
    /// server cannot be reached now.
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self> {
        let client = Client::open(url).map_err(|err| {
            Error::backend(
                BACKEND,
                format!(
                    "invalid Redis URL: {}",
                    err.detail().unwrap_or("unsupported URL")
                ),
            )
        })?;
        let address = client.get_connection_info().addr().to_string();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            // Fail fast while Redis is down; every later call starts a new
            // reconnection attempt, so recovery needs no host restart.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|err| redis_error(&address, &err))?;
        Ok(RedisStore {
            conn,
            prefix: prefix.into(),
            address,
            cas: Script::new(CAS_SCRIPT),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `cmd`. Idempotent commands are retried once after a connection
    /// failure (the first call after Redis comes back may meet the old,
    /// broken connection); others only when the command never reached Redis.
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd, idempotent: bool) -> Result<T> {
        let mut conn = self.conn.clone();
        match cmd.query_async(&mut conn).await {
            Ok(value) => Ok(value),
            Err(err) if retryable(&err, idempotent) => cmd
                .query_async(&mut conn)
                .await
                .map_err(|err| redis_error(&self.address, &err)),
            Err(err) => Err(redis_error(&self.address, &err)),
        }
    }
}

fn retryable(err: &RedisError, idempotent: bool) -> bool {
    err.is_connection_refusal()
        || (idempotent && (err.is_io_error() || err.is_connection_dropped()))
}

fn redis_error(address: &str, err: &RedisError) -> Error {
    Error::backend(BACKEND, format!("redis at {address}: {err}"))
}

/// Escapes the glob characters of `s` for `SCAN ... MATCH`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[async_trait]
impl Store for RedisStore {
    fn describe(&self) -> String {
        format!("redis at {} (prefix `{}`)", self.address, self.prefix)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.query(::redis::cmd("GET").arg(self.key(key)), true)
            .await
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.query(::redis::cmd("SET").arg(self.key(key)).arg(value), true)
            .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.query::<i64>(::redis::cmd("DEL").arg(self.key(key)), true)
            .await
            .map(drop)
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        self.query(::redis::cmd("EXISTS").arg(self.key(key)), true)
            .await
    }

    /// The cursor is Redis's own `SCAN` cursor; like `SCAN`, a page may repeat
    /// keys of an earlier page.
    async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage> {
        let pattern = format!("{}*", glob_escape(&self.prefix));
        let (next, keys): (u64, Vec<String>) = self
            .query(
                ::redis::cmd("SCAN")
                    .arg(cursor.unwrap_or(0))
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(PAGE_SIZE),
                true,
            )
            .await?;
        let keys = keys
            .into_iter()
            .filter_map(|key| key.strip_prefix(&self.prefix).map(str::to_string))
            .collect();
        Ok(KeyPage {
            keys,
            cursor: (next != 0).then_some(next),
        })
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        let mut conn = self.conn.clone();
        let cmd = ::redis::cmd("INCRBY").arg(self.key(key)).arg(delta).clone();
        let result = match cmd.query_async(&mut conn).await {
            Err(err) if retryable(&err, false) => cmd.query_async(&mut conn).await,
            other => other,
        };
        result.map_err(|err| {
            let text = err.to_string();
            if text.contains("not an integer") {
                Error::NotAnInteger {
                    key: key.to_string(),
                }
            } else if text.contains("overflow") {
                Error::Overflow {
                    key: key.to_string(),
                }
            } else {
                redis_error(&self.address, &err)
            }
        })
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool> {
        let mut conn = self.conn.clone();
        let mut invocation = self.cas.key(self.key(key));
        invocation
            .arg(if current.is_some() { "1" } else { "0" })
            .arg(current.unwrap_or_default())
            .arg(new);
        let swapped: i64 = match invocation.invoke_async(&mut conn).await {
            Err(err) if retryable(&err, false) => invocation.invoke_async(&mut conn).await,
            other => other,
        }
        .map_err(|err| redis_error(&self.address, &err))?;
        Ok(swapped == 1)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = ::redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.key(key));
        }
        self.query(&cmd, true).await
    }

    /// Atomic: one `MSET`.
    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut cmd = ::redis::cmd("MSET");
        for (key, value) in entries {
            cmd.arg(self.key(key)).arg(value.as_slice());
        }
        self.query(&cmd, true).await
    }

    /// Atomic: one `DEL`.
    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut cmd = ::redis::cmd("DEL");
        for key in keys {
            cmd.arg(self.key(key));
        }
        self.query::<i64>(&cmd, true).await.map(drop)
    }
}
