//! The apps in `examples/`, built and served the way their READMEs say.
//!
//! Each example is a standalone crate compiled for `wasm32-wasip2`; the first
//! test that needs one runs `skiff build examples/NAME` (its `cargo build`
//! keeps its output in `examples/NAME/target`, so later runs are quick), once
//! per test process. Servers get a temporary state dir (`--state-dir`) and AOT
//! cache, so nothing is written to `examples/NAME/.skiff/` or the user's cache.
//!
//! - `kv-counter` (`wasi:keyvalue`): counts on the embedded default, durably
//!   across a restart; on Redis through a runtime config made from its
//!   `runtime-config.redis.toml`; and switched to Redis live by editing the
//!   runtime config under the running server.
//! - `todo` (SQLite): its migration run by `--sqlite @examples/todo/migrations.sql`
//!   from the repository root, then every route.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use tempfile::TempDir;

use crate::harness::{
    Response, Server, empty, finish_within, full, get, post, replace_file, send, skiff_command,
    tempdir,
};
use crate::redis_server::RedisServer;

/// How long building one example may take (a first build compiles its
/// dependencies for `wasm32-wasip2`).
pub(crate) const BUILD_BOUND: Duration = Duration::from_secs(20 * 60);

/// How long a runtime-config edit may take to show its effect.
const EFFECT_BOUND: Duration = Duration::from_secs(15);

/// Variables of the `cargo test` run that would alter the examples' own
/// `cargo build`. A redirected target dir (`CARGO_TARGET_DIR`, as CI sets it)
/// is left in place: `skiff build` itself keeps it from the build commands.
pub(crate) const CARGO_ENV: &[&str] = &[
    "CARGO_BUILD_TARGET",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
];

/// The repository root (`examples/` is in it).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// `examples/NAME`, built by `skiff build` on first use in this process.
fn example(name: &'static str) -> Result<PathBuf> {
    static KV_COUNTER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    static TODO: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let once = match name {
        "kv-counter" => &KV_COUNTER,
        "todo" => &TODO,
        _ => bail!("no example `{name}`"),
    };
    once.get_or_init(|| build(name).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!("could not build examples/{name}: {e}"))
}

fn build(name: &str) -> Result<PathBuf> {
    let dir = repo_root().join("examples").join(name);
    let cache = tempdir()?;
    let mut cmd = skiff_command(cache.path());
    cmd.arg("build").arg(&dir);
    for var in CARGO_ENV {
        cmd.env_remove(var);
    }
    let out = finish_within(&mut cmd, BUILD_BOUND)?;
    ensure!(
        out.status.success(),
        "`skiff build {}` failed ({}):\n{}",
        dir.display(),
        out.status,
        out.stderr
    );
    Ok(dir)
}

/// A served example with its own state dir and AOT cache.
struct Served {
    server: Server,
    state: TempDir,
    cache: TempDir,
}

impl Served {
    /// `skiff up examples/NAME ARGS…` run from the repository root, with a
    /// temporary `--state-dir`.
    fn start(name: &'static str, args: &[&str]) -> Result<Self> {
        Self::start_in(name, args, tempdir()?, tempdir()?)
    }

    /// Like [`Served::start`], on an existing state dir and cache.
    fn start_in(name: &'static str, args: &[&str], state: TempDir, cache: TempDir) -> Result<Self> {
        example(name)?;
        let server = Server::start_with(
            Path::new("examples").join(name).as_path(),
            cache.path(),
            |cmd: &mut Command| {
                cmd.current_dir(repo_root())
                    .arg("--state-dir")
                    .arg(state.path())
                    .args(args);
            },
        )?;
        Ok(Served {
            server,
            state,
            cache,
        })
    }

    /// Stops the server and starts the example again on the same state.
    fn restart(self, name: &'static str, args: &[&str]) -> Result<Self> {
        let Served {
            server,
            state,
            cache,
        } = self;
        drop(server);
        Self::start_in(name, args, state, cache)
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }
}

/// `GET path`; the answer must be `200`. Returns the body.
async fn get_ok(served: &Served, path: &str) -> Result<String> {
    let resp = get(&served.url(path)).await?;
    ensure!(
        resp.status == 200,
        "GET {path}: {} {}",
        resp.status,
        resp.text()
    );
    Ok(resp.text())
}

