//! OCI distribution against a real registry (`docker-registry`, see
//! `oci_registry`): `skiff push`/`pull`/`up REF`/`registry login`, the
//! artifact formats, integrity checks, and interop with `wkg` both ways.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sha2::{Digest, Sha256};
use test_programs_artifacts::{HTTP_FILES_COMPONENT, HTTP_HELLO_COMPONENT, VARS_WASI_COMPONENT};

use crate::harness::{
    AppDir, Finished, Response, Server, empty, finish, get, send, skiff_command, tempdir, toml_path,
};
use crate::oci_registry::{OciRegistry, wkg};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A sandbox for one test: its own Skiff cache and Docker config directory.
pub(crate) struct Env {
    pub(crate) cache: tempfile::TempDir,
    pub(crate) docker: tempfile::TempDir,
}

impl Env {
    pub(crate) fn new() -> Result<Self> {
        Ok(Env {
            cache: tempdir()?,
            docker: tempdir()?,
        })
    }

    pub(crate) fn command(&self) -> Command {
        let mut cmd = skiff_command(self.cache.path());
        cmd.env("DOCKER_CONFIG", self.docker.path());
        cmd
    }

    /// `skiff ARGS…` run to completion.
    pub(crate) fn skiff(&self, args: &[&str]) -> Result<Finished> {
        finish(self.command().args(args))
    }

    /// `skiff up …` serving; `args` follow `up` (a reference, flags).
    pub(crate) fn serve(&self, app: &str, extra: &[&str], cwd: &Path) -> Result<Server> {
        let docker = self.docker.path().to_path_buf();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let cwd = cwd.to_path_buf();
        Server::start_with(Path::new(app), self.cache.path(), move |cmd| {
            cmd.env("DOCKER_CONFIG", docker)
                .args(extra)
                .current_dir(cwd);
        })
    }

    fn oci(&self) -> PathBuf {
        self.cache.path().join("oci")
    }
}

/// The value after `Label: ` on a line of `out`.
pub(crate) fn field(out: &Finished, label: &str) -> Result<String> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{label}: ")))
        .map(str::to_string)
        .with_context(|| {
            format!(
                "no `{label}:` line in stdout:\n{}\nstderr:\n{}",
                out.stdout, out.stderr
            )
        })
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// GET a registry API path (`/v2/…`) as JSON.
async fn registry_json(
    registry: &OciRegistry,
    path: &str,
) -> Result<(Response, serde_json::Value)> {
    let req = http::Request::get(format!("http://{}{path}", registry.host()))
        .header("accept", OCI_MANIFEST)
        .body(empty())?;
    let resp = send(req).await?;
    resp.assert_status(200);
    let json = resp.json()?;
    Ok((resp, json))
}

