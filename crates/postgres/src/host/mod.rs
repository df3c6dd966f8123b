//! Per-instance state, the grant, and what every interface shares.

mod spin2;
mod spin3;
mod spin4;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use skiff_outbound_networking::AllowedHosts;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};

use crate::client::PgConnection;
use crate::error::Error;

/// The PostgreSQL state of one guest instance: what its
/// `allowed_outbound_hosts` grant, and its open connections, one per address
/// (opening an address again reuses the connection while it is healthy).
/// Cheap to create per request; dropping it closes the connections.
pub struct PgState {
    allowed: Arc<AllowedHosts>,
    connections: HashMap<String, Arc<PgConnection>>,
}

impl PgState {
    /// State for an instance whose component's `allowed_outbound_hosts` are
    /// `allowed`: it may reach the servers granted by `postgres://HOST:PORT`
    /// entries (or wildcards covering them).
    pub fn new(allowed: Arc<AllowedHosts>) -> Self {
        PgState {
            allowed,
            connections: HashMap::new(),
        }
    }

    /// The instance's healthy connection to `address`, if it has one.
    fn reusable(&self, address: &str) -> Option<Arc<PgConnection>> {
        self.connections
            .get(address)
            .filter(|conn| !conn.is_closed())
            .cloned()
    }

    /// Keeps `conn` for reuse by later opens of `address`.
    fn keep(&mut self, address: &str, conn: Arc<PgConnection>) {
        self.connections.insert(address.to_string(), conn);
    }
}

/// What the host bindings need from the store data: the instance's
/// [`PgState`] and the resource table the guest's handles live in.
pub struct PgView<'a> {
    /// The instance's PostgreSQL state.
    pub state: &'a mut PgState,
    /// The instance's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
}

/// Implemented by a host's store data to expose PostgreSQL to guests.
pub trait PgHostView: Send {
    /// The PostgreSQL view of this instance.
    fn pg(&mut self) -> PgView<'_>;
}

/// The [`HasData`] marker the generated `add_to_linker` functions take.
pub(crate) struct Pg;

impl HasData for Pg {
    type Data<'a> = PgView<'a>;
}

/// Adds every PostgreSQL interface to `linker`:
/// `fermyon:spin/postgres@2.0.0` (with `fermyon:spin/rdbms-types`),
/// `spin:postgres/postgres@3.0.0` and `spin:postgres/postgres@4.2.0` (which
/// also satisfies imports of `@4.0.0` and `@4.1.0`).
///
/// The `*-async` functions of the last are `async func`s: instantiating a
/// component that imports them needs an engine with component-model async
/// enabled (this crate turns the wasmtime feature on).
pub fn add_to_linker<T: PgHostView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    use crate::bindings::{spin2, spin3, spin4};
    let getter: fn(&mut T) -> PgView<'_> = T::pg;
    spin2::fermyon::spin::rdbms_types::add_to_linker::<T, Pg>(linker, getter)?;
    spin2::fermyon::spin::postgres::add_to_linker::<T, Pg>(linker, getter)?;
    spin3::spin::postgres::postgres::add_to_linker::<T, Pg>(linker, getter)?;
    // `async func`s: only on an engine with concurrency support.
    if linker.engine().get_concurrency_support() {
        spin4::spin::postgres::postgres::add_to_linker::<T, Pg>(linker, getter)?;
    }
    Ok(())
}

/// An open connection as a guest resource.
pub struct ConnectionHandle {
    conn: Arc<PgConnection>,
}

/// A `connection-builder` (`spin:postgres@4.1+`): the address and CA root
/// to connect with.
pub struct BuilderHandle {
    address: String,
    ca_root: Option<String>,
}

/// What a host function fails with: an error the guest sees as the
/// interface's error value, or a trap (a bad resource handle).
pub enum HostError {
    /// Returned to the guest.
    Pg(Error),
    /// Traps the guest.
    Trap(wasmtime::Error),
}