/// kv-counter's answer to the `n`th view.
fn viewed(n: u64) -> String {
    format!("Hello! This page has been viewed {n} times.\n")
}

/// A runtime config for `redis`: the example's `runtime-config.redis.toml`
/// with its URL pointed at the test's server.
fn redis_runtime_config(redis: &RedisServer) -> Result<String> {
    let path = repo_root().join("examples/kv-counter/runtime-config.redis.toml");
    let shipped =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let default_url = "url = \"redis://127.0.0.1:6379\"";
    ensure!(
        shipped.contains("[key_value_store.default]") && shipped.contains(default_url),
        "{} no longer puts `default` on redis://127.0.0.1:6379:\n{shipped}",
        path.display()
    );
    Ok(shipped.replace(default_url, &format!("url = \"{}\"", redis.url())))
}

/// kv-counter served with the shipped Redis runtime config pointed at `redis`;
/// the config's directory lives as long as the returned guard.
fn serve_kv_counter_on_redis(redis: &RedisServer) -> Result<(TempDir, Served)> {
    let config_dir = tempdir()?;
    let config = config_dir.path().join("runtime-config.toml");
    std::fs::write(&config, redis_runtime_config(redis)?)?;
    let config_arg = config.to_str().context("a UTF-8 temporary path")?;
    let served = Served::start("kv-counter", &["--runtime-config", config_arg])?;
    Ok((config_dir, served))
}