pub(crate) fn push_ok(env: &Env, reference: &str, path: &str) -> Result<String> {
    let out = env.skiff(&["push", reference, path, "--insecure"])?;
    out.assert_code(0)
        .assert_stdout_contains(&format!("Pushed {reference}"));
    field(&out, "Digest")
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_component_push_pull_round_trip() -> Result<()> {
    let registry = OciRegistry::start()?;
    let env = Env::new()?;
    let reference = registry.reference("hello:v1");
    let digest = push_ok(&env, &reference, HTTP_HELLO_COMPONENT)?;
    let wasm = std::fs::read(HTTP_HELLO_COMPONENT)?;

    // The CNCF TAG-Runtime Wasm artifact.
    let (resp, manifest) = registry_json(&registry, "/v2/hello/manifests/v1").await?;
    ensure!(
        sha256(&resp.body) == digest,
        "the printed digest is not the manifest's"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().context("layers")?;
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(layers[0]["digest"], sha256(&wasm));
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .context("config digest")?;
    let (_, config) = registry_json(&registry, &format!("/v2/hello/blobs/{config_digest}")).await?;
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"], serde_json::json!([sha256(&wasm)]));
    let exports = config["component"]["exports"].to_string();
    ensure!(
        exports.contains("wasi:http/incoming-handler@0.2"),
        "exports: {exports}"
    );

    // Pull by tag: the cached blob is the component, byte for byte.
    let out = env.skiff(&["pull", &reference, "--insecure"])?;
    out.assert_code(0);
    assert_eq!(field(&out, "Digest")?, digest);
    let blob = PathBuf::from(field(&out, "Component")?);
    ensure!(
        blob.starts_with(env.oci()),
        "blob outside the cache: {}",
        blob.display()
    );
    ensure!(
        std::fs::read(&blob)? == wasm,
        "the pulled component differs"
    );
    let dir = PathBuf::from(field(&out, "Path")?);
    ensure!(
        dir.join("skiff.toml").is_file(),
        "no skiff.toml in {}",
        dir.display()
    );

    // Pull by digest, from a fresh cache.
    let fresh = Env::new()?;
    let by_digest = format!("{}/hello@{digest}", registry.host());
    let out = fresh.skiff(&["pull", &by_digest, "--insecure"])?;
    out.assert_code(0);
    assert_eq!(field(&out, "Digest")?, digest);
    ensure!(std::fs::read(field(&out, "Component")?)? == wasm);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_up_serves_a_component_by_tag_and_by_digest() -> Result<()> {
    let registry = OciRegistry::start()?;
    let env = Env::new()?;
    let reference = registry.reference("apps/hello:v1");
    let digest = push_ok(&env, &reference, HTTP_HELLO_COMPONENT)?;
    let cwd = tempdir()?;

    // `skiff up REF`: pulled, compiled, served on `/...`.
    {
        let server = env.serve(&reference, &["--insecure"], cwd.path())?;
        let resp = get(&server.url("/any/path")).await?;
        resp.assert_status(200);
        assert_eq!(resp.text(), "Hello from Skiff!\n");
        server
            .stderr()
            .wait_for("loaded compiled", Duration::from_secs(10))?;
    }

    // With the registry gone, everything comes from the cache: `skiff up --from
    // REF@digest` downloads nothing (and the AOT cache has the code), and a tag
    // falls back to the cache's index, with a warning.
    let by_digest = format!("{}/apps/hello@{digest}", registry.host());
    drop(registry);
    let out = env.skiff(&["pull", &reference, "--insecure"])?;
    out.assert_code(0).assert_stderr_contains("is unreachable");
    assert_eq!(field(&out, "Digest")?, digest);
    let server = env.serve(".", &["--from", &by_digest, "--insecure"], cwd.path())?;
    get(&server.url("/")).await?.assert_status(200);
    server.stderr().wait_for(
        "component `hello` loaded from AOT cache",
        Duration::from_secs(10),
    )?;
    Ok(())
}

fn shop_app() -> Result<AppDir> {
    let app = AppDir::new()?;
    app.write("assets/a.txt", "hello asset\n")?;
    app.write("assets/b.txt", "bee\n")?;
    for i in 0..20 {
        app.write(&format!("site/p{i}.html"), format!("page {i}\n"))?;
    }
    app.write("site/css/main.css", "body{}\n")?;
    app.write(
        "skiff.toml",
        format!(
            r#"skiff_manifest_version = 1
[application]
name = "shop"
version = "1.2.3"
description = "a test shop"
authors = ["Ann <ann@example.com>"]

[variables]
greeting = {{ default = "hi" }}
api_key = {{ required = true, secret = true }}

[[trigger.http]]
route = "/glob/..."
component = "glob"
[[trigger.http]]
route = "/site/..."
component = "site"
[[trigger.http]]
route = "/vars"
component = "vars"

[component.glob]
source = {files}
files = ["assets/*.txt"]

[component.site]
source = {files}
files = [{{ source = "site", destination = "/www" }}]

[component.vars]
source = {vars}
variables = {{ greeting = "{{{{ greeting }}}}", key = "{{{{ api_key }}}}" }}
[component.vars.limits]
timeout = "7s"
"#,
            files = toml_path(HTTP_FILES_COMPONENT),
            vars = toml_path(VARS_WASI_COMPONENT),
        ),
    )?;
    Ok(app)
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_app_with_files_and_variables_round_trips_and_serves() -> Result<()> {
    let registry = OciRegistry::start()?;
    let env = Env::new()?;
    let app = shop_app()?;
    let reference = registry.reference("shop:1.2.3");
    let digest = push_ok(&env, &reference, &app.path().display().to_string())?;

    // The app artifact: manifest layer, one layer per distinct component, a layer
    // per file of `glob`, one tar for the 21 files of `site`; annotations.
    let (_, manifest) = registry_json(&registry, "/v2/shop/manifests/1.2.3").await?;
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.skiff.app.config.v1+json"
    );
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .context("layers")?
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        [
            "application/vnd.skiff.app.manifest.v1+toml",
            "application/wasm",
            "application/vnd.wasm.content.layer.v1+data",
            "application/vnd.wasm.content.layer.v1+data",
            "application/vnd.skiff.files.v1.tar",
            "application/wasm",
        ],
        "{manifest}"
    );
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.title"], "shop");
    assert_eq!(annotations["org.opencontainers.image.version"], "1.2.3");
    assert_eq!(
        annotations["org.opencontainers.image.authors"],
        "Ann <ann@example.com>"
    );
    assert_eq!(
        annotations["org.opencontainers.image.description"],
        "a test shop"
    );
    ensure!(
        annotations["org.opencontainers.image.created"].is_string(),
        "{annotations}"
    );
    let manifest_layer = manifest["layers"][0]["digest"].as_str().context("digest")?;
    let toml_resp = send(
        http::Request::get(format!(
            "http://{}/v2/shop/blobs/{manifest_layer}",
            registry.host()
        ))
        .body(empty())?,
    )
    .await?;
    let app_toml = toml_resp.text();
    ensure!(
        app_toml.contains("source = \"sha256:"),
        "sources not digests:\n{app_toml}"
    );
    ensure!(
        !app_toml.contains(&app.path().display().to_string()),
        "a local path leaked:\n{app_toml}"
    );
    let parsed: toml::Table = toml::from_str(&app_toml)?;
    let api_key = &parsed["variables"]["api_key"];
    ensure!(
        api_key.get("default").is_none(),
        "api_key got a value:\n{app_toml}"
    );
    assert_eq!(api_key["required"].as_bool(), Some(true));
    assert_eq!(
        parsed["variables"]["greeting"]["default"].as_str(),
        Some("hi")
    );
    assert_eq!(
        parsed["component"]["vars"]["limits"]["timeout"].as_str(),
        Some("7000000000ns")
    );

    // Pull by digest into a fresh cache: the materialized app loads as is.
    let by_digest = format!("{}/shop@{digest}", registry.host());
    let out = env.skiff(&["pull", &by_digest, "--insecure"])?;
    out.assert_code(0);
    let dir = PathBuf::from(field(&out, "Path")?);
    ensure!(dir.starts_with(env.oci()), "app dir outside the cache");

    // The variable without a default stays unresolved: serving needs it.
    let cwd = tempdir()?;
    let mut cmd = env.command();
    cmd.args(["up", &reference, "--insecure", "--listen", "127.0.0.1:0"])
        .current_dir(cwd.path());
    let out = finish(&mut cmd)?;
    ensure!(
        !out.status.success(),
        "served without api_key:\n{}",
        out.stdout
    );
    out.assert_stderr_contains("api_key");

    let docker = env.docker.path().to_path_buf();
    let server = Server::start_with(Path::new(&reference), env.cache.path(), |cmd| {
        cmd.env("DOCKER_CONFIG", docker)
            .env("SKIFF_VARIABLE_API_KEY", "s3cret")
            .arg("--insecure")
            .current_dir(cwd.path());
    })?;
    let check = |resp: Response, body: &str| {
        resp.assert_status(200);
        assert_eq!(resp.text(), body);
    };
    check(
        get(&server.url("/glob/?path=/assets/a.txt")).await?,
        "hello asset\n",
    );
    check(
        get(&server.url("/site/?path=/www/p7.html")).await?,
        "page 7\n",
    );
    check(
        get(&server.url("/site/?path=/www/css/main.css")).await?,
        "body{}\n",
    );
    check(get(&server.url("/vars?name=greeting")).await?, "hi");
    check(get(&server.url("/vars?name=key")).await?, "s3cret");
    // State (here: the staged single-file mounts) goes to ./.skiff, not into the cache.
    ensure!(
        cwd.path().join(".skiff").is_dir(),
        "state not under ./.skiff"
    );
    ensure!(!dir.join(".skiff").exists(), "state written into the cache");
    Ok(())
}

/// `skiff registry login` with the password on stdin.
pub(crate) fn login(env: &Env, host: &str, user: &str, password: &str) -> Result<Finished> {
    let mut child = env
        .command()
        .args([
            "registry",
            "login",
            host,
            "--username",
            user,
            "--password-stdin",
            "--insecure",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(
        &mut child.stdin.take().context("stdin")?,
        format!("{password}\n").as_bytes(),
    )?;
    let start = std::time::Instant::now();
    let out = child.wait_with_output()?;
    Ok(Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    })
}

/// `skiff registry login` with a wrong `password` fails, naming the registry,
/// never showing the password, and writes no Docker config.
pub(crate) fn login_is_refused(env: &Env, host: &str, user: &str, password: &str) -> Result<()> {
    let out = login(env, host, user, password)?;
    out.assert_code(1)
        .assert_stderr_contains(&format!("login to registry `{host}` failed"))
        .assert_stderr_contains("wrong or missing credentials");
    ensure!(!out.stderr.contains(password), "password in the error");
    let config = env.docker.path().join("config.json");
    ensure!(
        !config.exists(),
        "a failed login wrote {}",
        config.display()
    );
    Ok(())
}

#[test]
fn oci_basic_auth_login_push_pull_logout() -> Result<()> {
    let registry = OciRegistry::start_with_auth("skiffy", "correct-horse")?;
    let host = registry.host();
    let env = Env::new()?;
    let reference = registry.reference("private/hello:v1");

    // No credentials: refused, clearly.
    let out = env.skiff(&["push", &reference, HTTP_HELLO_COMPONENT, "--insecure"])?;
    out.assert_code(1)
        .assert_stderr_contains(&format!("registry `{host}` refused access"));

    // Wrong password: login fails and stores nothing; the password is never shown.
    login_is_refused(&env, &host, "skiffy", "battery-staple")?;
    let config = env.docker.path().join("config.json");

    // Right password: stored in Docker's format, then used by push and pull.
    login(&env, &host, "skiffy", "correct-horse")?.assert_code(0);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&config)?)?;
    assert_eq!(json["auths"][&host]["auth"], "c2tpZmZ5OmNvcnJlY3QtaG9yc2U="); // skiffy:correct-horse
    let digest = push_ok(&env, &reference, HTTP_HELLO_COMPONENT)?;
    let out = env.skiff(&["pull", &reference, "--insecure"])?;
    out.assert_code(0);
    assert_eq!(field(&out, "Digest")?, digest);

    // Credentials written by someone else (docker login) are read too.
    let other = Env::new()?;
    std::fs::write(
        other.docker.path().join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"c2tpZmZ5OmNvcnJlY3QtaG9yc2U="}}}}}}"#),
    )?;
    other
        .skiff(&["pull", &reference, "--insecure"])?
        .assert_code(0);

    // Logged out: pulls are refused again.
    env.skiff(&["registry", "logout", &host])?
        .assert_code(0)
        .assert_stdout_contains("Removed");
    let fresh = Env::new()?;
    std::fs::copy(&config, fresh.docker.path().join("config.json"))?;
    fresh
        .skiff(&["pull", &reference, "--insecure"])?
        .assert_code(1)
        .assert_stderr_contains("wrong or missing credentials");
    Ok(())
}

