//! `type = "spin"`: a database in a SQLite file on the host.
//!
//! Each guest connection gets a SQLite connection of its own, taken from a
//! small pool of idle ones, so a transaction a guest begins is its own and
//! `last-insert-rowid` / `changes` describe its own statements. A connection
//! returned to the pool with a transaction still open is rolled back first.
//! The database runs in WAL mode (readers never wait for the writer) with
//! `synchronous=FULL` (a committed statement survives a crash of the host),
//! and a writer waits up to 5 s for another to finish. Every call runs on
//! tokio's blocking pool, never on the async executor.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::database::{Connection, Database, QueryResult, Value};
use crate::error::{Error, Result};

/// How many idle SQLite connections a database keeps for reuse.
const MAX_IDLE: usize = 8;

/// How long a writer waits for another writer before failing with
/// `database is locked`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A database kept in a SQLite file.
pub struct EmbeddedDatabase {
    inner: Arc<Inner>,
}

struct Inner {
    label: String,
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl EmbeddedDatabase {
    /// Opens (creating if needed, with its parent directories) the database
    /// file at `path` for the label `label`, checking that it is usable.
    pub async fn open(path: impl Into<PathBuf>, label: &str) -> Result<Self> {
        let inner = Arc::new(Inner {
            label: label.to_string(),
            path: path.into(),
            idle: Mutex::new(Vec::new()),
        });
        let conn = inner.clone().checkout().await?;
        inner.checkin(conn);
        Ok(EmbeddedDatabase { inner })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl Inner {
    /// An idle connection, or a new one.
    async fn checkout(self: Arc<Self>) -> Result<rusqlite::Connection> {
        if let Some(conn) = self.lock_idle().pop() {
            return Ok(conn);
        }
        let inner = self.clone();
        blocking(move || open_connection(&inner.path).map_err(|err| inner.error(err))).await
    }

    /// Returns a connection to the pool (rolled back if a transaction is
    /// open), or closes it when the pool is full.
    fn checkin(&self, conn: rusqlite::Connection) {
        if !conn.is_autocommit()
            && let Err(err) = conn.execute_batch("ROLLBACK")
        {
            tracing::debug!(database = %self.label, error = %err, "rollback failed");
            return;
        }
        let mut idle = self.lock_idle();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<rusqlite::Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A guest-facing error for a failure on this database.
    fn error(&self, err: rusqlite::Error) -> Error {
        match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Error::DatabaseFull {
                label: self.label.clone(),
                message: err.to_string(),
            },
            _ => Error::io(message(&err)),
        }
    }
}

/// SQLite's message without rusqlite's decoration where it adds nothing.
fn message(err: &rusqlite::Error) -> String {
    match err {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        other => other.to_string(),
    }
}

/// Runs blocking work on tokio's blocking pool.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R> + Send + 'static) -> Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| Error::io(format!("sqlite worker failed: {err}")))?
}

fn open_connection(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| {
            rusqlite::Error::InvalidPath(PathBuf::from(format!(
                "{}: could not create the directory: {err}",
                parent.display()
            )))
        })?;
    }
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

#[async_trait]
impl Database for EmbeddedDatabase {
    fn describe(&self) -> String {
        format!("sqlite database at {}", self.inner.path.display())
    }

    async fn connect(&self) -> Result<Arc<dyn Connection>> {
        let conn = self.inner.clone().checkout().await?;
        Ok(Arc::new(EmbeddedConnection {
            db: self.inner.clone(),
            conn: Arc::new(Mutex::new(Some(conn))),
            last_insert_rowid: AtomicI64::new(0),
            changes: AtomicU64::new(0),
        }))
    }

    #[tracing::instrument(name = "skiff_sqlite.execute_batch", skip_all,
        fields(database = %self.inner.label))]
    async fn execute_batch(&self, sql: &str) -> Result<()> {
        let inner = self.inner.clone();
        let conn = inner.clone().checkout().await?;
        let sql = sql.to_string();
        blocking(move || {
            let result = conn.execute_batch(&sql).map_err(|err| inner.error(err));
            inner.checkin(conn);
            result
        })
        .await
    }
}

/// A guest's connection: a pooled SQLite connection and what its own
/// statements last did.
struct EmbeddedConnection {
    db: Arc<Inner>,
    /// `None` only while being returned to the pool.
    conn: Arc<Mutex<Option<rusqlite::Connection>>>,
    last_insert_rowid: AtomicI64,
    changes: AtomicU64,
}

/// What one statement did besides returning rows.
struct Effects {
    /// The new rowid, when the statement inserted a row.
    inserted: Option<i64>,
    /// The changed-row count, when the statement may write.
    changes: Option<u64>,
}

#[async_trait]
impl Connection for EmbeddedConnection {
    async fn execute(&self, statement: &str, params: Vec<Value>) -> Result<QueryResult> {
        let conn = self.conn.clone();
        let db = self.db.clone();
        let statement = statement.to_string();
        let (result, effects) = blocking(move || {
            let guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            let conn = guard.as_ref().ok_or(Error::InvalidConnection)?;
            run(conn, &statement, &params).map_err(|err| db.error(err))
        })
        .await?;
        if let Some(rowid) = effects.inserted {
            self.last_insert_rowid.store(rowid, Ordering::Relaxed);
        }
        if let Some(changes) = effects.changes {
            self.changes.store(changes, Ordering::Relaxed);
        }
        Ok(result)
    }

    fn last_insert_rowid(&self) -> i64 {
        self.last_insert_rowid.load(Ordering::Relaxed)
    }

    fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }
}

impl Drop for EmbeddedConnection {
    fn drop(&mut self) {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(conn) = conn else { return };
        if conn.is_autocommit() {
            return self.db.checkin(conn);
        }
        // A rollback touches the file: keep it off the executor when there is one.
        let db = self.db.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || db.checkin(conn))),
            Err(_) => db.checkin(conn),
        }
    }
}

/// Runs one statement and reads all its rows.
fn run(
    conn: &rusqlite::Connection,
    statement: &str,
    params: &[Value],
) -> rusqlite::Result<(QueryResult, Effects)> {
    let rowid_before = conn.last_insert_rowid();
    let mut stmt = conn.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().map(String::from).collect();
    let writes = !stmt.readonly();
    let mut rows = Vec::new();
    let mut cursor = stmt.query(rusqlite::params_from_iter(params))?;
    while let Some(row) = cursor.next()? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(from_sql))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.push(values);
    }
    drop(cursor);
    let rowid = conn.last_insert_rowid();
    let effects = Effects {
        inserted: (writes && rowid != rowid_before).then_some(rowid),
        changes: writes.then(|| conn.changes()),
    };
    Ok((QueryResult { columns, rows }, effects))
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(blob) => Value::Blob(blob.to_vec()),
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(blob) => ValueRef::Blob(blob),
            Value::Null => ValueRef::Null,
        }))
    }
}
