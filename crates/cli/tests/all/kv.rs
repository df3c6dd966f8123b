//! Key-value through `skiff up`: the guests of every interface generation on
//! every backend, grants, isolation between apps, durability, the live swap of
//! a backend, a backend going down and coming back, and bad runtime configs.
//!
//! The live swap and Redis down and back are in [`swap`].
//!
//! The backend suite ([`backend_suite!`]) runs the same HTTP-level tests on
//! `memory`, `redis` and `nats` (named by a runtime config) and on the
//! `embedded` default (no runtime config); each test checks the backend
//! itself holds the data, so a silent fallback to another backend fails.
//! Redis is a real `redis-server` per test ([`RedisServer`]), NATS a real
//! `nats-server -js` ([`NatsServer`]), read back by a client of the test's
//! own.
//!
//! The guests answer `200 text/plain` (see their `//!` docs): `kv_wasi`
//! (`wasi:keyvalue` 0.2.0-draft and, with `&v=draft2`, draft2) at `/wasi`,
//! `kv_spin2` (`fermyon:spin/key-value@2.0.0`) at `/spin2`, and `kv_spin3`
//! (`spin:key-value@3.0.0` from a WASI 0.3 component) at `/spin3`.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, ensure};
use test_programs_artifacts::{KV_SPIN2_COMPONENT, KV_SPIN3_COMPONENT, KV_WASI_COMPONENT};

use crate::harness::{
    AppDir, Connection, Server, full, get, replace_file, shared_cache, tempdir, toml_path, up_fails,
};
use crate::redis_server::{RedisServer, free_port};
use skiff_test_support::nats_server::NatsServer;

mod swap;

/// How long a reload, a reconnection or a client loop may take to show its effect.
const EFFECT_BOUND: Duration = Duration::from_secs(15);

/// App `name`: `kv_wasi` at `/wasi`, `kv_spin2` at `/spin2` and `kv_spin3` (a
/// WASI 0.3 component) at `/spin3`, all granted `grants`.
fn manifest(name: &str, grants: &[&str]) -> String {
    let grants = grants
        .iter()
        .map(|g| format!("\"{g}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let component = |route: &str, source: &str| {
        format!(
            "[[trigger.http]]\nroute = \"/{route}\"\ncomponent = \"{route}\"\n\
             [component.{route}]\nsource = {}\nkey_value_stores = [{grants}]\n",
            toml_path(source)
        )
    };
    format!(
        "skiff_manifest_version = 1\n[application]\nname = \"{name}\"\n{}{}{}",
        component("wasi", KV_WASI_COMPONENT),
        component("spin2", KV_SPIN2_COMPONENT),
        component("spin3", KV_SPIN3_COMPONENT)
    )
}

/// `skiff up DIR` with the shared AOT cache and `args` (e.g. `--runtime-config FILE`).
fn up(dir: &AppDir, args: &[&Path]) -> Result<Server> {
    Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.args(args);
    })
}

/// `GET path` (a new connection); the guest must answer 200. Returns the body.
async fn ask(server: &Server, path: &str) -> Result<String> {
    let resp = get(&server.url(path)).await?;
    ensure!(
        resp.status == 200,
        "GET {path}: {} {}",
        resp.status,
        resp.text()
    );
    Ok(resp.text())
}

/// `POST path` with `body`; the guest must answer 200. Returns the body.
async fn tell(server: &Server, path: &str, body: &str) -> Result<String> {
    server.post_ok(path, body).await
}

/// `[key_value_store.LABEL]` sections putting `labels` on a Redis server.
fn redis_config(url: &str, labels: &[&str]) -> String {
    labels
        .iter()
        .map(|l| format!("[key_value_store.{l}]\ntype = \"redis\"\nurl = \"{url}\"\n"))
        .collect()
}

// ---------------------------------------------------------------------------
// The backend suite
// ---------------------------------------------------------------------------

