//! Per-instance state, the grant, and the host side of
//! `fermyon:spin/mysql@2.0.0`.

use std::sync::Arc;

use skiff_outbound_networking::AllowedHosts;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};

use crate::bindings::spin2::fermyon::spin::mysql as v2;
use crate::bindings::spin2::fermyon::spin::rdbms_types as types;
use crate::client::{MysqlConnection, MysqlPools};
use crate::error::Error;
use crate::value;

const INTERFACE: &str = "fermyon:spin/mysql@2.0.0";

/// The MySQL state of one guest instance: what its `allowed_outbound_hosts`
/// grant, and its component's connection pools. Cheap to create per request;
/// the connections the instance still holds go back to their pools when it
/// is dropped.
pub struct MysqlState {
    allowed: Arc<AllowedHosts>,
    pools: Arc<MysqlPools>,
}

impl MysqlState {
    /// State for an instance whose component's `allowed_outbound_hosts` are
    /// `allowed` (it may reach the servers granted by `mysql://HOST:PORT`
    /// entries, or wildcards covering them), taking connections from its
    /// component's `pools`.
    pub fn new(allowed: Arc<AllowedHosts>, pools: Arc<MysqlPools>) -> Self {
        MysqlState { allowed, pools }
    }
}

/// What the host bindings need from the store data: the instance's
/// [`MysqlState`] and the resource table the guest's handles live in.
pub struct MysqlView<'a> {
    /// The instance's MySQL state.
    pub state: &'a mut MysqlState,
    /// The instance's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
}

/// Implemented by a host's store data to expose MySQL to guests.
pub trait MysqlHostView: Send {
    /// The MySQL view of this instance.
    fn mysql(&mut self) -> MysqlView<'_>;
}

/// The [`HasData`] marker the generated `add_to_linker` functions take.
struct Mysql;

impl HasData for Mysql {
    type Data<'a> = MysqlView<'a>;
}

/// Adds `fermyon:spin/mysql@2.0.0` (with `fermyon:spin/rdbms-types`, which
/// holds only types) to `linker`.
pub fn add_to_linker<T: MysqlHostView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    let getter: fn(&mut T) -> MysqlView<'_> = T::mysql;
    types::add_to_linker::<T, Mysql>(linker, getter)?;
    v2::add_to_linker::<T, Mysql>(linker, getter)?;
    Ok(())
}

/// An open connection as a guest resource.
pub struct ConnectionHandle {
    conn: Arc<MysqlConnection>,
}

/// What a host function fails with: an error the guest sees as the
/// interface's error value, or a trap (a bad resource handle).
pub enum HostError {
    /// Returned to the guest.
    Mysql(Error),
    /// Traps the guest.
    Trap(wasmtime::Error),
}

impl From<Error> for HostError {
    fn from(err: Error) -> Self {
        HostError::Mysql(err)
    }
}

impl From<ResourceTableError> for HostError {
    fn from(err: ResourceTableError) -> Self {
        HostError::Trap(err.into())
    }
}

impl MysqlView<'_> {
    /// The connection behind `handle`; records its server on the current span.
    fn connection(
        &self,
        handle: &Resource<ConnectionHandle>,
    ) -> Result<Arc<MysqlConnection>, HostError> {
        let handle = self.table.get(handle)?;
        tracing::Span::current().record("peer", handle.conn.peer());
        Ok(handle.conn.clone())
    }
}

impl types::Host for MysqlView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<types::Error> {
        let err = match err {
            HostError::Mysql(err) => err,
            HostError::Trap(trap) => return Err(trap),
        };
        tracing::debug!(error = %err, "mysql operation failed");
        Ok(match err {
            Error::ConnectionFailed(m) => types::Error::ConnectionFailed(m),
            Error::BadParameter(m) => types::Error::BadParameter(m),
            Error::QueryFailed(m) => types::Error::QueryFailed(m),
            Error::ValueConversionFailed(m) => types::Error::ValueConversionFailed(m),
            Error::Other(m) => types::Error::Other(m),
        })
    }
}

impl v2::Host for MysqlView<'_> {}

impl v2::HostConnection for MysqlView<'_> {
    #[tracing::instrument(name = "skiff_mysql.open", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn open(&mut self, address: String) -> Result<Resource<ConnectionHandle>, HostError> {
        let allowed = self.state.allowed.clone();
        let pools = self.state.pools.clone();
        let conn = MysqlConnection::open(&address, &allowed, &pools).await?;
        tracing::Span::current().record("peer", conn.peer());
        Ok(self.table.push(ConnectionHandle {
            conn: Arc::new(conn),
        })?)
    }

    #[tracing::instrument(name = "skiff_mysql.query", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn query(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<types::ParameterValue>,
    ) -> Result<types::RowSet, HostError> {
        let conn = self.connection(&conn)?;
        let params = params.into_iter().map(value::to_mysql).collect();
        let (columns, rows) = conn.query(&statement, params).await?;
        let data_types: Vec<types::DbDataType> = columns.iter().map(value::data_type).collect();
        let rows = rows
            .into_iter()
            .map(|row| {
                row.unwrap()
                    .into_iter()
                    .zip(columns.iter().zip(&data_types))
                    .map(|(v, (column, ty))| value::from_mysql(v, column, *ty))
                    .collect::<Result<Vec<_>, Error>>()
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(types::RowSet {
            columns: columns
                .iter()
                .zip(data_types)
                .map(|(column, data_type)| types::Column {
                    name: column.name_str().into_owned(),
                    data_type,
                })
                .collect(),
            rows,
        })
    }

    #[tracing::instrument(name = "skiff_mysql.execute", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<types::ParameterValue>,
    ) -> Result<(), HostError> {
        let conn = self.connection(&conn)?;
        let params = params.into_iter().map(value::to_mysql).collect();
        conn.execute(&statement, params).await?;
        Ok(())
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
