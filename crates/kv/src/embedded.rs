//! `type = "embedded"` (alias `"spin"`): a durable store in a SQLite file.
//!
//! SQLite rather than redb because the SQL capability embeds the same library
//! (`rusqlite` with `bundled`), so the host carries one storage engine, and
//! operators can inspect a store with the `sqlite3` shell. The database runs
//! in WAL mode with `synchronous=FULL`: a commit returns only after the WAL is
//! fsynced, so a write acknowledged to a guest survives `kill -9` of the host
//! (and a power cut). Every call runs on tokio's blocking pool, never on the
//! async executor.
//!
//! One file may hold several stores: rows carry the store name (the label),
//! in a table `skiff_kv(store, key, value)`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::store::{KeyPage, PAGE_SIZE, Store, add_to_counter};

const BACKEND: &str = "embedded";

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS skiff_kv (
        store TEXT NOT NULL,
        key   TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (store, key)
    );
    CREATE INDEX IF NOT EXISTS skiff_kv_by_store ON skiff_kv (store);
";

const UPSERT: &str = "INSERT INTO skiff_kv (store, key, value) VALUES (?1, ?2, ?3)
     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value";
const SELECT: &str = "SELECT value FROM skiff_kv WHERE store = ?1 AND key = ?2";
const DELETE: &str = "DELETE FROM skiff_kv WHERE store = ?1 AND key = ?2";

/// A store kept in a SQLite database file.
pub struct EmbeddedStore {
    db: Arc<Db>,
    store: Arc<str>,
}

struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// What a closure run against the database can fail with.
enum Failure {
    Sql(rusqlite::Error),
    Kv(Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(err: rusqlite::Error) -> Self {
        Failure::Sql(err)
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Kv(err)
    }
}

type DbResult<T> = std::result::Result<T, Failure>;

impl EmbeddedStore {
    /// Opens (creating if needed, with its parent directories) the database at
    /// `path`, holding the store named `store`.
    pub async fn open(path: impl Into<PathBuf>, store: &str) -> Result<Self> {
        let path = path.into();
        let opened_path = path.clone();
        let conn = tokio::task::spawn_blocking(move || open_connection(&opened_path))
            .await
            .map_err(|err| backend_error(&path, err))?
            .map_err(|err| backend_error(&path, err))?;
        Ok(EmbeddedStore {
            db: Arc::new(Db {
                path,
                conn: Mutex::new(conn),
            }),
            store: store.into(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db.path
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection, &str) -> DbResult<R> + Send + 'static,
    {
        let db = self.db.clone();
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = db
                .conn
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn, &store)
        })
        .await
        .map_err(|err| backend_error(&self.db.path, err))?;
        match result {
            Ok(value) => Ok(value),
            Err(Failure::Kv(err)) => Err(err),
            Err(Failure::Sql(err)) => Err(backend_error(&self.db.path, err)),
        }
    }
}

fn open_connection(path: &Path) -> std::result::Result<Connection, String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|err| format!("could not create {}: {err}", parent.display()))?;
    }
    let conn = Connection::open(path).map_err(|err| err.to_string())?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|err| err.to_string())?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|err| err.to_string())?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("could not switch to WAL mode (still `{mode}`)"));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|err| err.to_string())?;
    conn.execute_batch(SCHEMA).map_err(|err| err.to_string())?;
    Ok(conn)
}

fn backend_error(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::backend(
        BACKEND,
        format!("embedded store at {}: {err}", path.display()),
    )
}

fn get(conn: &Connection, store: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached(SELECT)?
        .query_row(params![store, key], |row| row.get(0))
        .optional()
}

#[async_trait]
impl Store for EmbeddedStore {
    fn describe(&self) -> String {
        format!("embedded store at {}", self.db.path.display())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = key.to_string();
        self.run(move |conn, store| Ok(get(conn, store, &key)?))
            .await
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let (key, value) = (key.to_string(), value.to_vec());
        self.run(move |conn, store| {
            conn.prepare_cached(UPSERT)?
                .execute(params![store, key, value])?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let key = key.to_string();
        self.run(move |conn, store| {
            conn.prepare_cached(DELETE)?.execute(params![store, key])?;
            Ok(())
        })
        .await
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        let key = key.to_string();
        self.run(move |conn, store| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM skiff_kv WHERE store = ?1 AND key = ?2")?
                .exists(params![store, key])?)
        })
        .await
    }

    /// The cursor is the last `rowid` returned; an update keeps a row's
    /// `rowid`, so overwriting keys while paging neither repeats nor skips them.
    async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage> {
        let after = i64::try_from(cursor.unwrap_or(0)).unwrap_or(i64::MAX);
        self.run(move |conn, store| {
            let mut stmt = conn.prepare_cached(
                "SELECT rowid, key FROM skiff_kv WHERE store = ?1 AND rowid > ?2
                 ORDER BY rowid LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![store, after, PAGE_SIZE as i64], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut keys = Vec::new();
            let mut last = None;
            for row in rows {
                let (rowid, key) = row?;
                keys.push(key);
                last = Some(rowid);
            }
            let cursor = last
                .filter(|_| keys.len() == PAGE_SIZE)
                .and_then(|rowid| u64::try_from(rowid).ok());
            Ok(KeyPage { keys, cursor })
        })
        .await
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        let key = key.to_string();
        self.run(move |conn, store| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current = get(&tx, store, &key)?;
            let new = add_to_counter(&key, current.as_deref(), delta)?;
            tx.prepare_cached(UPSERT)?.execute(params![
                store,
                key,
                new.to_string().into_bytes()
            ])?;
            tx.commit()?;
            Ok(new)
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool> {
        let (key, expected, new) = (key.to_string(), current.map(<[u8]>::to_vec), new.to_vec());
        self.run(move |conn, store| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if get(&tx, store, &key)? != expected {
                return Ok(false);
            }
            tx.prepare_cached(UPSERT)?
                .execute(params![store, key, new])?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let keys = keys.to_vec();
        self.run(move |conn, store| {
            let tx = conn.transaction()?;
            let values = keys
                .iter()
                .map(|key| get(&tx, store, key))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.commit()?;
            Ok(values)
        })
        .await
    }

    /// Atomic: one transaction (and one fsync) for the whole batch.
    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<()> {
        let entries = entries.to_vec();
        self.run(move |conn, store| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(UPSERT)?;
                for (key, value) in &entries {
                    stmt.execute(params![store, key, value])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Atomic: one transaction for the whole batch.
    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        let keys = keys.to_vec();
        self.run(move |conn, store| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(DELETE)?;
                for key in &keys {
                    stmt.execute(params![store, key])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}
