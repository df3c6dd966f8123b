//! Redis over TLS (`rediss://`) for every use of Redis — the key-value
//! backend, outbound Redis and the Redis trigger — against a TLS-only
//! `redis-server` whose certificate is signed by a CA made for the test. Skiff
//! verifies the server for its name; the test trusts the CA the way an
//! operator would, with `SSL_CERT_FILE`. Without that trust nothing connects.

use anyhow::Result;
use test_programs_artifacts::{KV_SPIN2_COMPONENT, REDIS_SPIN2_COMPONENT, TRIGGER_REDIS_COMPONENT};

use crate::harness::{AppDir, Server, shared_cache, toml_path, up_fails};
use crate::outbound_redis::{enc, http_component};
use crate::redis_server::RedisServer;
use crate::trigger_redis::{wait_received, wait_subscribed};

/// An app using the TLS server three ways; `--runtime-config` puts its
/// `default` key-value store there.
fn app(redis: &RedisServer) -> Result<(AppDir, std::path::PathBuf)> {
    let url = redis.url();
    let manifest = format!(
        "{}[[trigger.http]]\nroute = \"/kv\"\ncomponent = \"kv\"\n\
         [component.kv]\nsource = {}\nkey_value_stores = [\"default\"]\n\
         [[trigger.redis]]\naddress = \"{url}\"\nchannel = \"secure\"\ncomponent = \"handler\"\n\
         [component.handler]\nsource = {}\n\
         environment = {{ REDIS_ADDRESS = \"{url}\" }}\n\
         allowed_outbound_hosts = [\"{url}\"]\n",
        http_component("api", REDIS_SPIN2_COMPONENT, &[&url]),
        toml_path(KV_SPIN2_COMPONENT),
        toml_path(TRIGGER_REDIS_COMPONENT),
    );
    let app = AppDir::with_manifest(&manifest)?;
    let config = app.write(
        "runtime-config.toml",
        format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n"),
    )?;
    Ok((app, config))
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_over_tls() -> Result<()> {
    let redis = RedisServer::start_tls()?;
    let url = redis.url();
    assert!(url.starts_with("rediss://"), "{url}");
    let ca = redis.ca_file().expect("a TLS server").to_path_buf();
    let (app, config) = app(&redis)?;
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(&config);
        cmd.env("SSL_CERT_FILE", &ca);
    })?;
    server.stdout().wait_for(
        &format!("{url} `secure`  -> handler"),
        crate::harness::BOUND,
    )?;

    // Key-value, backed by the TLS server.
    assert_eq!(
        server
            .post_ok("/kv?store=default&op=set&key=k", "over tls")
            .await?,
        "ok"
    );
    assert_eq!(
        server.post_ok("/kv?store=default&op=get&key=k", "").await?,
        "some:over tls"
    );
    assert_eq!(
        redis.cli(&["GET", "skiff:test:default:k"])?,
        "over tls",
        "{}",
        redis.cli(&["KEYS", "*"])?
    );

    // Outbound Redis from a guest, granted `rediss://127.0.0.1:PORT`.
    let api = |op: &str, rest: &str| format!("/api?address={}&op={op}{rest}", enc(&url));
    assert_eq!(
        server.post_ok(&api("set", "&key=out"), "guest").await?,
        "ok"
    );
    assert_eq!(redis.cli(&["GET", "out"])?, "guest");
    assert_eq!(
        server.post_ok(&api("get", "&key=out"), "").await?,
        "some:guest"
    );

    // The trigger: subscribed over TLS; its handler writes back over TLS.
    wait_subscribed(&redis, "secure", 1)?;
    redis.cli(&["PUBLISH", "secure", "sealed"])?;
    assert_eq!(wait_received(&redis, 1)?, ["sealed"]);
    Ok(())
}

/// A server whose certificate the host does not trust is refused, with the
/// reason: here the key-value store cannot open, so `skiff up` fails.
#[tokio::test(flavor = "multi_thread")]
async fn redis_tls_verifies_the_server() -> Result<()> {
    let redis = RedisServer::start_tls()?;
    let (app, config) = app(&redis)?;
    let out = up_fails(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(&config);
        cmd.env_remove("SSL_CERT_FILE");
    })?;
    out.assert_stderr_contains("could not open key-value store `default`")
        .assert_stderr_contains("invalid peer certificate: UnknownIssuer");
    Ok(())
}
