//! Per-instance state, the grant, and what both interfaces share.

mod spin2;
mod spin3;

use std::sync::Arc;

use skiff_outbound_networking::AllowedHosts;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};

use crate::client::RedisConnection;
use crate::error::Error;

/// The outbound Redis state of one guest instance: what its component's
/// `allowed_outbound_hosts` grant, and its id for the host log. Cheap to
/// create per request; the instance's connections close when their
/// resources (or the instance) are dropped.
pub struct RedisState {
    allowed: Arc<AllowedHosts>,
    component_id: Arc<str>,
}

impl RedisState {
    /// State for an instance of component `component_id` whose
    /// `allowed_outbound_hosts` are `allowed`: it may reach the servers
    /// granted by `redis://HOST[:PORT]` entries (or wildcards covering them).
    pub fn new(allowed: Arc<AllowedHosts>, component_id: Arc<str>) -> Self {
        RedisState {
            allowed,
            component_id,
        }
    }
}

/// What the host bindings need from the store data: the instance's
/// [`RedisState`] and the resource table the guest's handles live in.
pub struct RedisView<'a> {
    /// The instance's Redis state.
    pub state: &'a mut RedisState,
    /// The instance's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
}

/// Implemented by a host's store data to expose outbound Redis to guests.
pub trait RedisHostView: Send {
    /// The Redis view of this instance.
    fn redis(&mut self) -> RedisView<'_>;
}

/// The [`HasData`] marker the generated `add_to_linker` functions take.
pub(crate) struct Redis;

impl HasData for Redis {
    type Data<'a> = RedisView<'a>;
}

/// Adds both outbound Redis interfaces to `linker`:
/// `fermyon:spin/redis@2.0.0` and `spin:redis/redis@3.0.0`.
///
/// The latter's functions are `async func`s: instantiating a component that
/// imports them needs an engine with component-model async enabled (this
/// crate turns the wasmtime feature on).
pub fn add_to_linker<T: RedisHostView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    use crate::bindings::{spin2, spin3};
    let getter: fn(&mut T) -> RedisView<'_> = T::redis;
    spin2::fermyon::spin::redis::add_to_linker::<T, Redis>(linker, getter)?;
    // `async func`s: only on an engine with concurrency support.
    if linker.engine().get_concurrency_support() {
        spin3::spin::redis::redis::add_to_linker::<T, Redis>(linker, getter)?;
    }
    Ok(())
}

/// An open connection as a guest resource.
pub struct ConnectionHandle {
    conn: Arc<RedisConnection>,
}

/// What a host function fails with: an error the guest sees as the
/// interface's error value, or a trap (a bad resource handle).
pub enum HostError {
    /// Returned to the guest.
    Redis(Error),
    /// Traps the guest.
    Trap(wasmtime::Error),
}

impl From<Error> for HostError {
    fn from(err: Error) -> Self {
        HostError::Redis(err)
    }
}

impl From<ResourceTableError> for HostError {
    fn from(err: ResourceTableError) -> Self {
        HostError::Trap(err.into())
    }
}

impl HostError {
    /// The guest-visible error, or the trap.
    fn into_redis(self) -> wasmtime::Result<Error> {
        match self {
            HostError::Redis(err) => Ok(err),
            HostError::Trap(trap) => Err(trap),
        }
    }
}

/// Connects to `address` for component `component_id`; a denial or a
/// failure is logged with the component id (the guest only sees the
/// interface's error variant, which may carry no message).
async fn connect(
    allowed: Arc<AllowedHosts>,
    component_id: Arc<str>,
    address: &str,
) -> Result<Arc<RedisConnection>, Error> {
    match RedisConnection::connect(address, &allowed).await {
        Ok(conn) => Ok(Arc::new(conn)),
        Err(err) => {
            match &err {
                Error::NotAllowed(_) | Error::InvalidAddress(_) => tracing::warn!(
                    component = %component_id,
                    "component `{component_id}` could not open redis: {err}"
                ),
                _ => tracing::info!(
                    component = %component_id,
                    "component `{component_id}` could not open redis: {err}"
                ),
            }
            Err(err)
        }
    }
}

impl RedisView<'_> {
    /// The grant and id to connect with (taken before an await).
    fn grant(&self) -> (Arc<AllowedHosts>, Arc<str>) {
        (self.state.allowed.clone(), self.state.component_id.clone())
    }

    /// The connection behind `handle`; records its server on the current span.
    fn connection(
        &self,
        handle: &Resource<ConnectionHandle>,
    ) -> Result<Arc<RedisConnection>, HostError> {
        let handle = self.table.get(handle)?;
        tracing::Span::current().record("peer", handle.conn.peer());
        Ok(handle.conn.clone())
    }

    /// Makes `conn` a guest resource.
    fn push(
        &mut self,
        conn: Arc<RedisConnection>,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        tracing::Span::current().record("peer", conn.peer());
        Ok(self.table.push(ConnectionHandle { conn })?)
    }
}
