//! `MessagingManager`: an app's brokers by label.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail, ensure};
use skiff_messaging::{Error, Message, MessagingConfig, MessagingManager};
use skiff_test_support::nats_server::NatsServer;

use crate::{next, text};

fn manager(runtime_config: &str) -> Result<MessagingManager> {
    let table: toml::Table = toml::from_str(runtime_config)?;
    let config = MessagingConfig::from_toml(&table, Path::new(".")).map_err(anyhow::Error::msg)?;
    Ok(MessagingManager::new(config))
}

#[tokio::test(flavor = "multi_thread")]
async fn unconfigured_label_shares_one_embedded_broker() -> Result<()> {
    let manager = MessagingManager::default();
    assert_eq!(manager.describe("default"), "embedded");
    assert!(manager.configured_labels().is_empty());
    let first = manager.broker("default").await?;
    let second = manager.broker("default").await?;
    ensure!(Arc::ptr_eq(&first, &second), "two brokers for one label");
    assert_eq!(first.describe(), "embedded");

    // What one component publishes, another (with its own handle) hears.
    let mut subscription = first.subscribe("chat", None).await?;
    second.publish(Message::new("chat", "hi")).await?;
    assert_eq!(text(&next(&mut subscription).await?), "hi");

    // Another label is another broker.
    let other = manager.broker("other").await?;
    ensure!(!Arc::ptr_eq(&first, &other), "labels share a broker");
    other.publish(Message::new("chat", "elsewhere")).await?;
    second.publish(Message::new("chat", "again")).await?;
    assert_eq!(text(&next(&mut subscription).await?), "again");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_managers_are_isolated() -> Result<()> {
    let app_a = MessagingManager::default();
    let app_b = MessagingManager::default();
    let broker_a = app_a.broker("default").await?;
    let broker_b = app_b.broker("default").await?;
    ensure!(
        !Arc::ptr_eq(&broker_a, &broker_b),
        "two apps share a broker"
    );

    let mut subscription = broker_a.subscribe("chat", None).await?;
    broker_b.publish(Message::new("chat", "from b")).await?;
    broker_a.publish(Message::new("chat", "from a")).await?;
    // In order: had b's message reached a, it would come first.
    assert_eq!(text(&next(&mut subscription).await?), "from a");
    match broker_b
        .request(Message::new("chat", "anyone?"), Some(crate::WAIT), 1)
        .await
    {
        Err(Error::NoResponders(_)) => {}
        other => bail!("expected NoResponders in the other app, got {other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_memory_label() -> Result<()> {
    let manager = manager("[local]\ntype = \"memory\"")?;
    assert_eq!(manager.configured_labels(), ["local"]);
    assert_eq!(manager.describe("local"), "embedded");
    let a = manager.broker("local").await?;
    let b = manager.broker("local").await?;
    ensure!(Arc::ptr_eq(&a, &b), "two brokers for one label");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_nats_label_connects_when_the_server_is_up() -> Result<()> {
    let mut server = NatsServer::start()?;
    server.stop()?;
    let manager = manager(&format!(
        "[events]\ntype = \"nats\"\nurl = \"{}\"\nconnect_timeout = \"2s\"",
        server.url()
    ))?;
    assert_eq!(manager.configured_labels(), ["events"]);
    assert_eq!(manager.describe("events"), server.url());

    match manager.broker("events").await {
        Err(Error::Connection(message)) => {
            ensure!(message.contains("message broker `events`"), "{message}");
            ensure!(message.contains(&server.url()), "{message}");
        }
        Err(other) => bail!("expected Error::Connection, got {other:?}"),
        Ok(_) => bail!("connected to a server that is down"),
    }

    // The failure is not remembered: once the server is up, it connects,
    // once, however many ask at the same time.
    server.restart()?;
    let manager = Arc::new(manager);
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move { manager.broker("events").await })
        })
        .collect();
    let mut brokers = Vec::new();
    for call in calls {
        brokers.push(call.await??);
    }
    for broker in &brokers[1..] {
        ensure!(Arc::ptr_eq(&brokers[0], broker), "connected more than once");
    }
    let broker = &brokers[0];
    assert_eq!(broker.describe(), server.url());
    let mut subscription = broker.subscribe("events.>", None).await?;
    broker.publish(Message::new("events.up", "up")).await?;
    assert_eq!(text(&next(&mut subscription).await?), "up");
    Ok(())
}
