//! Component dependencies (`[component.ID.dependencies]`, Spin 3's keys):
//! `deps_app` imports `skiff-test:greeter/greet@0.1.0`, which `deps_greeter`
//! exports (with `shout` and a mistyped `broken`).
//!
//! - sources: `path`, `component = "ID"`, `url` + `digest` (from a loopback
//!   HTTP server, then from the cache with the server gone), `version` +
//!   `registry` (a real `docker-registry`, a semver requirement);
//! - `export` picking another export; skiff.toml and spin.toml;
//! - configuration: a dependency gets none of its component's by default
//!   (environment, files, key-value, outbound HTTP all denied) and all of it
//!   with `inherit_configuration = true` or the component's
//!   `dependencies_inherit_configuration = true`;
//! - `skiff push` ships the component composed, so `skiff up REF` serves it;
//! - `--watch` reloads when a dependency's file changes;
//! - errors that name the manifest key: no matching import, two
//!   dependencies for one import, a missing or mistyped export, a wrong
//!   digest, bad keys.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, ensure};
use sha2::{Digest, Sha256};
use test_programs_artifacts::{DEPS_APP_COMPONENT, DEPS_GREETER_COMPONENT, HTTP_HELLO_COMPONENT};

use crate::harness::{
    AppDir, BOUND, HEAD, Server, get, replace_file, shared_cache, skiff_in, tempdir, toml_path,
    up_fails,
};
use crate::oci::{Env, field, push_ok};
use crate::oci_registry::OciRegistry;

/// A skiff.toml serving `deps_app` on `/...` with `GREETING = "hi"`, the
/// `default` store, outbound HTTP to `http://127.0.0.1:*`, and `extra`
/// (its dependencies table, or more keys) after it.
fn app_manifest(extra: &str) -> String {
    format!(
        "{HEAD}[[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = {}\nenvironment = {{ GREETING = \"hi\" }}\n\
         key_value_stores = [\"default\"]\n\
         allowed_outbound_hosts = [\"http://127.0.0.1:*\"]\n{extra}",
        toml_path(DEPS_APP_COMPONENT)
    )
}

/// A dependencies table with one entry, `"NAME" = { SOURCE }`.
fn dependency(name: &str, source: &str) -> String {
    format!("[component.app.dependencies]\n\"{name}\" = {{ {source} }}\n")
}

fn greeter_path() -> String {
    format!("path = {}", toml_path(DEPS_GREETER_COMPONENT))
}

async fn text(server: &Server, path: &str) -> Result<String> {
    let resp = get(&server.url(path)).await?;
    resp.assert_status(200);
    Ok(resp.text())
}

/// What the dependency reaches, probing a `GET` of the server's own `?own`.
async fn probe(server: &Server) -> Result<String> {
    let own = server.url("/?own");
    text(server, &format!("/?probe={}", own.replace('?', "%3F"))).await
}

/// A dependency from a `path`, by interface name: composed with the
/// component, called per request; by default it gets none of the
/// component's configuration (while the component keeps all of it), each
/// denial logged once, even when the component is linked again (the staged
/// start's move onto the instance pool, held back here until after the
/// first probe).
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn deps_app() -> Result<()> {
    let app = AppDir::with_manifest(
        &app_manifest(&dependency("skiff-test:greeter/greet", &greeter_path()))[HEAD.len()..],
    )?;
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.env("SKIFF_LOG", "info,skiff_runtime=debug")
            .env("SKIFF_STAGED_POOL_DELAY_MS", "1000");
    })?;
    assert_eq!(text(&server, "/?name=Ann").await?, "Hello, Ann!\n");
    assert_eq!(
        probe(&server).await?,
        "env: none\nfiles: error NotFound\nkv: error: access-denied\n\
         http: error: ErrorCode::HttpRequestDenied\n"
    );
    assert_eq!(text(&server, "/?own").await?, "GREETING=hi\n");
    // A second probe on the pooled engine: the same answers, and each denial
    // was warned about once.
    server.stderr().wait_for("instance pool ready", BOUND)?;
    assert_eq!(
        probe(&server).await?,
        "env: none\nfiles: error NotFound\nkv: error: access-denied\n\
         http: error: ErrorCode::HttpRequestDenied\n"
    );
    let log = server
        .stderr()
        .wait_for("wasi:http/outgoing-handler@0.2", BOUND)?;
    for denied in [
        "`wasi:cli/environment@0.2.12#get-environment`",
        "`fermyon:spin/key-value@2.0.0#[static]store.open`",
        "`wasi:http/outgoing-handler@0.2.12#handle`",
    ] {
        ensure!(
            log.matches(denied).count() == 1,
            "one warning for {denied}:\n{log}"
        );
    }
    ensure!(log.contains("inherit_configuration = true"), "{log}");
    // Its log messages are not denied: a log is output, as stdout is.
    let line = log
        .lines()
        .find(|l| l.contains("probed http://"))
        .with_context(|| format!("the dependency's wasi:logging message:\n{log}"))?;
    ensure!(
        line.contains(" INFO ")
            && line.contains("component=app")
            && line.contains("context=greeter"),
        "{line}"
    );
    ensure!(!log.contains("wasi:logging"), "no denial: {log}");
    Ok(())
}

