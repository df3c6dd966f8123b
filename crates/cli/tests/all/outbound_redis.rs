//! Outbound Redis through `skiff up`: the `redis_spin2` guest (spin-sdk 5.2,
//! `fermyon:spin/redis@2.0.0`) and the `redis_spin3` guest (a WASI 0.3
//! component calling `spin:redis/redis@3.0.0`'s async functions) against a
//! real `redis-server`, granted by `allowed_outbound_hosts`, denied by host
//! and by port.

use anyhow::{Result, ensure};
use test_programs_artifacts::{REDIS_SPIN2_COMPONENT, REDIS_SPIN3_COMPONENT};

use crate::harness::{AppDir, Server, shared_cache, toml_path};
use crate::redis_server::{RedisServer, free_port};

/// Percent-encodes a query value.
pub use skiff_test_support::guest::enc;

/// One `[[trigger.http]]` at `/ID` running `source` as component `ID`,
/// granted `allowed`.
pub fn http_component(id: &str, source: &str, allowed: &[&str]) -> String {
    let allowed = allowed
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[[trigger.http]]\nroute = \"/{id}\"\ncomponent = \"{id}\"\n\
         [component.{id}]\nsource = {}\nallowed_outbound_hosts = [{allowed}]\n",
        toml_path(source)
    )
}

/// `POST /<component>?address=…&op=OP…` with `body`; the guest must answer 200.
async fn call(
    server: &Server,
    component: &str,
    address: &str,
    op: &str,
    rest: &str,
    body: &str,
) -> Result<String> {
    let path = format!("/{component}?address={}&op={op}{rest}", enc(address));
    server.post_ok(&path, body).await
}

/// Every operation through a granted `fermyon:spin/redis@2.0.0` component,
/// checked against the server.
#[tokio::test(flavor = "multi_thread")]
async fn redis_spin2() -> Result<()> {
    every_operation(REDIS_SPIN2_COMPONENT).await
}

/// Every operation through a granted `spin:redis/redis@3.0.0` component,
/// served as a WASI 0.3 HTTP component.
#[tokio::test(flavor = "multi_thread")]
async fn redis_spin3() -> Result<()> {
    every_operation(REDIS_SPIN3_COMPONENT).await
}

async fn every_operation(guest: &str) -> Result<()> {
    let redis = RedisServer::start()?;
    let url = redis.url();
    let app = AppDir::with_manifest(&http_component("ok", guest, &[&url]))?;
    let server = Server::start(app.path(), shared_cache()?)?;
    let op = |op: &'static str, rest: &'static str, body: &'static str| {
        let (server, url) = (&server, &url);
        async move { call(server, "ok", url, op, rest, body).await }
    };
    assert_eq!(op("set", "&key=k", "hello").await?, "ok");
    assert_eq!(redis.cli(&["GET", "k"])?, "hello");
    assert_eq!(op("get", "&key=k", "").await?, "some:hello");
    assert_eq!(op("get", "&key=missing", "").await?, "none");
    assert_eq!(op("incr", "&key=n", "").await?, "1");
    assert_eq!(op("incr", "&key=n", "").await?, "2");
    assert_eq!(op("del", "&key=k&key=n&key=missing", "").await?, "2");
    assert_eq!(redis.cli(&["EXISTS", "k", "n"])?, "0");
    assert_eq!(op("sadd", "&key=s&v=a&v=b&v=c", "").await?, "3");
    assert_eq!(op("srem", "&key=s&v=b", "").await?, "1");
    assert_eq!(op("smembers", "&key=s", "").await?, "a,c");
    assert_eq!(redis.cli(&["SCARD", "s"])?, "2");
    assert_eq!(
        op("execute", "&cmd=SET&arg=b:x&arg=i:41", "").await?,
        "status:OK"
    );
    assert_eq!(op("execute", "&cmd=INCR&arg=b:x", "").await?, "int:42");
    assert_eq!(
        op("execute", "&cmd=MGET&arg=b:x&arg=b:none", "").await?,
        "bin:42 nil"
    );
    assert_eq!(op("incr", "&key=s", "").await?, "error: type-error");
    // Published messages reach a subscriber: the publish's reply counts
    // receivers, and a receiver-less publish still succeeds.
    assert_eq!(op("publish", "&channel=news", "extra").await?, "ok");
    Ok(())
}

/// An address the component is not granted — another port, another host,
/// another scheme — is the interface's `invalid-address`; the log names the
/// component and the entry to add. Nothing reaches the server.
#[tokio::test(flavor = "multi_thread")]
async fn redis_denied_by_host_and_port() -> Result<()> {
    let redis = RedisServer::start()?;
    let url = redis.url();
    let other_port = format!("redis://127.0.0.1:{}", free_port()?);
    let manifest = [
        http_component("port", REDIS_SPIN2_COMPONENT, &[&other_port]),
        http_component("host", REDIS_SPIN2_COMPONENT, &["redis://10.1.2.3:6379"]),
        http_component(
            "scheme",
            REDIS_SPIN2_COMPONENT,
            &[&url.replace("redis:", "postgres:")],
        ),
        http_component("none", REDIS_SPIN2_COMPONENT, &[]),
    ]
    .concat();
    let app = AppDir::with_manifest(&manifest)?;
    let server = Server::start(app.path(), shared_cache()?)?;
    for component in ["port", "host", "scheme", "none"] {
        assert_eq!(
            call(&server, component, &url, "set", "&key=denied", "x").await?,
            "error: invalid-address",
            "component `{component}`"
        );
        server.stderr().wait_for(
            &format!(
                "component `{component}` could not open redis: `{url}` is not allowed: add \
                 `{url}` to `allowed_outbound_hosts`"
            ),
            crate::harness::BOUND,
        )?;
    }
    assert_eq!(redis.cli(&["EXISTS", "denied"])?, "0");
    // Granted, but nothing listens there: `other` naming the server.
    let text = call(&server, "port", &other_port, "open", "", "").await?;
    ensure!(
        text.starts_with(&format!(
            "error: other: could not connect to redis at {}",
            other_port.trim_start_matches("redis://")
        )),
        "{text}"
    );
    Ok(())
}