/// Where the suite's stores live.
pub(crate) enum Backend {
    /// `type = "memory"` in a runtime config.
    Memory,
    /// No runtime config: the embedded default under the state dir.
    Embedded,
    /// `type = "redis"` in a runtime config, on this server.
    Redis(RedisServer),
    /// `type = "nats"` in a runtime config, on this server (JetStream on).
    Nats(NatsServer),
}

impl Backend {
    fn memory() -> Result<Self> {
        Ok(Backend::Memory)
    }

    fn embedded() -> Result<Self> {
        Ok(Backend::Embedded)
    }

    fn redis() -> Result<Self> {
        Ok(Backend::Redis(RedisServer::start()?))
    }

    fn nats() -> Result<Self> {
        Ok(Backend::Nats(NatsServer::start_jetstream()?))
    }

    /// The runtime config putting `default` and `other` on this backend
    /// (`None`: serve without one).
    fn runtime_config(&self) -> Option<String> {
        let labels = ["default", "other"];
        match self {
            Backend::Memory => Some(
                labels
                    .iter()
                    .map(|l| format!("[key_value_store.{l}]\ntype = \"memory\"\n"))
                    .collect(),
            ),
            Backend::Embedded => None,
            Backend::Redis(redis) => Some(redis_config(&redis.url(), &labels)),
            Backend::Nats(nats) => Some(
                labels
                    .iter()
                    .map(|l| {
                        format!(
                            "[key_value_store.{l}]\ntype = \"nats\"\nurl = \"{}\"\n",
                            nats.url()
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// Checks that this backend itself holds `key` = `value` in app `app`'s
    /// `default` store, and that no other backend got it.
    async fn check_holds(&self, app: &KvApp, key: &str, value: &str) -> Result<()> {
        let file = app.state_dir.join("kv/default.db");
        match self {
            Backend::Memory => ensure!(
                !file.exists(),
                "the memory backend wrote the embedded file {}",
                file.display()
            ),
            Backend::Embedded => ensure!(
                file.is_file(),
                "the embedded store file {} does not exist",
                file.display()
            ),
            Backend::Redis(redis) => {
                let redis_key = format!("skiff:{}:default:{key}", app.name);
                assert_eq!(redis.cli(&["GET", &redis_key])?, value, "redis {redis_key}");
                ensure!(
                    !file.exists(),
                    "the redis backend wrote the embedded file {}",
                    file.display()
                );
            }
            Backend::Nats(nats) => {
                let bucket = format!("skiff-{}-default", app.name);
                let stored = nats_get(nats, &bucket, key).await?;
                assert_eq!(stored.as_deref(), Some(value), "nats {bucket} {key}");
                ensure!(
                    !file.exists(),
                    "the nats backend wrote the embedded file {}",
                    file.display()
                );
            }
        }
        Ok(())
    }
}

/// `key` in JetStream bucket `bucket`, read by a client of the test's own.
async fn nats_get(nats: &NatsServer, bucket: &str, key: &str) -> Result<Option<String>> {
    use skiff_nats::async_nats;
    let client = async_nats::connect(nats.url()).await?;
    let kv = async_nats::jetstream::new(client)
        .get_key_value(bucket)
        .await?;
    let value = kv.get(key).await?;
    Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// A running app of [`manifest`] on a [`Backend`].
struct KvApp {
    name: String,
    state_dir: PathBuf,
    server: Server,
    _dir: AppDir,
    _state: Option<tempfile::TempDir>,
}

impl KvApp {
    /// App `name` granted `grants`, on `backend`; with `own_state_dir`, its
    /// state lives in a fresh directory passed with `--state-dir`.
    fn start(backend: &Backend, name: &str, grants: &[&str], own_state_dir: bool) -> Result<Self> {
        let dir = AppDir::new()?;
        dir.write("skiff.toml", manifest(name, grants))?;
        let mut args = Vec::new();
        if let Some(config) = backend.runtime_config() {
            args.push("--runtime-config".into());
            args.push(dir.write("runtime-config.toml", config)?);
        }
        let state = own_state_dir.then(tempdir).transpose()?;
        let state_dir = match &state {
            Some(state) => {
                args.push("--state-dir".into());
                args.push(state.path().to_path_buf());
                state.path().to_path_buf()
            }
            None => dir.path().join(".skiff"),
        };
        let args: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
        let server = up(&dir, &args)?;
        Ok(KvApp {
            name: name.into(),
            state_dir,
            server,
            _dir: dir,
            _state: state,
        })
    }

    /// `kv_wasi`'s answer to `?QUERY`.
    async fn wasi(&self, query: &str) -> Result<String> {
        ask(&self.server, &format!("/wasi?{query}")).await
    }

    /// `kv_spin2`'s answer to `?QUERY`.
    async fn spin2(&self, query: &str) -> Result<String> {
        ask(&self.server, &format!("/spin2?{query}")).await
    }

    /// `kv_spin3`'s answer to `?QUERY`.
    async fn spin3(&self, query: &str) -> Result<String> {
        ask(&self.server, &format!("/spin3?{query}")).await
    }

    /// Sets `key` to `value` in `default` through `route` (`wasi`, `spin2` or `spin3`).
    async fn set(&self, route: &str, key: &str, value: &str) -> Result<()> {
        let path = format!("/{route}?store=default&op=set&key={key}");
        assert_eq!(tell(&self.server, &path, value).await?, "ok", "{path}");
        Ok(())
    }
}

/// Runs the listed suite functions as one test per backend: `kv::<backend>::<test>`.
/// Anchor: ripgrep's `rgtest!`, which runs each test on both regex engines.
macro_rules! backend_suite {
    ($($backend:ident),* $(,)?) => {$(
        mod $backend {
            backend_suite!(@tests $backend:
                kv_wasi, kv_spin2, kv_spin3, ungranted_store_is_access_denied, apps_are_isolated);
        }
    )*};
    (@tests $backend:ident: $($test:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $test() -> anyhow::Result<()> {
            super::$test(super::Backend::$backend()?).await
        }
    )*};
}

backend_suite!(memory, embedded, redis, nats);

/// Every `wasi:keyvalue` operation through `kv_wasi`.
pub(crate) async fn kv_wasi(backend: Backend) -> Result<()> {
    let app = KvApp::start(&backend, "test", &["default"], false)?;
    let q = |rest: &str| format!("store=default&{rest}");

    assert_eq!(app.wasi(&q("op=get&key=greeting")).await?, "none");
    assert_eq!(app.wasi(&q("op=exists&key=greeting")).await?, "false");
    assert_eq!(app.wasi(&q("op=list")).await?, "[]");
    app.set("wasi", "greeting", "héllo wörld").await?;
    assert_eq!(
        app.wasi(&q("op=get&key=greeting")).await?,
        "some:héllo wörld"
    );
    assert_eq!(app.wasi(&q("op=exists&key=greeting")).await?, "true");
    app.set("wasi", "greeting", "hello again").await?;
    assert_eq!(
        app.wasi(&q("op=get&key=greeting&v=draft2")).await?,
        "some:hello again"
    );
    backend.check_holds(&app, "greeting", "hello again").await?;

    app.set("wasi", "doomed", "x").await?;
    assert_eq!(app.wasi(&q("op=list")).await?, r#"["doomed","greeting"]"#);
    assert_eq!(app.wasi(&q("op=delete&key=doomed")).await?, "ok");
    assert_eq!(app.wasi(&q("op=get&key=doomed")).await?, "none");
    assert_eq!(app.wasi(&q("op=exists&key=doomed")).await?, "false");
    assert_eq!(app.wasi(&q("op=list")).await?, r#"["greeting"]"#);
    // Deleting a missing key is not an error.
    assert_eq!(app.wasi(&q("op=delete&key=doomed")).await?, "ok");

    assert_eq!(app.wasi(&q("op=incr&key=hits&by=5")).await?, "5");
    assert_eq!(app.wasi(&q("op=incr&key=hits&by=1")).await?, "6");
    assert_eq!(app.wasi(&q("op=incr&key=hits&by=-2&v=draft2")).await?, "4");
    // Counters are decimal text on every backend.
    assert_eq!(app.wasi(&q("op=get&key=hits")).await?, "some:4");
    backend.check_holds(&app, "hits", "4").await?;
    Ok(())
}

/// `kv_spin2` (`fermyon:spin/key-value@2.0.0`) and `kv_wasi` see the same store.
pub(crate) async fn kv_spin2(backend: Backend) -> Result<()> {
    let app = KvApp::start(&backend, "test", &["default"], false)?;
    let q = |rest: &str| format!("store=default&{rest}");

    app.set("wasi", "from-wasi", "written by wasi").await?;
    assert_eq!(
        app.spin2(&q("op=get&key=from-wasi")).await?,
        "some:written by wasi"
    );
    app.set("spin2", "from-spin2", "written by spin2").await?;
    assert_eq!(
        app.wasi(&q("op=get&key=from-spin2")).await?,
        "some:written by spin2"
    );
    assert_eq!(
        app.wasi(&q("op=get&key=from-spin2&v=draft2")).await?,
        "some:written by spin2"
    );
    backend
        .check_holds(&app, "from-spin2", "written by spin2")
        .await?;
    assert_eq!(app.wasi(&q("op=incr&key=n&by=3")).await?, "3");
    assert_eq!(app.spin2(&q("op=get&key=n")).await?, "some:3");

    let all = r#"["from-spin2","from-wasi","n"]"#;
    assert_eq!(app.spin2(&q("op=list")).await?, all);
    assert_eq!(app.wasi(&q("op=list")).await?, all);
    assert_eq!(app.spin2(&q("op=exists&key=from-wasi")).await?, "true");
    assert_eq!(app.spin2(&q("op=delete&key=from-wasi")).await?, "ok");
    assert_eq!(app.wasi(&q("op=exists&key=from-wasi")).await?, "false");
    assert_eq!(app.spin2(&q("op=get&key=from-wasi")).await?, "none");
    assert_eq!(app.spin2(&q("op=exists&key=missing")).await?, "false");
    Ok(())
}

/// A store the component was not granted answers `access-denied` (not a trap),
/// whether or not the runtime config names it; granted stores keep working.
pub(crate) async fn ungranted_store_is_access_denied(backend: Backend) -> Result<()> {
    let app = KvApp::start(&backend, "test", &["default"], false)?;
    // `other` is in the runtime config (memory, redis); `nowhere` is in nothing.
    for store in ["other", "nowhere"] {
        for query in [
            format!("store={store}&op=get&key=k"),
            format!("store={store}&op=list"),
            format!("store={store}&op=incr&key=k&by=1"),
            format!("store={store}&op=get&key=k&v=draft2"),
        ] {
            assert_eq!(app.wasi(&query).await?, "error: access-denied", "{query}");
        }
        let path = format!("/wasi?store={store}&op=set&key=k");
        assert_eq!(tell(&app.server, &path, "v").await?, "error: access-denied");
        for query in [
            format!("store={store}&op=get&key=k"),
            format!("store={store}&op=exists&key=k"),
        ] {
            assert_eq!(app.spin2(&query).await?, "error: access-denied", "{query}");
        }
        let path = format!("/spin2?store={store}&op=set&key=k");
        assert_eq!(tell(&app.server, &path, "v").await?, "error: access-denied");
    }
    app.set("wasi", "k", "granted").await?;
    assert_eq!(
        app.spin2("store=default&op=get&key=k").await?,
        "some:granted"
    );
    if let Backend::Redis(redis) = &backend {
        let keys = redis.cli(&["KEYS", "*"])?;
        assert_eq!(keys, "skiff:test:default:k", "keys in redis");
    }
    Ok(())
}

/// Two apps using label `default` on the same backend never see each other's
/// keys: separate state dirs for the embedded store, separate processes for
/// memory, and on one Redis server two app names.
pub(crate) async fn apps_are_isolated(backend: Backend) -> Result<()> {
    let alpha = KvApp::start(&backend, "alpha", &["default"], true)?;
    let beta = KvApp::start(&backend, "beta", &["default"], true)?;
    let q = |rest: &str| format!("store=default&{rest}");

    alpha.set("wasi", "shared", "alpha's").await?;
    beta.set("spin2", "shared", "beta's").await?;
    alpha.set("spin2", "only-alpha", "a").await?;
    assert_eq!(alpha.wasi(&q("op=get&key=shared")).await?, "some:alpha's");
    assert_eq!(beta.wasi(&q("op=get&key=shared")).await?, "some:beta's");
    assert_eq!(beta.spin2(&q("op=get&key=only-alpha")).await?, "none");
    assert_eq!(beta.wasi(&q("op=exists&key=only-alpha")).await?, "false");
    assert_eq!(
        alpha.wasi(&q("op=list")).await?,
        r#"["only-alpha","shared"]"#
    );
    assert_eq!(beta.wasi(&q("op=list")).await?, r#"["shared"]"#);
    assert_eq!(beta.spin2(&q("op=list")).await?, r#"["shared"]"#);
    assert_eq!(alpha.wasi(&q("op=incr&key=n&by=1")).await?, "1");
    assert_eq!(beta.wasi(&q("op=incr&key=n&by=1")).await?, "1");
    assert_eq!(beta.spin2(&q("op=delete&key=shared")).await?, "ok");
    assert_eq!(alpha.wasi(&q("op=get&key=shared")).await?, "some:alpha's");

    backend.check_holds(&alpha, "shared", "alpha's").await?;
    backend.check_holds(&alpha, "only-alpha", "a").await?;
    Ok(())
}

/// `kv_spin3` (`spin:key-value@3.0.0`, whose `async func`s a WASI 0.3 guest
/// calls from its `wasi:http/handler@0.3.0` export) sees the same store as the
/// other interfaces, on every backend.
pub(crate) async fn kv_spin3(backend: Backend) -> Result<()> {
    let app = KvApp::start(&backend, "test", &["default"], false)?;
    let q = |rest: &str| format!("store=default&{rest}");

    assert_eq!(app.spin3(&q("op=get&key=k3")).await?, "none");
    app.set("spin3", "k3", "written by spin3").await?;
    assert_eq!(
        app.wasi(&q("op=get&key=k3")).await?,
        "some:written by spin3"
    );
    backend.check_holds(&app, "k3", "written by spin3").await?;
    app.set("wasi", "from-wasi", "written by wasi").await?;
    assert_eq!(
        app.spin3(&q("op=get&key=from-wasi")).await?,
        "some:written by wasi"
    );
    assert_eq!(app.spin3(&q("op=list")).await?, r#"["from-wasi","k3"]"#);
    assert_eq!(app.spin3(&q("op=exists&key=k3")).await?, "true");
    assert_eq!(app.spin3(&q("op=delete&key=k3")).await?, "ok");
    assert_eq!(app.spin3(&q("op=exists&key=k3")).await?, "false");
    assert_eq!(app.wasi(&q("op=get&key=k3")).await?, "none");
    assert_eq!(
        app.spin3("store=nowhere&op=get&key=k").await?,
        "error: access-denied"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------

/// 200 writes, each acknowledged (200 `ok`) before the next is sent, survive
/// `kill -9` of the host: a restart on the same state dir has all of them.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_kill_9() -> Result<()> {
    const N: usize = 200;
    let dir = AppDir::new()?;
    dir.write("skiff.toml", manifest("test", &["default"]))?;
    let mut server = up(&dir, &[])?;
    let mut conn = Connection::open(server.addr()).await?;
    for i in 0..N {
        let req = http::Request::post(format!("/wasi?store=default&op=set&key=key-{i}"))
            .body(full(format!("value-{i}")))?;
        let resp = conn.send(req).await?;
        resp.assert_status(200);
        assert_eq!(resp.text(), "ok", "write {i}");
    }
    server.signal("KILL")?;
    let status = tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(10)))?;
    assert_eq!(status.signal(), Some(9), "{status}");
    drop(server);

    let server = up(&dir, &[])?;
    let keys: Vec<String> = (0..N).map(|i| format!("key-{i}")).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    let listed: Vec<String> =
        serde_json::from_str(&ask(&server, "/wasi?store=default&op=list").await?)?;
    assert_eq!(listed, sorted, "the keys after the restart");
    let values: Vec<Option<String>> = serde_json::from_str(
        &ask(
            &server,
            &format!("/wasi?store=default&op=get_many&keys={}", keys.join(",")),
        )
        .await?,
    )?;
    let expected: Vec<Option<String>> = (0..N).map(|i| Some(format!("value-{i}"))).collect();
    assert_eq!(values, expected, "the values after the restart");
    Ok(())
}

// ---------------------------------------------------------------------------
// `skiff up --key-value`
// ---------------------------------------------------------------------------

/// `--key-value KEY=VALUE` (Spin's flag) sets keys in the `default` store
/// before serving, in order (a later pair replaces an earlier one; a value
/// may hold `=`), on whatever backend `default` has: here the embedded one,
/// where the keys outlive the server. A pair without `=` stops the start.
#[tokio::test(flavor = "multi_thread")]
async fn key_value_flag_sets_the_default_store() -> Result<()> {
    let dir = AppDir::new()?;
    dir.write("skiff.toml", manifest("flag", &["default"]))?;
    let pairs = ["a=1", "b=x=y", "a=2", "empty="];
    let args: Vec<String> = pairs.iter().map(|p| format!("--key-value={p}")).collect();
    let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.args(&args);
    })?;
    for (key, expected) in [("a", "some:2"), ("b", "some:x=y"), ("empty", "some:")] {
        let path = format!("/spin2?store=default&op=get&key={key}");
        assert_eq!(ask(&server, &path).await?, expected, "{key}");
    }
    server
        .stderr()
        .wait_for("set key `empty` in key-value store `default`", EFFECT_BOUND)?;
    drop(server);
    let server = up(&dir, &[])?;
    assert_eq!(
        ask(&server, "/wasi?store=default&op=get&key=b").await?,
        "some:x=y"
    );
    drop(server);

    for bad in ["novalue", "=v"] {
        up_fails(dir.path(), shared_cache()?, |cmd| {
            cmd.args(["--key-value", bad]);
        })?
        .assert_stderr_contains(&format!(
            "--key-value {bad}: expected KEY=VALUE, with a non-empty KEY"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Bad runtime config at start
// ---------------------------------------------------------------------------

/// `skiff up --runtime-config FILE` with `text` in FILE must fail, naming the
/// file and every one of `needles`.
fn bad_runtime_config(text: &str, needles: &[&str]) -> Result<()> {
    let dir = AppDir::new()?;
    dir.write("skiff.toml", manifest("test", &["default"]))?;
    let rc = dir.write("runtime-config.toml", text)?;
    let out = up_fails(dir.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(&rc);
    })?;
    out.assert_code(1)
        .assert_stderr_contains(&rc.display().to_string());
    for needle in needles {
        out.assert_stderr_contains(needle);
    }
    Ok(())
}

#[test]
fn bad_runtime_config_unknown_top_level_key() -> Result<()> {
    bad_runtime_config(
        "[key_value_stores.default]\ntype = \"memory\"\n",
        &["unknown key `key_value_stores` (did you mean `key_value_store`?)"],
    )
}

#[test]
fn bad_runtime_config_unknown_store_type() -> Result<()> {
    bad_runtime_config(
        "[key_value_store.default]\ntype = \"mongo\"\n",
        &[
            "`key_value_store.default.type`",
            "unsupported key-value store type \"mongo\"",
        ],
    )
}

#[test]
fn bad_runtime_config_redis_unreachable() -> Result<()> {
    let closed = format!("127.0.0.1:{}", free_port()?);
    bad_runtime_config(
        &redis_config(&format!("redis://{closed}"), &["default"]),
        &["`key_value_store.default`", &format!("redis at {closed}")],
    )
}
