//! `spin:mqtt/mqtt@3.0.0`: the same operations as `async func`s.

use wasmtime::component::{Accessor, Resource};

use super::{ConnectionHandle, HostError, Mqtt, MqttView, OpenArgs, connect};
use crate::bindings::spin3::spin::mqtt::mqtt as v3;
use crate::client::Qos;
use crate::error::Error;

const INTERFACE: &str = "spin:mqtt/mqtt@3.0.0";

fn to_qos(qos: v3::Qos) -> Qos {
    match qos {
        v3::Qos::AtMostOnce => Qos::AtMostOnce,
        v3::Qos::AtLeastOnce => Qos::AtLeastOnce,
        v3::Qos::ExactlyOnce => Qos::ExactlyOnce,
    }
}

impl v3::Host for MqttView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<v3::Error> {
        Ok(match err.into_mqtt()? {
            Error::InvalidAddress(_) => v3::Error::InvalidAddress,
            Error::ConnectionFailed(m) => v3::Error::ConnectionFailed(m),
            other => v3::Error::Other(other.to_string()),
        })
    }
}

impl v3::HostConnection for MqttView<'_> {
    fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

impl<T> v3::HostConnectionWithStore<T> for Mqtt {
    #[tracing::instrument(name = "skiff_mqtt.open", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn open(
        accessor: &Accessor<T, Self>,
        address: String,
        username: String,
        password: String,
        keep_alive_secs: u64,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        let (allowed, id) = accessor.with(|mut access| access.get().grant());
        let args = OpenArgs {
            address,
            username,
            password,
            keep_alive_secs,
        };
        let conn = connect(allowed, id, args).await?;
        accessor.with(|mut access| access.get().push(conn))
    }

    #[tracing::instrument(name = "skiff_mqtt.publish", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn publish(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        topic: String,
        payload: Vec<u8>,
        qos: v3::Qos,
    ) -> Result<(), HostError> {
        let conn = accessor.with(|mut access| access.get().connection(&conn))?;
        Ok(conn.publish(&topic, payload, to_qos(qos)).await?)
    }
}
