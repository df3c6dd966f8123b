//! The AOT cache as `skiff up` and `skiff compile` use it: a miss compiles and
//! stores, a restart loads from the cache, a corrupted entry is discarded and
//! recompiled, and `skiff compile` (of a component, or of a whole app) fills
//! the cache `skiff up` reads; `skiff up --no-cache` (Spin's
//! `--disable-cache`) neither reads nor writes it, and `skiff up --cache FILE`
//! (Spin's, a wasmtime cache config) chooses it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, ensure};
use test_programs_artifacts::{HTTP_HELLO_COMPONENT, KV_SPIN3_COMPONENT};

use crate::harness::{AppDir, Server, get, skiff_in, tempdir, toml_path, up_fails};

/// How long a start-up log line may take to reach the collected stderr.
const LOG_BOUND: Duration = Duration::from_secs(10);

fn hello_app() -> Result<AppDir> {
    AppDir::with_manifest(&format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = {}\n",
        toml_path(HTTP_HELLO_COMPONENT)
    ))
}

/// Every `*.cwasm` below `dir`.
fn cwasm_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(cwasm_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "cwasm") {
            found.push(path);
        }
    }
    Ok(found)
}

/// Starts the app, checks the load log line and that it serves, then stops it.
async fn start_expecting(app: &AppDir, cache: &Path, log: &str) -> Result<String> {
    let server = Server::start(app.path(), cache)?;
    let stderr = server.stderr().wait_for(log, LOG_BOUND)?;
    let resp = get(&server.url("/")).await?;
    resp.assert_status(200);
    ensure!(
        resp.text() == "Hello from Skiff!\n",
        "body: {}",
        resp.text()
    );
    Ok(stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn miss_then_hit_then_corrupt_entry_is_recompiled() -> Result<()> {
    let app = hello_app()?;
    let cache = tempdir()?;

    start_expecting(&app, cache.path(), "component `hello` loaded compiled").await?;
    let entries = cwasm_files(cache.path())?;
    assert_eq!(entries.len(), 1, "{entries:?}");

    let stderr = start_expecting(
        &app,
        cache.path(),
        "component `hello` loaded from AOT cache",
    )
    .await?;
    assert!(!stderr.contains("loaded compiled"), "{stderr}");

    for entry in cwasm_files(cache.path())? {
        let mut bytes = std::fs::read(&entry)?;
        for i in (bytes.len() / 4..bytes.len()).step_by(bytes.len() / 8 + 1) {
            bytes[i] ^= 0xff;
        }
        std::fs::write(&entry, bytes)?;
    }
    let stderr = start_expecting(&app, cache.path(), "component `hello` loaded recompiled").await?;
    assert!(stderr.contains("discarding AOT cache entry"), "{stderr}");

    // The entry was rewritten: the next start uses it again.
    start_expecting(
        &app,
        cache.path(),
        "component `hello` loaded from AOT cache",
    )
    .await?;
    Ok(())
}

/// `--no-cache`, and Spin's spelling `--disable-cache`: the app is served,
/// compiled, and nothing is written to the cache, which a start without the
/// flag then fills.
#[tokio::test(flavor = "multi_thread")]
async fn no_cache_serves_without_writing_the_cache() -> Result<()> {
    let app = hello_app()?;
    let cache = tempdir()?;
    for flag in ["--no-cache", "--disable-cache"] {
        let server = Server::start_with(app.path(), cache.path(), |cmd| {
            cmd.arg(flag);
        })?;
        let resp = get(&server.url("/")).await?;
        resp.assert_status(200);
        assert_eq!(resp.text(), "Hello from Skiff!\n");
        drop(server);
        let entries = cwasm_files(cache.path())?;
        ensure!(entries.is_empty(), "{flag} wrote {entries:?}");
    }
    start_expecting(&app, cache.path(), "component `hello` loaded compiled").await?;
    assert_eq!(cwasm_files(cache.path())?.len(), 1);
    Ok(())
}

/// `--cache FILE` (Spin's flag, a wasmtime cache config): `[cache] directory`
/// is where compiled components go, over `SKIFF_CACHE_DIR`, and the next start
/// loads from there; `enabled = false` writes no cache at all; wasmtime's
/// cleanup keys are named in a warning; a file without `[cache]`, or with a
/// key of the wrong type, is an error naming the file and the key.
#[tokio::test(flavor = "multi_thread")]
async fn a_wasmtime_cache_config_chooses_the_cache() -> Result<()> {
    let app = hello_app()?;
    let env_cache = tempdir()?;
    let dir = tempdir()?;
    let chosen = dir.path().join("aot");
    let config = dir.path().join("cache.toml");
    std::fs::write(
        &config,
        format!(
            "[cache]\nenabled = true\ndirectory = {}\ncleanup-interval = \"30m\"\n",
            toml_path(&chosen)
        ),
    )?;
    let with_config = |cmd: &mut std::process::Command| {
        cmd.arg("--cache").arg(&config);
    };
    for expected in ["loaded compiled", "loaded from AOT cache"] {
        let server = Server::start_with(app.path(), env_cache.path(), with_config)?;
        let stderr = server
            .stderr()
            .wait_for(&format!("component `hello` {expected}"), LOG_BOUND)?;
        assert!(
            stderr.contains("`cache.cleanup-interval` ignored"),
            "{stderr}"
        );
        let resp = get(&server.url("/")).await?;
        resp.assert_status(200);
        assert_eq!(resp.text(), "Hello from Skiff!\n");
    }
    assert_eq!(cwasm_files(&chosen)?.len(), 1);
    assert!(cwasm_files(env_cache.path())?.is_empty());

    // `enabled = false`: served, and nothing written anywhere.
    let off = dir.path().join("off");
    std::fs::write(
        &config,
        format!(
            "[cache]\nenabled = false\ndirectory = {}\n",
            toml_path(&off)
        ),
    )?;
    let server = Server::start_with(app.path(), env_cache.path(), with_config)?;
    get(&server.url("/")).await?.assert_status(200);
    drop(server);
    assert!(cwasm_files(&off)?.is_empty());
    assert!(cwasm_files(env_cache.path())?.is_empty());

    for (text, says) in [
        ("directory = \"/tmp\"\n", "no `[cache]` table"),
        (
            "[cache]\nenabled = \"yes\"\n",
            "`cache.enabled` must be true or false",
        ),
        (
            "[cache]\ndirectory = 7\n",
            "`cache.directory` must be a string",
        ),
        ("[cache\n", "not a valid wasmtime cache config"),
    ] {
        std::fs::write(&config, text)?;
        let out = up_fails(app.path(), env_cache.path(), with_config)?;
        assert!(out.stderr.contains(says), "{text:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(&config.display().to_string()),
            "{text:?}: {}",
            out.stderr
        );
    }
    let missing = dir.path().join("missing.toml");
    let out = up_fails(app.path(), env_cache.path(), |cmd| {
        cmd.arg("--cache").arg(&missing);
    })?;
    assert!(
        out.stderr.contains("cannot read the cache config"),
        "{}",
        out.stderr
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn compile_fills_the_cache_up_reads() -> Result<()> {
    let cache = tempdir()?;
    let out = skiff_in(cache.path(), ["compile", HTTP_HELLO_COMPONENT], |_| {})?;
    out.assert_code(0)
        .assert_stdout_contains(&format!("compiled: {HTTP_HELLO_COMPONENT} -> "));
    assert_eq!(cwasm_files(cache.path())?.len(), 1);

    let out = skiff_in(cache.path(), ["compile", HTTP_HELLO_COMPONENT], |_| {})?;
    out.assert_code(0).assert_stdout_contains("already cached");

    let app = hello_app()?;
    let stderr = start_expecting(
        &app,
        cache.path(),
        "component `hello` loaded from AOT cache",
    )
    .await?;
    assert!(!stderr.contains("loaded compiled"), "{stderr}");
    Ok(())
}

/// `skiff compile APP` compiles every component for the engine `skiff up`
/// builds for that app. In this app a WASI 0.3 component makes that an engine
/// with concurrency support, for which `skiff compile hello.wasm` alone (made
/// for hello's own engine, without it) would not be a hit: after compiling
/// the app, `skiff up` loads both components from the cache.
#[tokio::test(flavor = "multi_thread")]
async fn compile_an_app_fills_the_cache_up_reads() -> Result<()> {
    let cache = tempdir()?;
    let app = AppDir::with_manifest(&format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = {}\n\
         [[trigger.http]]\nroute = \"/kv\"\ncomponent = \"kv\"\n\
         [component.kv]\nsource = {}\nkey_value_stores = [\"default\"]\n",
        toml_path(HTTP_HELLO_COMPONENT),
        toml_path(KV_SPIN3_COMPONENT)
    ))?;
    let dir = app.path().to_string_lossy().into_owned();

    let out = skiff_in(cache.path(), ["compile", &dir], |_| {})?;
    out.assert_code(0)
        .assert_stdout_contains("compiled: `hello`")
        .assert_stdout_contains("compiled: `kv`");
    assert_eq!(cwasm_files(cache.path())?.len(), 2);
    let out = skiff_in(cache.path(), ["compile", &dir], |_| {})?;
    out.assert_code(0)
        .assert_stdout_contains("already cached: `hello`")
        .assert_stdout_contains("already cached: `kv`");

    let server = Server::start(app.path(), cache.path())?;
    let stderr = server
        .stderr()
        .wait_for("component `kv` loaded from AOT cache", LOG_BOUND)?;
    let stderr = if stderr.contains("component `hello` loaded") {
        stderr
    } else {
        server
            .stderr()
            .wait_for("component `hello` loaded", LOG_BOUND)?
    };
    assert!(
        stderr.contains("component `hello` loaded from AOT cache"),
        "{stderr}"
    );
    assert!(!stderr.contains("loaded compiled"), "{stderr}");
    get(&server.url("/")).await?.assert_status(200);

    drop(server);

    // The component alone is compiled for hello's own engine, which this app
    // does not use: `skiff up` compiles it again.
    let alone = tempdir()?;
    skiff_in(alone.path(), ["compile", HTTP_HELLO_COMPONENT], |_| {})?.assert_code(0);
    let server = Server::start(app.path(), alone.path())?;
    server
        .stderr()
        .wait_for("component `hello` loaded compiled", LOG_BOUND)?;
    drop(server);

    // `--output` names one artifact; an app has several.
    let out = skiff_in(
        cache.path(),
        ["compile", &dir, "--output", "x.cwasm"],
        |_| {},
    )?;
    out.assert_code(1)
        .assert_stderr_contains("`--output` takes one component");
    Ok(())
}