/// Every file below `dir`.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_below(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn oci_tampered_blob_is_refused_and_nothing_is_cached() -> Result<()> {
    let registry = OciRegistry::start()?;
    let env = Env::new()?;
    let reference = registry.reference("tamper:v1");
    push_ok(&env, &reference, HTTP_HELLO_COMPONENT)?;
    let wasm = std::fs::read(HTTP_HELLO_COMPONENT)?;
    let layer = sha256(&wasm);

    // Flip bytes in the middle of the layer on the registry's disk (same length).
    let file = registry.blob_file(&layer);
    let mut data = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&file, &data)?;

    let fresh = Env::new()?;
    let out = fresh.skiff(&["pull", &reference, "--insecure"])?;
    out.assert_code(1)
        .assert_stderr_contains(&format!("digest mismatch for `{reference}`"))
        .assert_stderr_contains(&layer);
    let cached = files_below(&fresh.oci());
    ensure!(
        cached.is_empty(),
        "a failed pull left files in the cache: {cached:?}"
    );

    // `skiff up REF` refuses it the same way and serves nothing.
    let cwd = tempdir()?;
    let mut cmd = fresh.command();
    cmd.args(["up", &reference, "--insecure", "--listen", "127.0.0.1:0"])
        .current_dir(cwd.path());
    let out = finish(&mut cmd)?;
    ensure!(
        !out.status.success() && !out.stdout.contains("Serving"),
        "{out:?}"
    );
    out.assert_stderr_contains("digest mismatch");

    // A manifest edited on the registry's disk (still valid JSON) is refused by
    // tag (against the registry's digest header) and by digest.
    let reference = registry.reference("tamper-manifest:v1");
    let digest = push_ok(&env, &reference, HTTP_HELLO_COMPONENT)?;
    let file = registry.blob_file(&digest);
    let text = std::fs::read_to_string(&file)?;
    ensure!(
        text.contains("\"http_hello\""),
        "no title annotation in {text}"
    );
    std::fs::write(&file, text.replace("\"http_hello\"", "\"http_hellp\""))?;
    let by_digest = format!("{}/tamper-manifest@{digest}", registry.host());
    for r in [&reference, &by_digest] {
        let fresh = Env::new()?;
        let out = fresh.skiff(&["pull", r, "--insecure"])?;
        out.assert_code(1)
            .assert_stderr_contains(&format!("digest mismatch for `{r}`"))
            .assert_stderr_contains(&digest);
        let cached = files_below(&fresh.oci());
        ensure!(
            cached.is_empty(),
            "a failed pull left files in the cache: {cached:?}"
        );
    }
    Ok(())
}

