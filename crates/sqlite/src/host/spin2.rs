//! `fermyon:spin/sqlite@2.0.0`.

use wasmtime::component::Resource;

use super::{ConnectionHandle, HostError, SqliteView};
use crate::bindings::spin2::fermyon::spin::sqlite as v2;
use crate::database::{QueryResult, Value};
use crate::error::Error;

/// Converts between one interface generation's `value`, `query-result` and
/// `error` and this crate's types; `$wit` is the generated interface module.
macro_rules! conversions {
    ($wit:ident) => {
        pub(super) fn to_value(value: $wit::Value) -> Value {
            match value {
                $wit::Value::Integer(i) => Value::Integer(i),
                $wit::Value::Real(f) => Value::Real(f),
                $wit::Value::Text(s) => Value::Text(s),
                $wit::Value::Blob(b) => Value::Blob(b),
                $wit::Value::Null => Value::Null,
            }
        }

        pub(super) fn from_value(value: Value) -> $wit::Value {
            match value {
                Value::Integer(i) => $wit::Value::Integer(i),
                Value::Real(f) => $wit::Value::Real(f),
                Value::Text(s) => $wit::Value::Text(s),
                Value::Blob(b) => $wit::Value::Blob(b),
                Value::Null => $wit::Value::Null,
            }
        }

        pub(super) fn from_row(row: Vec<Value>) -> $wit::RowResult {
            $wit::RowResult {
                values: row.into_iter().map(from_value).collect(),
            }
        }

        pub(super) fn from_result(result: QueryResult) -> $wit::QueryResult {
            $wit::QueryResult {
                columns: result.columns,
                rows: result.rows.into_iter().map(from_row).collect(),
            }
        }

        pub(super) fn from_error(err: Error) -> $wit::Error {
            match err {
                Error::NoSuchDatabase { .. } => $wit::Error::NoSuchDatabase,
                Error::AccessDenied { .. } => $wit::Error::AccessDenied,
                Error::InvalidConnection => $wit::Error::InvalidConnection,
                Error::DatabaseFull { .. } => $wit::Error::DatabaseFull,
                other => $wit::Error::Io(other.to_string()),
            }
        }
    };
}
pub(super) use conversions;

conversions!(v2);

impl v2::Host for SqliteView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<v2::Error> {
        Ok(from_error(err.into_sqlite()?))
    }
}

impl v2::HostConnection for SqliteView<'_> {
    #[tracing::instrument(name = "skiff_sqlite.open", skip_all,
        fields(database = %database, interface = "fermyon:spin/sqlite@2.0.0"))]
    async fn open(&mut self, database: String) -> Result<Resource<ConnectionHandle>, HostError> {
        self.open(&database).await
    }

    #[tracing::instrument(
        name = "skiff_sqlite.execute",
        skip_all,
        fields(database, interface = "fermyon:spin/sqlite@2.0.0")
    )]
    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        parameters: Vec<v2::Value>,
    ) -> Result<v2::QueryResult, HostError> {
        let params = parameters.into_iter().map(to_value).collect();
        let result = self.connection(&conn)?.execute(&statement, params).await?;
        Ok(from_result(result))
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.drop_connection(conn)
    }
}
