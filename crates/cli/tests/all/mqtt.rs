//! Outbound MQTT through `skiff up`: the `mqtt_spin2` guest (spin-sdk 5.2,
//! `fermyon:spin/mqtt@2.0.0`) and the `mqtt_spin3` guest (a WASI 0.3
//! component on `spin:mqtt/mqtt@3.0.0`) publish to a real `mosquitto` broker
//! watched by `mosquitto_sub`; granted by `allowed_outbound_hosts`, denied by
//! host and by port; and over TLS (`mqtts://`).

use anyhow::{Result, ensure};
use test_programs_artifacts::{MQTT_SPIN2_COMPONENT, MQTT_SPIN3_COMPONENT};

use crate::harness::{AppDir, Server, shared_cache};
use crate::mosquitto_server::MosquittoServer;
use crate::outbound_redis::{enc, http_component};
use crate::redis_server::free_port;

async fn publish(
    server: &Server,
    component: &str,
    address: &str,
    qos: u8,
    body: &str,
) -> Result<String> {
    let path = format!(
        "/{component}?address={}&topic=skiff%2Fe2e&qos={qos}",
        enc(address)
    );
    server.post_ok(&path, body).await
}

/// Publishes at every QoS from a granted component; each arrives. Publishes
/// from components granted another port, another host or another scheme are
/// `connection-failed` naming the entry to add, and never reach the broker.
#[tokio::test(flavor = "multi_thread")]
async fn mqtt_spin2() -> Result<()> {
    grants_and_every_qos(MQTT_SPIN2_COMPONENT).await
}

/// The same through `spin:mqtt/mqtt@3.0.0` from a WASI 0.3 component.
#[tokio::test(flavor = "multi_thread")]
async fn mqtt_spin3() -> Result<()> {
    grants_and_every_qos(MQTT_SPIN3_COMPONENT).await
}

async fn grants_and_every_qos(guest: &str) -> Result<()> {
    let broker = MosquittoServer::start()?;
    let url = broker.url();
    let other_port = format!("mqtt://127.0.0.1:{}", free_port()?);
    let manifest = [
        http_component("ok", guest, &[&url]),
        http_component("port", guest, &[&other_port]),
        http_component("host", guest, &["mqtt://10.1.2.3:1883"]),
        http_component("scheme", guest, &[&url.replace("mqtt:", "redis:")]),
    ]
    .concat();
    let app = AppDir::with_manifest(&manifest)?;
    let server = Server::start(app.path(), shared_cache()?)?;
    let subscriber = broker.subscribe("skiff/e2e", None)?;
    for component in ["port", "host", "scheme"] {
        assert_eq!(
            publish(&server, component, &url, 1, "denied").await?,
            format!(
                "error: connection-failed: `{url}` is not allowed: add `{url}` to \
                 `allowed_outbound_hosts`"
            ),
            "component `{component}`"
        );
    }
    for qos in [0u8, 1, 2] {
        let payload = format!("qos {qos} from skiff up");
        assert_eq!(publish(&server, "ok", &url, qos, &payload).await?, "ok");
        // The first message the subscriber sees is the first granted one:
        // the denied publishes never reached the broker.
        assert_eq!(subscriber.next_message()?, (qos, payload));
    }
    // Granted, but nothing listens there.
    let text = publish(&server, "port", &other_port, 1, "x").await?;
    ensure!(
        text.starts_with("error: connection-failed: could not connect to the mqtt broker at"),
        "{text}"
    );
    Ok(())
}

/// MQTT over TLS (`mqtts://`, granted as such) to a TLS-only `mosquitto`
/// whose certificate a CA made for the test signed: published at QoS 1 when
/// the CA is trusted through `SSL_CERT_FILE`; `connection-failed` naming the
/// certificate problem when it is not.
#[tokio::test(flavor = "multi_thread")]
async fn mqtt_over_tls() -> Result<()> {
    let broker = MosquittoServer::start_tls()?;
    let url = broker.url();
    ensure!(url.starts_with("mqtts://"), "{url}");
    let ca = broker.ca_file().expect("a TLS broker").to_path_buf();
    let app = AppDir::with_manifest(&http_component("ok", MQTT_SPIN2_COMPONENT, &[&url]))?;
    let subscriber = broker.subscribe("skiff/e2e", None)?;

    let trusting = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.env("SSL_CERT_FILE", &ca);
    })?;
    assert_eq!(publish(&trusting, "ok", &url, 1, "sealed").await?, "ok");
    assert_eq!(subscriber.next_message()?, (1, "sealed".to_string()));

    let doubting = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.env_remove("SSL_CERT_FILE");
    })?;
    let text = publish(&doubting, "ok", &url, 1, "unsealed").await?;
    ensure!(
        text.starts_with("error: connection-failed: could not connect to the mqtt broker at")
            && text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );
    Ok(())
}