/// `inherit_configuration = true` on the dependency, or
/// `dependencies_inherit_configuration = true` on the component, gives the
/// dependency the component's environment, store and outbound grants.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn deps_greeter() -> Result<()> {
    let granted = "env: GREETING=hi\nfiles: error NotFound\nkv: opened\nhttp: status 200\n";
    for extra in [
        dependency(
            "skiff-test:greeter/greet",
            &format!("{}, inherit_configuration = true", greeter_path()),
        ),
        format!(
            "dependencies_inherit_configuration = true\n{}",
            dependency("skiff-test:greeter", &greeter_path())
        ),
    ] {
        let app = AppDir::with_manifest(&app_manifest(&extra)[HEAD.len()..])?;
        let server = Server::start(app.path(), shared_cache()?)?;
        assert_eq!(probe(&server).await?, granted, "with\n{extra}");
        assert_eq!(text(&server, "/?name=Bo").await?, "Hello, Bo!\n");
        ensure!(!server.stderr().text().contains("denied"));
    }
    Ok(())
}

/// `export` picks another export of the same shape; `component = "ID"`
/// takes another component's code; a spin.toml says the same.
#[tokio::test(flavor = "multi_thread")]
async fn dependencies_by_export_by_component_and_in_spin_toml() -> Result<()> {
    let shout = format!(
        "{}, export = \"skiff-test:greeter/shout@0.1.0\"",
        greeter_path()
    );
    let app = AppDir::with_manifest(
        &app_manifest(&dependency("skiff-test:greeter/greet@0.1.0", &shout))[HEAD.len()..],
    )?;
    let server = Server::start(app.path(), shared_cache()?)?;
    assert_eq!(text(&server, "/?name=Ann").await?, "HELLO, ANN!\n");
    drop(server);

    let by_component = format!(
        "{}[component.greeter]\nsource = {}\n",
        dependency("skiff-test:greeter/greet", "component = \"greeter\""),
        toml_path(DEPS_GREETER_COMPONENT)
    );
    let app = AppDir::with_manifest(&app_manifest(&by_component)[HEAD.len()..])?;
    let server = Server::start(app.path(), shared_cache()?)?;
    assert_eq!(text(&server, "/?name=Cy").await?, "Hello, Cy!\n");
    drop(server);

    let spin = AppDir::new()?;
    spin.write(
        "spin.toml",
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"deps\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
             [component.app]\nsource = {}\n\
             [component.app.dependencies]\n\"skiff-test:greeter/greet\" = {{ path = {} }}\n",
            toml_path(DEPS_APP_COMPONENT),
            toml_path(DEPS_GREETER_COMPONENT)
        ),
    )?;
    let server = Server::start(spin.path(), shared_cache()?)?;
    assert_eq!(text(&server, "/?name=Di").await?, "Hello, Di!\n");
    Ok(())
}