/// The count Redis holds for the app: the value of its one key ending in `hits`.
fn redis_hits(redis: &RedisServer) -> Result<Option<String>> {
    let keys = redis.cli(&["--scan", "--pattern", "*hits"])?;
    let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
    match keys.as_slice() {
        [] => Ok(None),
        [key] => Ok(Some(redis.cli(&["get", key])?)),
        _ => bail!("more than one `hits` key in Redis: {keys:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_counter_counts_on_the_embedded_default() -> Result<()> {
    let served = Served::start("kv-counter", &[])?;
    for n in 1..=3 {
        assert_eq!(get_ok(&served, "/").await?, viewed(n));
    }
    assert_eq!(get_ok(&served, "/reset").await?, "The counter is reset.\n");
    assert_eq!(get_ok(&served, "/").await?, viewed(1));
    assert_eq!(get_ok(&served, "/").await?, viewed(2));

    // The embedded store is durable: a new server on the same state counts on.
    let served = served.restart("kv-counter", &[])?;
    assert_eq!(get_ok(&served, "/").await?, viewed(3));

    get(&served.url("/elsewhere")).await?.assert_status(404);
    post(&served.url("/"), empty()).await?.assert_status(405);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_counter_counts_on_redis_from_a_runtime_config() -> Result<()> {
    let redis = RedisServer::start()?;
    let (_config_dir, served) = serve_kv_counter_on_redis(&redis)?;

    assert_eq!(get_ok(&served, "/").await?, viewed(1));
    assert_eq!(get_ok(&served, "/").await?, viewed(2));
    assert_eq!(redis_hits(&redis)?.as_deref(), Some("2"));
    assert_eq!(get_ok(&served, "/reset").await?, "The counter is reset.\n");
    assert_eq!(redis_hits(&redis)?, None);
    assert_eq!(get_ok(&served, "/").await?, viewed(1));
    Ok(())
}

/// Redis stopped under the served example: the guest gets the interface's
/// error and the client a `500` whose body names the store and the Redis
/// server; once Redis is back, counting resumes with no restart.
#[tokio::test(flavor = "multi_thread")]
async fn kv_counter_reports_redis_down_then_recovers() -> Result<()> {
    let mut redis = RedisServer::start()?;
    let (_config_dir, served) = serve_kv_counter_on_redis(&redis)?;
    assert_eq!(get_ok(&served, "/").await?, viewed(1));

    redis.stop()?;
    let resp = get(&served.url("/")).await?;
    resp.assert_status(500);
    let body = resp.text();
    assert!(
        body.starts_with("key-value store `default` failed: ") && body.contains(&redis.address()),
        "{body}"
    );

    redis.restart()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = get(&served.url("/")).await?;
        if resp.status == 200 {
            // Redis came back empty (no persistence): counting starts over.
            assert_eq!(resp.text(), viewed(1));
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "still {} after Redis came back: {}",
            resp.status,
            resp.text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_counter_switches_to_redis_live() -> Result<()> {
    let redis = RedisServer::start()?;
    let config_dir = tempdir()?;
    let config = config_dir.path().join("runtime-config.toml");
    std::fs::write(&config, "# nothing yet: `default` is the embedded store\n")?;
    let config_arg = config.to_str().context("a UTF-8 temporary path")?;
    let served = Served::start("kv-counter", &["--runtime-config", config_arg])?;
    assert_eq!(get_ok(&served, "/").await?, viewed(1));
    assert_eq!(get_ok(&served, "/").await?, viewed(2));
    assert_eq!(redis_hits(&redis)?, None);

    // Edit the file under the running server: the next requests count on the
    // (empty) Redis store, so one of them is its first view.
    replace_file(&config, &redis_runtime_config(&redis)?)?;
    let deadline = Instant::now() + EFFECT_BOUND;
    loop {
        let body = get_ok(&served, "/").await?;
        if body == viewed(1) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "still not counting on Redis {EFFECT_BOUND:?} after the edit (last: {body:?}); stderr:\n{}",
            served.server.stderr().text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(redis_hits(&redis)?.as_deref(), Some("1"));
    assert_eq!(get_ok(&served, "/").await?, viewed(2));
    assert_eq!(redis_hits(&redis)?.as_deref(), Some("2"));
    Ok(())
}

/// `METHOD path` with `body` on `served`.
async fn todo_request(served: &Served, method: &str, path: &str, body: &str) -> Result<Response> {
    let body = if body.is_empty() {
        empty()
    } else {
        full(body.to_string())
    };
    send(
        http::Request::builder()
            .method(method)
            .uri(served.url(path))
            .body(body)?,
    )
    .await
}

/// `GET /todos`, which must answer `200` with JSON.
async fn list(served: &Served) -> Result<serde_json::Value> {
    let resp = todo_request(served, "GET", "/todos", "").await?;
    resp.assert_status(200);
    assert_eq!(resp.headers["content-type"], "application/json");
    resp.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn todo_serves_every_route_on_sqlite() -> Result<()> {
    let migration = "@examples/todo/migrations.sql";
    let served = Served::start("todo", &["--sqlite", migration])?;
    served
        .server
        .stderr()
        .wait_for("ran --sqlite `examples/todo/migrations.sql`", EFFECT_BOUND)?;
    assert_eq!(list(&served).await?, serde_json::json!([]));

    let resp = todo_request(&served, "POST", "/todos", "Buy milk").await?;
    resp.assert_status(201);
    let milk = serde_json::json!({"id": 1, "title": "Buy milk", "done": false});
    assert_eq!(resp.json()?, milk);
    let title = "Write the \"todo\" README \\ with curl\n";
    let resp = todo_request(&served, "POST", "/todos", title).await?;
    resp.assert_status(201);
    let readme = serde_json::json!({"id": 2, "title": title.trim(), "done": false});
    assert_eq!(resp.json()?, readme);
    assert_eq!(list(&served).await?, serde_json::json!([milk, readme]));

    let resp = todo_request(&served, "POST", "/todos/1/done", "").await?;
    resp.assert_status(200);
    let milk = serde_json::json!({"id": 1, "title": "Buy milk", "done": true});
    assert_eq!(resp.json()?, milk);
    todo_request(&served, "DELETE", "/todos/2", "")
        .await?
        .assert_status(204);
    assert_eq!(list(&served).await?, serde_json::json!([milk]));

    // Unknown ids, a missing title, a method no route has.
    for (method, path) in [
        ("DELETE", "/todos/2"),
        ("POST", "/todos/99/done"),
        ("POST", "/todos/one/done"),
    ] {
        todo_request(&served, method, path, "")
            .await?
            .assert_status(404);
    }
    todo_request(&served, "POST", "/todos", "  ")
        .await?
        .assert_status(400);
    todo_request(&served, "PUT", "/todos", "x")
        .await?
        .assert_status(404);

    // The migration is safe to run again, and the items are still there.
    let served = served.restart("todo", &["--sqlite", migration])?;
    assert_eq!(list(&served).await?, serde_json::json!([milk]));
    Ok(())
}