impl From<Error> for HostError {
    fn from(err: Error) -> Self {
        HostError::Pg(err)
    }
}

impl From<ResourceTableError> for HostError {
    fn from(err: ResourceTableError) -> Self {
        HostError::Trap(err.into())
    }
}

impl HostError {
    /// The guest-visible error, or the trap.
    fn into_pg(self) -> wasmtime::Result<Error> {
        match self {
            HostError::Pg(err) => {
                tracing::debug!(error = %err, "postgres operation failed");
                Ok(err)
            }
            HostError::Trap(trap) => Err(trap),
        }
    }
}

/// Opens `address` for an instance whose grant is `allowed`, reusing
/// `existing` when given; returns the connection and whether to keep it for
/// reuse. A builder's `ca_root` makes a TLS connection of its own to that CA:
/// it neither reuses a plain connection nor is kept for plain opens.
async fn connect(
    existing: Option<Arc<PgConnection>>,
    allowed: Arc<AllowedHosts>,
    address: &str,
    ca_root: Option<&str>,
) -> Result<(Arc<PgConnection>, bool), Error> {
    match (existing, ca_root) {
        (Some(conn), None) => Ok((conn, false)),
        (None, None) => Ok((
            Arc::new(PgConnection::connect(address, &allowed).await?),
            true,
        )),
        (_, Some(ca_root)) => Ok((
            Arc::new(PgConnection::connect_with_ca(address, &allowed, Some(ca_root)).await?),
            false,
        )),
    }
}

impl PgView<'_> {
    /// The instance's connection to `address` (reused or new), as a new
    /// resource.
    async fn open(
        &mut self,
        address: &str,
        ca_root: Option<&str>,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        let existing = self.state.reusable(address);
        let (conn, fresh) = connect(existing, self.state.allowed.clone(), address, ca_root).await?;
        self.push(address, conn, fresh)
    }

    fn push(
        &mut self,
        address: &str,
        conn: Arc<PgConnection>,
        fresh: bool,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        tracing::Span::current().record("peer", conn.peer());
        if fresh {
            self.state.keep(address, conn.clone());
        }
        Ok(self.table.push(ConnectionHandle { conn })?)
    }

    /// The connection behind `handle`; records its server on the current span.
    fn connection(
        &self,
        handle: &Resource<ConnectionHandle>,
    ) -> Result<Arc<PgConnection>, HostError> {
        let handle = self.table.get(handle)?;
        tracing::Span::current().record("peer", handle.conn.peer());
        Ok(handle.conn.clone())
    }
}

/// A WIT `date` tuple as a date.
fn to_date((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, Error> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| Error::BadParameter(format!("{y:04}-{m:02}-{d:02} is not a valid date")))
}

/// A WIT `time` tuple as a time.
fn to_time((h, m, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, Error> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns).ok_or_else(|| {
        Error::BadParameter(format!("{h:02}:{m:02}:{s:02}.{ns:09} is not a valid time"))
    })
}

/// A WIT `datetime` tuple as a date and time.
fn to_datetime(
    (y, mo, d, h, mi, s, ns): (i32, u8, u8, u8, u8, u8, u32),
) -> Result<NaiveDateTime, Error> {
    Ok(to_date((y, mo, d))?.and_time(to_time((h, mi, s, ns))?))
}

/// A date as a WIT `date` tuple.
fn from_date(d: NaiveDate) -> (i32, u8, u8) {
    (d.year(), d.month() as u8, d.day() as u8)
}

/// A time as a WIT `time` tuple.
fn from_time(t: NaiveTime) -> (u8, u8, u8, u32) {
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

/// A date and time as a WIT `datetime` tuple.
fn from_datetime(dt: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let (y, mo, d) = from_date(dt.date());
    let (h, mi, s, ns) = from_time(dt.time());
    (y, mo, d, h, mi, s, ns)
}
