//! [`RedisConnection`] without a guest: the grant check and the error cases.

use anyhow::Result;
use skiff_outbound_networking::AllowedHosts;
use skiff_redis::{Error, Param, RedisConnection, Reply};

use skiff_test_support::free_port;
use skiff_test_support::redis_server::RedisServer;

fn allow(patterns: &[&str]) -> Result<AllowedHosts> {
    Ok(AllowedHosts::parse(patterns, &|_| None)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn granted_address_connects_and_round_trips() -> Result<()> {
    let server = RedisServer::start()?;
    let conn = RedisConnection::connect(&server.url(), &allow(&[&server.url()])?).await?;
    conn.set("k", b"v").await?;
    assert_eq!(conn.get("k").await?, Some(b"v".to_vec()));
    assert_eq!(
        conn.execute(
            "MGET",
            &[
                Param::Binary(b"k".to_vec()),
                Param::Binary(b"nope".to_vec())
            ]
        )
        .await?,
        vec![Reply::Binary(b"v".to_vec()), Reply::Nil]
    );
    assert_eq!(conn.peer(), server.address());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn ungranted_host_or_port_is_not_allowed_before_connecting() -> Result<()> {
    // Nothing listens on this port: a denial must come from the grant check,
    // not from a failed connection.
    let port = free_port()?;
    let url = format!("redis://127.0.0.1:{port}");
    let other_port = format!("redis://127.0.0.1:{}", port.wrapping_add(1).max(1));
    for allowed in [
        vec!["redis://10.9.9.9:6379"],
        vec![other_port.as_str()],
        vec![],
    ] {
        match RedisConnection::connect(&url, &allow(&allowed)?).await {
            Err(Error::NotAllowed(message)) => assert_eq!(
                message,
                format!(
                    "`redis://127.0.0.1:{port}` is not allowed: add `redis://127.0.0.1:{port}` \
                     to `allowed_outbound_hosts`"
                )
            ),
            Err(other) => anyhow::bail!("expected NotAllowed with {allowed:?}, got {other:?}"),
            Ok(_) => anyhow::bail!("connected to {url} with only {allowed:?} granted"),
        }
    }
    // A postgres grant for the same host and port is not a redis grant.
    let pg = format!("postgres://127.0.0.1:{port}");
    assert!(matches!(
        RedisConnection::connect(&url, &allow(&[&pg])?).await,
        Err(Error::NotAllowed(_))
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn wildcard_grant_does_not_reach_loopback_by_name() -> Result<()> {
    let server = RedisServer::start()?;
    let port = server.address().rsplit_once(':').unwrap().1.to_string();
    let url = format!("redis://localhost:{port}");
    let result = RedisConnection::connect(&url, &allow(&["redis://*:*"])?).await;
    match result {
        Err(Error::NotAllowed(message)) => assert!(
            message.contains("wildcard entries") && message.contains("loopback"),
            "{message}"
        ),
        Err(other) => anyhow::bail!("expected the SSRF guard, got {other:?}"),
        Ok(_) => anyhow::bail!("a wildcard grant reached a loopback address"),
    }
    // Named explicitly, the same server is reachable.
    let conn = RedisConnection::connect(&url, &allow(&[&url])?).await?;
    conn.set("k", b"v").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_server_and_bad_addresses() -> Result<()> {
    let port = free_port()?;
    let url = format!("redis://127.0.0.1:{port}");
    match RedisConnection::connect(&url, &allow(&[&url])?).await {
        Err(Error::Other(message)) => assert!(
            message.starts_with(&format!("could not connect to redis at 127.0.0.1:{port}")),
            "{message}"
        ),
        Err(other) => anyhow::bail!("expected Other, got {other:?}"),
        Ok(_) => anyhow::bail!("connected to a port nothing listens on"),
    }
    for bad in [
        "not a url",
        "http://127.0.0.1:6379",
        "unix:///tmp/redis.sock",
    ] {
        assert!(
            matches!(
                RedisConnection::connect(bad, &AllowedHosts::allow_all()).await,
                Err(Error::InvalidAddress(_))
            ),
            "{bad}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn type_errors_and_server_errors() -> Result<()> {
    let server = RedisServer::start()?;
    let conn = RedisConnection::connect(&server.url(), &allow(&[&server.url()])?).await?;
    conn.set("text", b"abc").await?;
    assert!(matches!(conn.incr("text").await, Err(Error::TypeError(_))));
    conn.sadd("set", &["a".into()]).await?;
    assert!(matches!(conn.get("set").await, Err(Error::TypeError(_))));
    match conn.execute("NOSUCHCOMMAND", &[]).await {
        Err(Error::Other(message)) => assert!(
            message.contains(&server.address()) && message.contains("unknown command"),
            "{message}"
        ),
        other => anyhow::bail!("expected Other, got {:?}", other.map(|_| ())),
    }
    Ok(())
}
