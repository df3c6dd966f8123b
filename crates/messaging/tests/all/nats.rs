//! What only the NATS backend has: authentication, and a server that goes
//! away and comes back.

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use skiff_messaging::{Broker, Error, Message, NatsBroker, NatsConfig};
use skiff_test_support::nats_server::NatsServer;

use crate::{WAIT, next, text};

/// Connecting with `config` fails with [`Error::Connection`]; returns its
/// message, checked to name the server and to hold none of `secrets`.
async fn connection_error(config: &NatsConfig, url: &str, secrets: &[&str]) -> Result<String> {
    let message = match NatsBroker::connect(config).await {
        Err(Error::Connection(message)) => message,
        Err(other) => bail!("expected Error::Connection, got {other:?}"),
        Ok(_) => bail!("connected with {config:?}"),
    };
    ensure!(
        message.contains(url),
        "the error names no server: {message}"
    );
    for secret in secrets {
        ensure!(
            !message.contains(secret),
            "the error shows a secret: {message}"
        );
    }
    Ok(message)
}

/// Publishing and subscribing work on `broker`.
async fn works(broker: &NatsBroker) -> Result<()> {
    let mut subscription = broker.subscribe("auth.check", None).await?;
    broker.publish(Message::new("auth.check", "in")).await?;
    ensure!(text(&next(&mut subscription).await?) == "in");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn user_and_password() -> Result<()> {
    let server = NatsServer::start_with_user("app", "pw-right-3k9")?;
    let right = NatsConfig::new(server.url()).with_user_and_password("app", "pw-right-3k9");
    let broker = NatsBroker::connect(&right).await?;
    works(&broker).await?;
    assert_eq!(broker.describe(), server.url());

    let wrong = NatsConfig::new(server.url()).with_user_and_password("app", "pw-wrong-7x2");
    let message =
        connection_error(&wrong, &server.url(), &["pw-wrong-7x2", "pw-right-3k9"]).await?;
    ensure!(message.contains("authorization"), "{message}");
    let none = NatsConfig::new(server.url());
    connection_error(&none, &server.url(), &["pw-right-3k9"]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn token() -> Result<()> {
    let server = NatsServer::start_with_token("tok-right-5q1")?;
    let right = NatsConfig::new(server.url()).with_token("tok-right-5q1");
    works(&NatsBroker::connect(&right).await?).await?;

    let wrong = NatsConfig::new(server.url()).with_token("tok-wrong-8z4");
    connection_error(&wrong, &server.url(), &["tok-wrong-8z4", "tok-right-5q1"]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_server_is_a_connection_error() -> Result<()> {
    let mut server = NatsServer::start()?;
    server.stop()?;
    let config = NatsConfig::new(server.url()).with_connect_timeout(Duration::from_secs(2));
    connection_error(&config, &server.url(), &[]).await?;
    Ok(())
}

/// Publishes on `probe` until the broker says the server is unreachable.
async fn until_unreachable(broker: &NatsBroker, url: &str) -> Result<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match broker.publish(Message::new("probe", "x")).await {
            Err(Error::Connection(message)) => {
                ensure!(message.contains(url), "{message}");
                ensure!(message.contains("unreachable"), "{message}");
                return Ok(message);
            }
            Err(other) => bail!("expected Error::Connection, got {other:?}"),
            Ok(()) if tokio::time::Instant::now() > deadline => {
                bail!("publishing still succeeds {WAIT:?} after the server stopped")
            }
            Ok(()) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_down_fails_publish_and_request() -> Result<()> {
    let mut server = NatsServer::start()?;
    let broker = NatsBroker::connect(&NatsConfig::new(server.url())).await?;
    let _service = broker.subscribe("svc.down", None).await?;
    server.stop()?;
    until_unreachable(&broker, &server.url()).await?;
    match broker
        .request(Message::new("svc.down", "x"), Some(WAIT), 1)
        .await
    {
        Err(Error::Connection(message)) => ensure!(message.contains("unreachable"), "{message}"),
        other => bail!("request: expected Error::Connection, got {other:?}"),
    }
    match broker
        .request(Message::new("svc.down", "x"), Some(WAIT), 3)
        .await
    {
        Err(Error::Connection(_)) => {}
        other => bail!("request for 3: expected Error::Connection, got {other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn restarted_server_works_again_with_the_same_broker() -> Result<()> {
    let mut server = NatsServer::start()?;
    let broker = NatsBroker::connect(&NatsConfig::new(server.url())).await?;
    let mut subscription = broker.subscribe("events.kept", None).await?;
    broker
        .publish(Message::new("events.kept", "before"))
        .await?;
    assert_eq!(text(&next(&mut subscription).await?), "before");

    server.stop()?;
    until_unreachable(&broker, &server.url()).await?;
    server.restart()?;

    // The client reconnects on its own; publishing works once it has.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match broker.publish(Message::new("events.kept", "after")).await {
            Ok(()) => break,
            Err(Error::Connection(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(err) => bail!("publishing after the restart: {err}"),
        }
    }
    // The subscription made before the restart carries on.
    assert_eq!(text(&next(&mut subscription).await?), "after");

    // Requests too, from another connection.
    let mut service = broker.subscribe("svc.back", None).await?;
    let requester = tokio::spawn({
        let config = NatsConfig::new(server.url());
        async move {
            let client = NatsBroker::connect(&config).await?;
            anyhow::Ok(
                client
                    .request(Message::new("svc.back", "ping"), Some(WAIT), 1)
                    .await?,
            )
        }
    });
    let request = next(&mut service).await?;
    let reply_to = request.reply_to.clone().unwrap_or_default();
    broker.publish(Message::new(reply_to, "pong")).await?;
    let replies = requester.await??;
    assert_eq!(text(&replies[0]), "pong");
    Ok(())
}
