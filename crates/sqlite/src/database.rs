//! The backend traits: a [`Database`] hands out [`Connection`]s that run
//! statements with [`Value`] parameters and return [`QueryResult`]s.

use async_trait::async_trait;

use crate::error::Result;

/// A value of a parameter or a result cell: SQLite's five storage classes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// SQL `NULL`.
    Null,
}

/// What a statement returned: column names and rows (empty for statements
/// that return no rows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    /// The names of the result columns, in order.
    pub columns: Vec<String>,
    /// The rows, each with one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// A SQLite database as guests see it.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Names this database in messages, e.g. `sqlite database at .skiff/sqlite/default.db`.
    fn describe(&self) -> String;

    /// A connection for one guest instance: statements on it run in order,
    /// and a transaction a guest begins on it is its own.
    async fn connect(&self) -> Result<std::sync::Arc<dyn Connection>>;

    /// Runs `sql`, any number of statements separated by `;` (migrations);
    /// rows they return are discarded. Not atomic unless `sql` says so
    /// (`BEGIN; …; COMMIT;`).
    async fn execute_batch(&self, sql: &str) -> Result<()>;
}

/// A connection to a [`Database`].
#[async_trait]
pub trait Connection: Send + Sync + 'static {
    /// Runs one statement with positional parameters (`?`, `?NNN`, `:name`
    /// in order) and returns its rows.
    async fn execute(&self, statement: &str, params: Vec<Value>) -> Result<QueryResult>;

    /// The rowid of the most recent successful `INSERT` on this connection,
    /// or 0 when there has been none.
    fn last_insert_rowid(&self) -> i64;

    /// How many rows the most recent `INSERT`, `UPDATE` or `DELETE` on this
    /// connection changed (0 when there has been none).
    fn changes(&self) -> u64;
}
