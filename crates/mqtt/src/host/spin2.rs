//! `fermyon:spin/mqtt@2.0.0`.

use wasmtime::component::Resource;

use super::{ConnectionHandle, HostError, MqttView, OpenArgs, connect};
use crate::bindings::spin2::fermyon::spin::mqtt as v2;
use crate::client::Qos;
use crate::error::Error;

const INTERFACE: &str = "fermyon:spin/mqtt@2.0.0";

fn to_qos(qos: v2::Qos) -> Qos {
    match qos {
        v2::Qos::AtMostOnce => Qos::AtMostOnce,
        v2::Qos::AtLeastOnce => Qos::AtLeastOnce,
        v2::Qos::ExactlyOnce => Qos::ExactlyOnce,
    }
}

impl v2::Host for MqttView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<v2::Error> {
        Ok(match err.into_mqtt()? {
            Error::InvalidAddress(_) => v2::Error::InvalidAddress,
            Error::ConnectionFailed(m) => v2::Error::ConnectionFailed(m),
            other => v2::Error::Other(other.to_string()),
        })
    }
}

impl v2::HostConnection for MqttView<'_> {
    #[tracing::instrument(name = "skiff_mqtt.open", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_secs: u64,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        let (allowed, id) = self.grant();
        let args = OpenArgs {
            address,
            username,
            password,
            keep_alive_secs,
        };
        let conn = connect(allowed, id, args).await?;
        self.push(conn)
    }

    #[tracing::instrument(name = "skiff_mqtt.publish", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn publish(
        &mut self,
        conn: Resource<ConnectionHandle>,
        topic: String,
        payload: Vec<u8>,
        qos: v2::Qos,
    ) -> Result<(), HostError> {
        let conn = self.connection(&conn)?;
        Ok(conn.publish(&topic, payload, to_qos(qos)).await?)
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
