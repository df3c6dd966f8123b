//! `spin:sqlite/sqlite@3.1.0` (and, through it, `@3.0.0`).

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use super::{ConnectionHandle, HostError, Sqlite, SqliteView};
use crate::bindings::spin3::spin::sqlite::sqlite as v3;
use crate::database::{Connection, QueryResult, Value};
use crate::error::Error;

super::spin2::conversions!(v3);

impl v3::Host for SqliteView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<v3::Error> {
        Ok(from_error(err.into_sqlite()?))
    }
}

impl v3::HostConnection for SqliteView<'_> {
    #[tracing::instrument(name = "skiff_sqlite.open", skip_all,
        fields(database = %database, interface = "spin:sqlite/sqlite@3.1.0"))]
    async fn open(&mut self, database: String) -> Result<Resource<ConnectionHandle>, HostError> {
        self.open(&database).await
    }

    #[tracing::instrument(
        name = "skiff_sqlite.execute",
        skip_all,
        fields(database, interface = "spin:sqlite/sqlite@3.1.0")
    )]
    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> Result<v3::QueryResult, HostError> {
        let params = parameters.into_iter().map(to_value).collect();
        let result = self.connection(&conn)?.execute(&statement, params).await?;
        Ok(from_result(result))
    }

    #[tracing::instrument(
        name = "skiff_sqlite.last_insert_rowid",
        skip_all,
        fields(database, interface = "spin:sqlite/sqlite@3.1.0")
    )]
    async fn last_insert_rowid(
        &mut self,
        conn: Resource<ConnectionHandle>,
    ) -> wasmtime::Result<i64> {
        Ok(trap(self.connection(&conn))?.last_insert_rowid())
    }

    #[tracing::instrument(
        name = "skiff_sqlite.changes",
        skip_all,
        fields(database, interface = "spin:sqlite/sqlite@3.1.0")
    )]
    async fn changes(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<u64> {
        Ok(trap(self.connection(&conn))?.changes())
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.drop_connection(conn)
    }
}

/// A bad handle traps; nothing else can fail here.
fn trap<T>(result: Result<T, HostError>) -> wasmtime::Result<T> {
    result.map_err(|err| match err {
        HostError::Trap(trap) => trap,
        HostError::Sqlite(err) => err.into(),
    })
}

/// The connection behind `handle`, looked up without holding the store across
/// an await (component-model async functions only get the store in `with`).
fn connection_of<T>(
    accessor: &Accessor<T, Sqlite>,
    handle: &Resource<ConnectionHandle>,
) -> Result<Arc<dyn Connection>, HostError> {
    accessor.with(|mut access| access.get().connection(handle))
}

/// The rows stream and completion future of `execute-async`.
type Streamed = (
    Vec<String>,
    StreamReader<v3::RowResult>,
    FutureReader<Result<(), v3::Error>>,
);

impl<T> v3::HostConnectionWithStore<T> for Sqlite {
    #[tracing::instrument(name = "skiff_sqlite.open", skip_all,
        fields(database = %database, interface = "spin:sqlite/sqlite@3.1.0"))]
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        let opened = accessor.with(|mut access| access.get().state.authorize(&database))?;
        let (conn, fresh) = opened.connect(&database).await?;
        accessor.with(|mut access| {
            let mut view = access.get();
            let conn = if fresh {
                view.state.keep(&database, conn)
            } else {
                conn
            };
            view.push(&database, conn)
        })
    }

    /// Runs the statement to completion, then streams its rows.
    #[tracing::instrument(
        name = "skiff_sqlite.execute",
        skip_all,
        fields(database, interface = "spin:sqlite/sqlite@3.1.0")
    )]
    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> Result<Streamed, HostError> {
        let conn = connection_of(accessor, &conn)?;
        let params: Vec<Value> = parameters.into_iter().map(to_value).collect();
        let QueryResult { columns, rows } = conn.execute(&statement, params).await?;
        let rows: Vec<v3::RowResult> = rows.into_iter().map(from_row).collect();
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, rows).map_err(HostError::Trap)?;
            let done = FutureReader::new(&mut access, async {
                Ok::<_, wasmtime::Error>(Ok::<(), v3::Error>(()))
            })
            .map_err(HostError::Trap)?;
            Ok((columns, rows, done))
        })
    }

    #[tracing::instrument(
        name = "skiff_sqlite.last_insert_rowid",
        skip_all,
        fields(database, interface = "spin:sqlite/sqlite@3.1.0")
    )]
    async fn last_insert_rowid_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
    ) -> wasmtime::Result<i64> {
        Ok(trap(connection_of(accessor, &conn))?.last_insert_rowid())
    }

    #[tracing::instrument(
        name = "skiff_sqlite.changes",
        skip_all,
        fields(database, interface = "spin:sqlite/sqlite@3.1.0")
    )]
    async fn changes_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
    ) -> wasmtime::Result<u64> {
        Ok(trap(connection_of(accessor, &conn))?.changes())
    }
}
