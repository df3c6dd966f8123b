//! One connection per configuration: `shared` against a real `nats-server`.

use anyhow::Result;
use skiff_nats::{NatsConfig, shared};
use skiff_test_support::nats_server::NatsServer;

async fn open(config: &NatsConfig) -> Result<skiff_nats::Connection> {
    shared(config).await.map_err(anyhow::Error::msg)
}

/// Equal configurations share a connection (the server gave both the same
/// client id), others get their own, concurrent first callers make one
/// connect, and once nobody holds it the next caller connects anew.
#[tokio::test(flavor = "multi_thread")]
async fn one_connection_per_configuration() -> Result<()> {
    let nats = NatsServer::start()?;
    let config = NatsConfig::new(nats.url());
    let a = open(&config).await?;
    let b = open(&config).await?;
    let id = a.server_info().client_id;
    assert_eq!(b.server_info().client_id, id);

    let mut named = config.clone();
    named.connection_name = Some("another".into());
    let c = open(&named).await?;
    assert_ne!(c.server_info().client_id, id);

    let mut racing = config.clone();
    racing.connection_name = Some("racing".into());
    let (x, y) = tokio::join!(open(&racing), open(&racing));
    assert_eq!(x?.server_info().client_id, y?.server_info().client_id);

    // The one connection serves both holders.
    let mut messages = a.subscribe("shared.test").await?;
    b.publish("shared.test", "hello".into()).await?;
    b.flush().await?;
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        use futures_util::StreamExt;
        messages.next().await
    })
    .await?
    .expect("the subscription is open");
    assert_eq!(&got.payload[..], b"hello");
    drop(messages);

    drop((a, b));
    let again = open(&config).await?;
    assert_ne!(again.server_info().client_id, id);
    Ok(())
}
