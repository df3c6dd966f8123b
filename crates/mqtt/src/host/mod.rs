//! Per-instance state, the grant, and what both interfaces share.

mod spin2;
mod spin3;

use std::sync::Arc;

use skiff_outbound_networking::AllowedHosts;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};

use crate::client::MqttConnection;
use crate::error::Error;

/// The outbound MQTT state of one guest instance: what its component's
/// `allowed_outbound_hosts` grant, and its id for the host log.
pub struct MqttState {
    allowed: Arc<AllowedHosts>,
    component_id: Arc<str>,
}

impl MqttState {
    /// State for an instance of component `component_id` whose
    /// `allowed_outbound_hosts` are `allowed`: it may reach the brokers
    /// granted by `mqtt://HOST[:PORT]` entries (or wildcards covering them).
    pub fn new(allowed: Arc<AllowedHosts>, component_id: Arc<str>) -> Self {
        MqttState {
            allowed,
            component_id,
        }
    }
}

/// What the host bindings need from the store data: the instance's
/// [`MqttState`] and the resource table the guest's handles live in.
pub struct MqttView<'a> {
    /// The instance's MQTT state.
    pub state: &'a mut MqttState,
    /// The instance's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
}

/// Implemented by a host's store data to expose outbound MQTT to guests.
pub trait MqttHostView: Send {
    /// The MQTT view of this instance.
    fn mqtt(&mut self) -> MqttView<'_>;
}

/// The [`HasData`] marker the generated `add_to_linker` functions take.
pub(crate) struct Mqtt;

impl HasData for Mqtt {
    type Data<'a> = MqttView<'a>;
}

/// Adds both outbound MQTT interfaces to `linker`: `fermyon:spin/mqtt@2.0.0`
/// and `spin:mqtt/mqtt@3.0.0` (whose `async func`s need an engine with
/// component-model async enabled; this crate turns the wasmtime feature on).
pub fn add_to_linker<T: MqttHostView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    use crate::bindings::{spin2, spin3};
    let getter: fn(&mut T) -> MqttView<'_> = T::mqtt;
    spin2::fermyon::spin::mqtt::add_to_linker::<T, Mqtt>(linker, getter)?;
    // `async func`s: only on an engine with concurrency support.
    if linker.engine().get_concurrency_support() {
        spin3::spin::mqtt::mqtt::add_to_linker::<T, Mqtt>(linker, getter)?;
    }
    Ok(())
}

/// An open connection as a guest resource.
pub struct ConnectionHandle {
    conn: Arc<MqttConnection>,
}

/// What a host function fails with: an error the guest sees as the
/// interface's error value, or a trap (a bad resource handle).
pub enum HostError {
    /// Returned to the guest.
    Mqtt(Error),
    /// Traps the guest.
    Trap(wasmtime::Error),
}

impl From<Error> for HostError {
    fn from(err: Error) -> Self {
        HostError::Mqtt(err)
    }
}

impl From<ResourceTableError> for HostError {
    fn from(err: ResourceTableError) -> Self {
        HostError::Trap(err.into())
    }
}

impl HostError {
    /// The guest-visible error, or the trap.
    fn into_mqtt(self) -> wasmtime::Result<Error> {
        match self {
            HostError::Mqtt(err) => Ok(err),
            HostError::Trap(trap) => Err(trap),
        }
    }
}

/// What `open` was given.
struct OpenArgs {
    address: String,
    username: String,
    password: String,
    keep_alive_secs: u64,
}

/// Connects for component `component_id`; a failure is logged with the
/// component id.
async fn connect(
    allowed: Arc<AllowedHosts>,
    component_id: Arc<str>,
    args: OpenArgs,
) -> Result<Arc<MqttConnection>, Error> {
    let result = MqttConnection::connect(
        &args.address,
        &args.username,
        &args.password,
        args.keep_alive_secs,
        &allowed,
    )
    .await;
    match result {
        Ok(conn) => Ok(Arc::new(conn)),
        Err(err) => {
            tracing::warn!(
                component = %component_id,
                "component `{component_id}` could not open mqtt: {err}"
            );
            Err(err)
        }
    }
}

impl MqttView<'_> {
    fn grant(&self) -> (Arc<AllowedHosts>, Arc<str>) {
        (self.state.allowed.clone(), self.state.component_id.clone())
    }

    fn connection(
        &self,
        handle: &Resource<ConnectionHandle>,
    ) -> Result<Arc<MqttConnection>, HostError> {
        let handle = self.table.get(handle)?;
        tracing::Span::current().record("peer", handle.conn.peer());
        Ok(handle.conn.clone())
    }

    fn push(&mut self, conn: Arc<MqttConnection>) -> Result<Resource<ConnectionHandle>, HostError> {
        tracing::Span::current().record("peer", conn.peer());
        Ok(self.table.push(ConnectionHandle { conn })?)
    }
}
