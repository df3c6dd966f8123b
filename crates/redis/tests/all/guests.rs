//! The `redis_*` guests: every operation of both interface generations
//! through a real Redis, grants by host and port, and the error cases.

use std::sync::Arc;

use anyhow::Result;
use skiff_outbound_networking::AllowedHosts;
use skiff_redis::RedisState;
use skiff_test_support::free_port;
use skiff_test_support::guest::{GuestApp, enc};
use skiff_test_support::redis_server::RedisServer;

/// Fails to compile when a `redis_*` guest has no test here.
macro_rules! assert_test_exists {
    ($name:ident) => {
        #[expect(unused_imports, reason = "only checks that the test exists")]
        use self::$name as _;
    };
}
test_programs_artifacts::foreach_redis!(assert_test_exists);

const SPIN2: &str = test_programs_artifacts::REDIS_SPIN2_COMPONENT;
const SPIN3: &str = test_programs_artifacts::REDIS_SPIN3_COMPONENT;

/// A component whose `allowed_outbound_hosts` are `allowed`, served by the
/// shared guest host with this crate's bindings.
fn guest_app(allowed: &[&str]) -> Result<GuestApp<RedisState>> {
    let allowed = Arc::new(AllowedHosts::parse(allowed, &|_| None)?);
    Ok(GuestApp::new(move || {
        RedisState::new(allowed.clone(), "test-component".into())
    }))
}

/// Every operation through `guest`, checked against the server itself.
async fn every_operation(guest: &str) -> Result<()> {
    let server = RedisServer::start()?;
    let url = server.url();
    let app = guest_app(&[&url])?;
    let op = |op: &str, rest: &str| format!("/?address={}&op={op}{rest}", enc(&url));
    assert_eq!(app.ok(guest, &op("open", ""), "").await?, "ok");
    assert_eq!(app.ok(guest, &op("get", "&key=k"), "").await?, "none");
    assert_eq!(
        app.ok(guest, &op("set", "&key=k"), "hello world").await?,
        "ok"
    );
    assert_eq!(server.cli(&["GET", "k"])?, "hello world");
    assert_eq!(
        app.ok(guest, &op("get", "&key=k"), "").await?,
        "some:hello world"
    );
    assert_eq!(app.ok(guest, &op("incr", "&key=n"), "").await?, "1");
    assert_eq!(app.ok(guest, &op("incr", "&key=n"), "").await?, "2");
    assert_eq!(server.cli(&["GET", "n"])?, "2");
    assert_eq!(
        app.ok(guest, &op("del", "&key=k&key=n&key=missing"), "")
            .await?,
        "2"
    );
    assert_eq!(server.cli(&["EXISTS", "k", "n"])?, "0");
    assert_eq!(
        app.ok(guest, &op("sadd", "&key=s&v=a&v=b&v=c"), "").await?,
        "3"
    );
    assert_eq!(app.ok(guest, &op("sadd", "&key=s&v=a&v=d"), "").await?, "1");
    assert_eq!(
        app.ok(guest, &op("srem", "&key=s&v=b&v=zz"), "").await?,
        "1"
    );
    assert_eq!(app.ok(guest, &op("smembers", "&key=s"), "").await?, "a,c,d");
    assert_eq!(server.cli(&["SCARD", "s"])?, "3");
    assert_eq!(
        app.ok(guest, &op("execute", "&cmd=SET&arg=b:x&arg=i:42"), "")
            .await?,
        "status:OK"
    );
    assert_eq!(
        app.ok(guest, &op("execute", "&cmd=INCRBY&arg=b:x&arg=i:8"), "")
            .await?,
        "int:50"
    );
    assert_eq!(
        app.ok(guest, &op("execute", "&cmd=MGET&arg=b:x&arg=b:nothing"), "")
            .await?,
        "bin:50 nil"
    );
    assert_eq!(
        app.ok(
            guest,
            &op("execute", "&cmd=RPUSH&arg=b:l&arg=b:one&arg=b:two"),
            ""
        )
        .await?,
        "int:2"
    );
    assert_eq!(
        app.ok(
            guest,
            &op("execute", "&cmd=LRANGE&arg=b:l&arg=i:0&arg=i:-1"),
            ""
        )
        .await?,
        "bin:one bin:two"
    );
    // A publish reaches a subscriber: `redis-cli SUBSCRIBE` in the background.
    let subscriber = server.subscribe("news")?;
    assert_eq!(
        app.ok(guest, &op("publish", "&channel=news"), "extra!")
            .await?,
        "ok"
    );
    assert_eq!(subscriber.next_message()?, "extra!");
    Ok(())
}

/// Denials by host and by port, an unreachable server, and Redis errors.
async fn errors(guest: &str) -> Result<()> {
    let server = RedisServer::start()?;
    let url = server.url();
    let port: u16 = server.address().rsplit_once(':').unwrap().1.parse()?;
    let op = |url: &str, op: &str, rest: &str| format!("/?address={}&op={op}{rest}", enc(url));
    // Granted another host, or the same host on another port: the interface's
    // `invalid-address`, and nothing reaches the server.
    for grant in [
        "redis://10.1.2.3".to_string(),
        format!("redis://127.0.0.1:{}", port.wrapping_add(1).max(1)),
        format!("postgres://127.0.0.1:{port}"),
    ] {
        let app = guest_app(&[&grant])?;
        assert_eq!(
            app.ok(guest, &op(&url, "set", "&key=denied"), "x").await?,
            "error: invalid-address",
            "granted only {grant}"
        );
    }
    assert_eq!(server.cli(&["EXISTS", "denied"])?, "0");
    let app = guest_app(&[&url])?;
    assert_eq!(
        app.ok(guest, &op("not a url", "open", ""), "").await?,
        "error: invalid-address"
    );
    // Granted but nothing listens.
    let dead = format!("redis://127.0.0.1:{}", free_port()?);
    let text = guest_app(&[&dead])?
        .ok(guest, &op(&dead, "open", ""), "")
        .await?;
    assert!(
        text.starts_with("error: other: could not connect to redis at 127.0.0.1:"),
        "{text}"
    );
    // Redis errors.
    app.ok(guest, &op(&url, "set", "&key=t"), "text").await?;
    assert_eq!(
        app.ok(guest, &op(&url, "incr", "&key=t"), "").await?,
        "error: type-error"
    );
    let text = app
        .ok(guest, &op(&url, "execute", "&cmd=NOSUCHCOMMAND"), "")
        .await?;
    assert!(
        text.starts_with("error: other: ") && text.contains("unknown command"),
        "{text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_spin2() -> Result<()> {
    every_operation(SPIN2).await
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_spin3() -> Result<()> {
    every_operation(SPIN3).await
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_spin2_errors() -> Result<()> {
    errors(SPIN2).await
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_spin3_errors() -> Result<()> {
    errors(SPIN3).await
}
