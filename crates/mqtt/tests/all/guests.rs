//! The `mqtt_*` guests against a real broker.

use std::sync::Arc;

use anyhow::Result;
use skiff_mqtt::MqttState;
use skiff_outbound_networking::AllowedHosts;
use skiff_test_support::free_port;
use skiff_test_support::guest::{GuestApp, enc};
use skiff_test_support::mosquitto_server::MosquittoServer;

/// Fails to compile when an `mqtt_*` guest has no test here.
macro_rules! assert_test_exists {
    ($name:ident) => {
        #[expect(unused_imports, reason = "only checks that the test exists")]
        use self::$name as _;
    };
}
test_programs_artifacts::foreach_mqtt!(assert_test_exists);

const SPIN2: &str = test_programs_artifacts::MQTT_SPIN2_COMPONENT;
const SPIN3: &str = test_programs_artifacts::MQTT_SPIN3_COMPONENT;

/// A component whose `allowed_outbound_hosts` are `allowed`, served by the
/// shared guest host with this crate's bindings.
fn guest_app(allowed: &[&str]) -> Result<GuestApp<MqttState>> {
    let allowed = Arc::new(AllowedHosts::parse(allowed, &|_| None)?);
    Ok(GuestApp::new(move || {
        MqttState::new(allowed.clone(), "test-component".into())
    }))
}

fn publish_url(address: &str, topic: &str, rest: &str) -> String {
    format!("/?address={}&topic={}{rest}", enc(address), enc(topic))
}

/// Publishes at each QoS; the subscriber sees each message.
async fn publishes(guest: &str) -> Result<()> {
    let broker = MosquittoServer::start()?;
    let app = guest_app(&[&broker.url()])?;
    let subscriber = broker.subscribe("skiff/test", None)?;
    for qos in [0u8, 1, 2] {
        let payload = format!("hello at qos {qos}");
        let url = publish_url(&broker.url(), "skiff/test", &format!("&qos={qos}"));
        assert_eq!(app.ok(guest, &url, &payload).await?, "ok");
        assert_eq!(subscriber.next_message()?, (qos, payload));
    }
    // `?client_id=` in the address is honoured.
    let address = format!("{}?client_id=skiff-guest", broker.url());
    assert_eq!(
        app.ok(guest, &publish_url(&address, "skiff/test", ""), "with id")
            .await?,
        "ok"
    );
    assert_eq!(subscriber.next_message()?, (1, "with id".to_string()));
    Ok(())
}

/// Credentials, denials by host and port, and an unreachable broker.
async fn errors(guest: &str) -> Result<()> {
    let broker = MosquittoServer::start_with_user("skiff", "s3cret")?;
    let url = broker.url();
    let subscriber = broker.subscribe("t", Some(("skiff", "s3cret")))?;
    let app = guest_app(&[&url])?;
    // Wrong or missing credentials: the broker refuses the session.
    for login in ["", "&user=skiff&password=wrong"] {
        let text = app
            .ok(guest, &publish_url(&url, "t", login), "nope")
            .await?;
        assert!(
            text.starts_with(&format!(
                "error: connection-failed: could not connect to the mqtt broker at 127.0.0.1:{}",
                broker.port()
            )) && text.contains("refused"),
            "{text}"
        );
    }
    // Not granted: by host, by port, or only for another scheme.
    for grant in [
        "mqtt://10.1.2.3:1883".to_string(),
        format!("mqtt://127.0.0.1:{}", broker.port().wrapping_add(1).max(1)),
        format!("redis://127.0.0.1:{}", broker.port()),
    ] {
        let text = guest_app(&[&grant])?
            .ok(
                guest,
                &publish_url(&url, "t", "&user=skiff&password=s3cret"),
                "denied",
            )
            .await?;
        assert_eq!(
            text,
            format!(
                "error: connection-failed: `{url}` is not allowed: add `{url}` to \
                 `allowed_outbound_hosts`"
            ),
            "granted only {grant}"
        );
    }
    // The right credentials work; the next message the subscriber sees is this
    // one, so none of the attempts above reached the broker.
    let ok = publish_url(&url, "t", "&user=skiff&password=s3cret");
    assert_eq!(app.ok(guest, &ok, "allowed").await?, "ok");
    assert_eq!(subscriber.next_message()?, (1, "allowed".to_string()));
    // Not an mqtt address.
    assert_eq!(
        app.ok(guest, &publish_url("http://127.0.0.1:1883", "t", ""), "x")
            .await?,
        "error: invalid-address"
    );
    // Granted, but nothing listens.
    let dead = format!("mqtt://127.0.0.1:{}", free_port()?);
    let text = guest_app(&[&dead])?
        .ok(guest, &publish_url(&dead, "t", ""), "x")
        .await?;
    assert!(
        text.starts_with(
            "error: connection-failed: could not connect to the mqtt broker at 127.0.0.1:"
        ),
        "{text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_spin2() -> Result<()> {
    publishes(SPIN2).await
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_spin3() -> Result<()> {
    publishes(SPIN3).await
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_spin2_errors() -> Result<()> {
    errors(SPIN2).await
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_spin3_errors() -> Result<()> {
    errors(SPIN3).await
}