#[test]
fn oci_unknown_tag_is_a_clear_error() -> Result<()> {
    let registry = OciRegistry::start()?;
    let env = Env::new()?;
    push_ok(&env, &registry.reference("hello:v1"), HTTP_HELLO_COMPONENT)?;
    let missing = registry.reference("hello:v9");
    env.skiff(&["pull", &missing, "--insecure"])?
        .assert_code(1)
        .assert_stderr_contains(&format!(
            "`{missing}` was not found in registry `{}`",
            registry.host()
        ));
    let never = registry.reference("nothing-here:v1");
    env.skiff(&["pull", &never, "--insecure"])?
        .assert_code(1)
        .assert_stderr_contains("was not found");
    env.skiff(&["pull", "127.0.0.1:1/Bad_Ref", "--insecure"])?
        .assert_code(1)
        .assert_stderr_contains("invalid registry reference `127.0.0.1:1/Bad_Ref`");
    Ok(())
}

#[test]
fn oci_wkg_pulls_what_skiff_pushes_byte_identical() -> Result<()> {
    let wkg = wkg()?;
    let registry = OciRegistry::start()?;
    let env = Env::new()?;
    let reference = registry.reference("interop/hello:v1");
    push_ok(&env, &reference, HTTP_HELLO_COMPONENT)?;
    let out_dir = tempdir()?;
    let out_file = out_dir.path().join("pulled.wasm");
    let out = finish(
        Command::new(wkg)
            .args([
                "oci",
                "pull",
                "--insecure",
                &registry.host(),
                &reference,
                "-o",
            ])
            .arg(&out_file)
            .env("DOCKER_CONFIG", env.docker.path())
            .stdin(Stdio::null()),
    )?;
    out.assert_code(0);
    ensure!(
        std::fs::read(&out_file)? == std::fs::read(HTTP_HELLO_COMPONENT)?,
        "wkg pulled different bytes"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_skiff_serves_what_wkg_pushes() -> Result<()> {
    let wkg = wkg()?;
    let registry = OciRegistry::start()?;
    let env = Env::new()?;
    let reference = registry.reference("interop/wkg-hello:v1");
    let out = finish(
        Command::new(wkg)
            .args([
                "oci",
                "push",
                "--insecure",
                &registry.host(),
                &reference,
                HTTP_HELLO_COMPONENT,
            ])
            .env("DOCKER_CONFIG", env.docker.path())
            .stdin(Stdio::null()),
    )?;
    out.assert_code(0);
    let cwd = tempdir()?;
    let server = env.serve(&reference, &["--insecure"], cwd.path())?;
    let resp = get(&server.url("/")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "Hello from Skiff!\n");
    Ok(())
}
