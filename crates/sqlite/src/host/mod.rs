//! Per-instance state, the grant check, and what every interface shares.

mod spin2;
mod spin3;

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};

use crate::database::Connection;
use crate::error::Error;
use crate::manager::SqliteManager;

/// The SQLite state of one guest instance: which labels it was granted, and
/// its connection to each database it opened (a guest opening a database
/// twice gets two handles on one connection). Cheap to create per request;
/// dropping it returns the connections to their pools, rolling back any
/// transaction left open.
pub struct SqliteState {
    manager: Arc<SqliteManager>,
    granted: Arc<[String]>,
    connections: HashMap<String, Arc<dyn Connection>>,
}

impl SqliteState {
    /// State for an instance granted the database labels `granted` (the
    /// component's `sqlite_databases`), resolved through `manager`.
    pub fn new(manager: Arc<SqliteManager>, granted: Arc<[String]>) -> Self {
        SqliteState {
            manager,
            granted,
            connections: HashMap::new(),
        }
    }

    /// The manager databases are resolved through.
    pub fn manager(&self) -> &Arc<SqliteManager> {
        &self.manager
    }

    /// The grant check — the only one, used by every interface's `open`:
    /// fails with [`Error::AccessDenied`] when `label` was not granted,
    /// whether or not such a database exists. Returns the instance's
    /// connection to `label` if it has one, else the manager to open it with.
    pub(crate) fn authorize(&self, label: &str) -> Result<Opened, Error> {
        if !self.granted.iter().any(|granted| granted == label) {
            tracing::debug!(database = label, "sqlite database not granted");
            return Err(Error::AccessDenied {
                label: label.to_string(),
            });
        }
        Ok(match self.connections.get(label) {
            Some(conn) => Opened::Connected(conn.clone()),
            None => Opened::Granted(self.manager.clone()),
        })
    }

    /// Keeps `conn` as the instance's connection to `label`; if another one
    /// was kept meanwhile (concurrent opens), that one wins.
    fn keep(&mut self, label: &str, conn: Arc<dyn Connection>) -> Arc<dyn Connection> {
        self.connections
            .entry(label.to_string())
            .or_insert(conn)
            .clone()
    }
}

/// What [`SqliteState::authorize`] found.
pub(crate) enum Opened {
    /// The instance already has a connection.
    Connected(Arc<dyn Connection>),
    /// Granted; connect through the manager.
    Granted(Arc<SqliteManager>),
}

impl Opened {
    /// The connection, opening one if needed (without the store: callable
    /// across an await).
    async fn connect(self, label: &str) -> Result<(Arc<dyn Connection>, bool), Error> {
        match self {
            Opened::Connected(conn) => Ok((conn, false)),
            Opened::Granted(manager) => Ok((manager.open(label).await?.connect().await?, true)),
        }
    }
}

/// What the host bindings need from the store data: the instance's
/// [`SqliteState`] and the resource table the guest's handles live in.
pub struct SqliteView<'a> {
    /// The instance's SQLite state.
    pub state: &'a mut SqliteState,
    /// The instance's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
}

/// Implemented by a host's store data to expose SQLite to guests.
pub trait SqliteHostView: Send {
    /// The SQLite view of this instance.
    fn sqlite(&mut self) -> SqliteView<'_>;
}

/// The [`HasData`] marker the generated `add_to_linker` functions take.
pub(crate) struct Sqlite;

impl HasData for Sqlite {
    type Data<'a> = SqliteView<'a>;
}

/// Adds every SQLite interface to `linker`: `fermyon:spin/sqlite@2.0.0` and
/// `spin:sqlite/sqlite@3.1.0` (which also satisfies imports of `@3.0.0`).
///
/// The `*-async` functions of the latter are `async func`s: instantiating a
/// component that imports them needs an engine with component-model async
/// enabled (this crate turns the wasmtime feature on).
pub fn add_to_linker<T: SqliteHostView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    use crate::bindings::{spin2, spin3};
    let getter: fn(&mut T) -> SqliteView<'_> = T::sqlite;
    spin2::fermyon::spin::sqlite::add_to_linker::<T, Sqlite>(linker, getter)?;
    // `async func`s: only on an engine with concurrency support.
    if linker.engine().get_concurrency_support() {
        spin3::spin::sqlite::sqlite::add_to_linker::<T, Sqlite>(linker, getter)?;
    }
    Ok(())
}

/// An open connection as a guest resource.
pub struct ConnectionHandle {
    label: Arc<str>,
    conn: Arc<dyn Connection>,
}

/// What a host function fails with: an error the guest sees as the
/// interface's error value, or a trap (a bad resource handle).
pub enum HostError {
    /// Returned to the guest.
    Sqlite(Error),
    /// Traps the guest.
    Trap(wasmtime::Error),
}

impl From<Error> for HostError {
    fn from(err: Error) -> Self {
        HostError::Sqlite(err)
    }
}

impl From<ResourceTableError> for HostError {
    fn from(err: ResourceTableError) -> Self {
        HostError::Trap(err.into())
    }
}

impl HostError {
    /// The guest-visible error, or the trap.
    fn into_sqlite(self) -> wasmtime::Result<Error> {
        match self {
            HostError::Sqlite(err) => {
                tracing::debug!(error = %err, "sqlite operation failed");
                Ok(err)
            }
            HostError::Trap(trap) => Err(trap),
        }
    }
}

impl SqliteView<'_> {
    /// Grant check, then the instance's connection to `label`, as a new
    /// resource.
    async fn open(&mut self, label: &str) -> Result<Resource<ConnectionHandle>, HostError> {
        let (conn, fresh) = self.state.authorize(label)?.connect(label).await?;
        let conn = if fresh {
            self.state.keep(label, conn)
        } else {
            conn
        };
        self.push(label, conn)
    }

    fn push(
        &mut self,
        label: &str,
        conn: Arc<dyn Connection>,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        Ok(self.table.push(ConnectionHandle {
            label: label.into(),
            conn,
        })?)
    }

    /// The connection behind `handle`; records its label on the current span.
    fn connection(
        &self,
        handle: &Resource<ConnectionHandle>,
    ) -> Result<Arc<dyn Connection>, HostError> {
        let handle = self.table.get(handle)?;
        tracing::Span::current().record("database", &*handle.label);
        Ok(handle.conn.clone())
    }

    fn drop_connection(&mut self, handle: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
