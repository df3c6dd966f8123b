//! The Redis trigger through `skiff up`: the `trigger_redis` guest
//! (`#[redis_component]` of spin-sdk 5.2) subscribed to a channel of a real
//! `redis-server`. It appends each message to the list `received` on that
//! server (through outbound Redis), traps on `trap` and fails on `fail`.
//!
//! Readiness is read from Redis itself (`PUBSUB NUMSUB`), and deliveries
//! from the list the guest writes, each waited for with a bound.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use test_programs_artifacts::{
    HTTP_HELLO_COMPONENT, REDIS_SPIN2_COMPONENT, TRIGGER_REDIS_COMPONENT, TRIGGER_REDIS3_COMPONENT,
};

use crate::harness::{AppDir, BOUND, Server, full, post, shared_cache, toml_path, up_fails};
use crate::outbound_redis::{enc, http_component};
use crate::redis_server::RedisServer;

/// How long a subscription or a delivery may take to show.
const EFFECT_BOUND: Duration = Duration::from_secs(30);

/// Waits (at most [`EFFECT_BOUND`]) until `check` returns `Some`.
fn wait_until<T>(what: &str, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + EFFECT_BOUND;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("{what} did not happen within {EFFECT_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `channel` has `n` subscribers on `redis`.
pub(crate) fn wait_subscribed(redis: &RedisServer, channel: &str, n: usize) -> Result<()> {
    wait_until(&format!("{n} subscription(s) to `{channel}`"), || {
        let out = redis.cli(&["PUBSUB", "NUMSUB", channel])?;
        Ok((out.lines().nth(1) == Some(&n.to_string())).then_some(()))
    })
}

/// Waits until the list `received` holds `n` entries; returns them sorted
/// (messages are handled concurrently, so their order is not kept).
pub(crate) fn wait_received(redis: &RedisServer, n: usize) -> Result<Vec<String>> {
    wait_until(&format!("{n} deliveries"), || {
        let out = redis.cli(&["LRANGE", "received", "0", "-1"])?;
        let mut items: Vec<String> = out.lines().map(String::from).collect();
        if items.len() < n {
            return Ok(None);
        }
        items.sort();
        Ok(Some(items))
    })
}

/// `[[trigger.redis]]` on `channel` running `trigger_redis` as component
/// `handler`, which may write back to `redis`.
fn trigger(redis: &RedisServer, channel: &str) -> String {
    trigger_with(redis, channel, TRIGGER_REDIS_COMPONENT)
}

/// [`trigger`] with the guest at `source`.
fn trigger_with(redis: &RedisServer, channel: &str, source: &str) -> String {
    let url = redis.url();
    format!(
        "[[trigger.redis]]\nchannel = \"{channel}\"\ncomponent = \"handler\"\n\
         [component.handler]\nsource = {}\n\
         environment = {{ REDIS_ADDRESS = \"{url}\" }}\n\
         allowed_outbound_hosts = [\"{url}\"]\n",
        toml_path(source)
    )
}

/// Once `handler` is subscribed to `messages`, publishes five messages: the
/// three ordinary ones arrive, and the trap and the error are each logged
/// with their reason.
fn delivers_past_traps_and_errors(redis: &RedisServer, server: &Server) -> Result<()> {
    wait_subscribed(redis, "messages", 1)?;
    for message in ["one", "trap", "two", "fail", "three"] {
        redis.cli(&["PUBLISH", "messages", message])?;
    }
    assert_eq!(wait_received(redis, 3)?, ["one", "three", "two"]);
    let log = server.stderr().wait_for(
        "component `handler` failed handling a message on redis channel `messages`",
        BOUND,
    )?;
    assert!(log.contains("asked to trap"), "{log}");
    let log = server.stderr().wait_for(
        "component `handler` returned an error for a message on redis channel `messages`",
        BOUND,
    )?;
    assert!(log.contains("asked to fail"), "{log}");
    Ok(())
}

/// An app with only a Redis trigger serves no HTTP; it delivers every
/// message, keeps going after a handler traps or fails, and resubscribes
/// when Redis goes away and comes back.
#[tokio::test(flavor = "multi_thread")]
pub async fn trigger_redis() -> Result<()> {
    let mut redis = RedisServer::start()?;
    let manifest = format!(
        "[application.trigger.redis]\naddress = \"{}\"\n{}",
        redis.url(),
        trigger(&redis, "messages")
    );
    let app = AppDir::with_manifest(&manifest)?;
    let server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    let banner = server.stdout().wait_for("-> handler", BOUND)?;
    assert!(
        banner.contains(&format!(
            "redis://{} `messages`  -> handler",
            redis.address()
        )) && !banner.contains("Serving http://"),
        "{banner}"
    );
    delivers_past_traps_and_errors(&redis, &server)?;
    // Messages on other channels are not delivered.
    redis.cli(&["PUBLISH", "elsewhere", "nope"])?;

    // Redis goes away and comes back (empty): the trigger resubscribes.
    redis.restart()?;
    wait_subscribed(&redis, "messages", 1)?;
    redis.cli(&["PUBLISH", "messages", "four"])?;
    assert_eq!(wait_received(&redis, 1)?, ["four"]);
    server
        .stderr()
        .wait_for("redis trigger lost its connection to", BOUND)?;

    // SIGTERM stops a trigger-only app cleanly.
    let mut server = server;
    server.signal("TERM")?;
    let status = server.wait_exit(BOUND)?;
    assert!(status.success(), "exit status {status}");
    Ok(())
}

/// Spin 3's `spin:redis/inbound-redis@3.0.0` (an `async func` export, the
/// `trigger_redis3` guest): every message is delivered to a fresh instance run
/// concurrently; a trap or an error is logged with its reason and later
/// messages still arrive.
#[tokio::test(flavor = "multi_thread")]
pub async fn trigger_redis3() -> Result<()> {
    let redis = RedisServer::start()?;
    let manifest = format!(
        "[application.trigger.redis]\naddress = \"{}\"\n{}",
        redis.url(),
        trigger_with(&redis, "messages", TRIGGER_REDIS3_COMPONENT)
    );
    let app = AppDir::with_manifest(&manifest)?;
    let server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    delivers_past_traps_and_errors(&redis, &server)
}

/// Beside HTTP: a message published by an HTTP guest (outbound Redis)
/// reaches the trigger's component, in the same `skiff up`.
#[tokio::test(flavor = "multi_thread")]
async fn trigger_redis_beside_http() -> Result<()> {
    let redis = RedisServer::start()?;
    let url = redis.url();
    let manifest = format!(
        "{}[[trigger.redis]]\naddress = \"{url}\"\nchannel = \"orders\"\ncomponent = \"handler\"\n\
         [component.handler]\nsource = {}\n\
         environment = {{ REDIS_ADDRESS = \"{url}\" }}\n\
         allowed_outbound_hosts = [\"{url}\"]\n",
        http_component("api", REDIS_SPIN2_COMPONENT, &[&url]),
        toml_path(TRIGGER_REDIS_COMPONENT)
    );
    let app = AppDir::with_manifest(&manifest)?;
    let server = Server::start(app.path(), shared_cache()?)?;
    wait_subscribed(&redis, "orders", 1)?;
    let path = format!("/api?address={}&op=publish&channel=orders", enc(&url));
    let resp = post(&server.url(&path), full("order 1")).await?;
    assert_eq!((resp.status.as_u16(), resp.text()), (200, "ok".to_string()));
    assert_eq!(wait_received(&redis, 1)?, ["order 1"]);
    Ok(())
}

/// A component without the `inbound-redis` export cannot be a Redis
/// trigger's: `skiff up` fails at load, naming it.
#[tokio::test(flavor = "multi_thread")]
async fn trigger_redis_needs_the_export() -> Result<()> {
    let manifest = format!(
        "[[trigger.redis]]\naddress = \"redis://127.0.0.1:6379\"\nchannel = \"c\"\n\
         component = \"web\"\n[component.web]\nsource = {}\n",
        toml_path(HTTP_HELLO_COMPONENT)
    );
    let app = AppDir::with_manifest(&manifest)?;
    let out = up_fails(app.path(), shared_cache()?, |_| {})?;
    out.assert_stderr_contains(
        "component `web` cannot handle redis messages: it must export \
         `fermyon:spin/inbound-redis` (spin-sdk's `#[redis_component]`) or \
         `spin:redis/inbound-redis@3.0.0`",
    );
    Ok(())
}