/// A loopback HTTP server answering every `GET` with `body`; counts requests.
struct FileServer {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl FileServer {
    fn start(body: Vec<u8>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        Ok(FileServer { port, hits })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/greeter.wasm", self.port)
    }
}

/// A `url` dependency is downloaded once, checked against its `digest`
/// and kept in the cache: the next start needs no server. A wrong digest
/// fails the start, naming the key, and nothing is kept.
#[tokio::test(flavor = "multi_thread")]
async fn url_dependencies_are_checked_and_cached() -> Result<()> {
    let wasm = std::fs::read(DEPS_GREETER_COMPONENT)?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&wasm)));
    let files = FileServer::start(wasm)?;
    let cache = tempdir()?;

    let wrong = format!("sha256:{}", "0".repeat(64));
    let app = AppDir::with_manifest(
        &app_manifest(&dependency(
            "skiff-test:greeter/greet",
            &format!("url = \"{}\", digest = \"{wrong}\"", files.url()),
        ))[HEAD.len()..],
    )?;
    let out = up_fails(app.path(), cache.path(), |_| {})?;
    out.assert_stderr_contains("component.app.dependencies.\"skiff-test:greeter/greet\"")
        .assert_stderr_contains(&format!("holds `{digest}`"))
        .assert_stderr_contains("not the `digest` the manifest gives");

    replace_file(
        &app.manifest(),
        &app_manifest(&dependency(
            "skiff-test:greeter/greet",
            &format!("url = \"{}\", digest = \"{digest}\"", files.url()),
        )),
    )?;
    let server = Server::start(app.path(), cache.path())?;
    assert_eq!(text(&server, "/?name=Ann").await?, "Hello, Ann!\n");
    drop(server);
    let fetched = files.hits.load(Ordering::SeqCst);
    assert_eq!(fetched, 2, "one download per start so far");

    let server = Server::start(app.path(), cache.path())?;
    assert_eq!(text(&server, "/?name=Bo").await?, "Hello, Bo!\n");
    assert_eq!(
        files.hits.load(Ordering::SeqCst),
        fetched,
        "the cached download is used"
    );
    drop(server);
    // `skiff compile` finds the composition the start compiled.
    let out = skiff_in(
        cache.path(),
        ["compile".as_ref(), app.path().as_os_str()],
        |_| {},
    )?;
    out.assert_code(0)
        .assert_stdout_contains("already cached: `app`");
    Ok(())
}

/// A `version` dependency is pulled from an OCI registry
/// (`REGISTRY/ns/name:TAG`), the highest tag a requirement allows; and
/// `skiff push` ships an app's component composed, so `skiff up REF`
/// serves it with nothing to fetch.
#[tokio::test(flavor = "multi_thread")]
async fn registry_dependencies_and_push_compose() -> Result<()> {
    let registry = OciRegistry::start()?;
    let env = Env::new()?;
    push_ok(
        &env,
        &registry.reference("skiff-test/greeter:0.1.0"),
        DEPS_GREETER_COMPONENT,
    )?;
    push_ok(
        &env,
        &registry.reference("skiff-test/greeter:0.2.0"),
        HTTP_HELLO_COMPONENT,
    )?;
    let source = |version: &str| {
        format!(
            "version = \"{version}\", registry = \"{}\"",
            registry.host()
        )
    };
    let app = AppDir::with_manifest(
        &app_manifest(&dependency("skiff-test:greeter/greet", &source("^0.1")))[HEAD.len()..],
    )?;
    let cwd = tempdir()?;
    let server = env.serve(&app.path().to_string_lossy(), &[], cwd.path())?;
    assert_eq!(text(&server, "/?name=Ann").await?, "Hello, Ann!\n");
    drop(server);

    // `^0.2` finds 0.2.0, which exports nothing the component imports.
    replace_file(
        &app.manifest(),
        &app_manifest(&dependency("skiff-test:greeter/greet", &source("^0.2"))),
    )?;
    let out = up_fails(app.path(), env.cache.path(), |cmd| {
        cmd.env("DOCKER_CONFIG", env.docker.path());
    })?;
    out.assert_stderr_contains("has no export `skiff-test:greeter/greet@0.1.0`");
    replace_file(
        &app.manifest(),
        &app_manifest(&dependency("skiff-test:greeter/greet", &source("^0.3"))),
    )?;
    let out = up_fails(app.path(), env.cache.path(), |cmd| {
        cmd.env("DOCKER_CONFIG", env.docker.path());
    })?;
    out.assert_stderr_contains("has no version that satisfies `^0.3`")
        .assert_stderr_contains("0.1.0, 0.2.0");

    // Pushed composed: served from the registry alone.
    replace_file(
        &app.manifest(),
        &app_manifest(&dependency("skiff-test:greeter/greet", &source("0.1.0"))),
    )?;
    let reference = registry.reference("apps/greeting:v1");
    let out = env.skiff(&[
        "push",
        &reference,
        &app.path().to_string_lossy(),
        "--insecure",
    ])?;
    out.assert_code(0);
    field(&out, "Digest")?;
    let fresh = Env::new()?;
    let server = fresh.serve(&reference, &["--insecure"], cwd.path())?;
    assert_eq!(text(&server, "/?name=Cy").await?, "Hello, Cy!\n");
    assert_eq!(
        probe(&server).await?.lines().next(),
        Some("env: none"),
        "still without the component's configuration"
    );
    Ok(())
}

/// With `--watch`, a change to a dependency's file reloads the app: a
/// dependency that no longer exports the import is reported and the
/// version serving stays.
#[tokio::test(flavor = "multi_thread")]
async fn watch_reloads_when_a_dependency_changes() -> Result<()> {
    let app = AppDir::new()?;
    let dep = app.path().join("greeter.wasm");
    std::fs::copy(DEPS_GREETER_COMPONENT, &dep)?;
    app.write(
        "skiff.toml",
        app_manifest(&dependency(
            "skiff-test:greeter/greet",
            "path = \"greeter.wasm\"",
        )),
    )?;
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--watch");
    })?;
    assert_eq!(text(&server, "/?name=Ann").await?, "Hello, Ann!\n");
    let tmp = app.path().join("greeter.wasm.new");
    std::fs::copy(HTTP_HELLO_COMPONENT, &tmp)?;
    std::fs::rename(&tmp, &dep)?;
    server
        .stderr()
        .wait_for("has no export `skiff-test:greeter/greet@0.1.0`", BOUND)?;
    assert_eq!(text(&server, "/?name=Bo").await?, "Hello, Bo!\n");
    Ok(())
}

/// `skiff up` fails before serving, with `needle` in its error.
fn fails_with(app: &Path, needle: &str) -> Result<()> {
    up_fails(app, shared_cache()?, |_| {})?.assert_stderr_contains(needle);
    Ok(())
}

/// Errors name the dependency's manifest key and say what to fix.
#[test]
fn dependency_errors_name_the_key() -> Result<()> {
    let key = "`component.app.dependencies.\"skiff-test:other/greet\"`";
    for (deps, needles) in [
        (
            dependency("skiff-test:other/greet", &greeter_path()),
            vec![
                key,
                "has no import that dependency `skiff-test:other/greet` names",
                "`skiff-test:greeter/greet@0.1.0`",
            ],
        ),
        (
            dependency(
                "skiff-test:greeter/greet",
                &format!(
                    "{}, export = \"skiff-test:greeter/nope@0.1.0\"",
                    greeter_path()
                ),
            ),
            vec![
                "has no export `skiff-test:greeter/nope@0.1.0`",
                "it exports",
            ],
        ),
        (
            dependency(
                "skiff-test:greeter/greet",
                &format!(
                    "{}, export = \"skiff-test:greeter/broken@0.1.0\"",
                    greeter_path()
                ),
            ),
            vec!["export `skiff-test:greeter/broken@0.1.0` does not fit"],
        ),
        (
            format!(
                "{}\"skiff-test:greeter\" = {{ {} }}\n",
                dependency("skiff-test:greeter/greet", &greeter_path()),
                greeter_path()
            ),
            vec!["is named by two dependencies"],
        ),
        (
            dependency("skiff-test:greeter/greet", "path = \"missing.wasm\""),
            vec![
                "`component.app.dependencies.\"skiff-test:greeter/greet\".path`",
                "dependency file",
                "missing.wasm does not exist",
            ],
        ),
    ] {
        let app = AppDir::with_manifest(&app_manifest(&deps)[HEAD.len()..])?;
        let out = up_fails(app.path(), shared_cache()?, |_| {})?;
        for needle in needles {
            out.assert_stderr_contains(needle);
        }
    }

    let dir = AppDir::new()?;
    for (deps, needle) in [
        (
            dependency(
                "skiff-test:greeter/greet",
                "path = \"a.wasm\", url = \"https://x\"",
            ),
            "gives `path` and `url`",
        ),
        (
            dependency(
                "skiff-test:greeter/greet",
                "url = \"https://x/a.wasm\", digest = \"abc\"",
            ),
            "expected `sha256:` and 64 lowercase hex digits",
        ),
        (
            dependency("skiff-test:greeter/greet", "version = \"0.1.0\""),
            "the dependency names no registry",
        ),
        (
            dependency(
                "skiff-test:greeter/greet",
                "path = \"a.wasm\", inherit_configuration = [\"allowed_outbound_hosts\"]",
            ),
            "inherits all of its component's configuration or none of it",
        ),
        (
            dependency("skiff-test:greeter/greet", "component = \"greter\""),
            "the manifest defines no component `greter`",
        ),
        (
            dependency("Greeter_x", "path = \"a.wasm\""),
            "is not an import name",
        ),
        (
            dependency("skiff-test:greeter/greet", "pth = \"a.wasm\""),
            "says nowhere to find it",
        ),
    ] {
        dir.write("skiff.toml", app_manifest(&deps))?;
        fails_with(dir.path(), needle).with_context(|| deps.clone())?;
    }
    Ok(())
}
