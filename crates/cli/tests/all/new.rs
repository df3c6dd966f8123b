//! `skiff new` and `skiff add`: every template makes a project that builds
//! and runs the way the command's `Next:` line says, a component added to an
//! app serves beside the first, and bad names, templates, directories and
//! manifests are refused with nothing written.
//!
//! The projects are real Rust crates compiled for `wasm32-wasip2` by `cargo`
//! (their one dependency, `wasip2`, is the one `examples/hello` uses).

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, ensure};

use crate::examples::{BUILD_BOUND, CARGO_ENV};
use crate::harness::{Finished, Server, finish_within, get, skiff_command, tempdir};

/// How long `skiff new` or a `skiff run` may take.
const BOUND: Duration = Duration::from_secs(60);

/// `skiff ARGS…` run in `cwd`.
fn skiff(cwd: &Path, args: &[&str], bound: Duration) -> Result<Finished> {
    let cache = tempdir()?;
    let mut cmd = skiff_command(cache.path());
    cmd.current_dir(cwd).args(args);
    for var in CARGO_ENV {
        cmd.env_remove(var);
    }
    finish_within(&mut cmd, bound)
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir)?.display().to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn http_rust_app_builds_and_serves() -> Result<()> {
    let root = tempdir()?;
    let out = skiff(root.path(), &["new", "my-api"], BOUND)?;
    ensure!(out.status.success(), "skiff new failed: {}", out.stderr);
    assert!(
        out.stdout
            .contains("Created `my-api` from template `http-rust` in my-api"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Next: skiff up my-api --build"),
        "{}",
        out.stdout
    );
    let app = root.path().join("my-api");
    assert_eq!(
        files(&app)?,
        [".gitignore", "Cargo.toml", "skiff.toml", "src/lib.rs"]
    );
    // A second component, added from inside the app.
    let added = skiff(&app, &["add", "users-api"], BOUND)?;
    ensure!(added.status.success(), "skiff add failed: {}", added.stderr);
    assert!(
        added
            .stdout
            .contains("Added component `users-api` (template `http-rust`) in ")
            && added.stdout.contains("serving `/users-api/...`")
            && added.stdout.contains("Next: skiff up . --build"),
        "{}",
        added.stdout
    );
    assert_eq!(
        files(&app.join("users-api"))?,
        [".gitignore", "Cargo.toml", "src/lib.rs"]
    );

    // The next step, as printed (`skiff up DIR --build`): the strict
    // manifest loads, the build command builds, the component serves.
    let built = skiff(root.path(), &["build", "my-api"], BUILD_BOUND)?;
    ensure!(
        built.status.success(),
        "skiff build failed:\n{}",
        built.stderr
    );
    assert!(
        app.join("target/wasm32-wasip2/release/my_api.wasm")
            .is_file()
    );
    assert!(
        app.join("users-api/target/wasm32-wasip2/release/users_api.wasm")
            .is_file()
    );
    let cache = tempdir()?;
    let server = Server::start_with(&app, cache.path(), |_| {})?;
    let resp = get(&server.url("/orders/7?full=1")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "Hello from my-api! (GET /orders/7?full=1)\n");
    let resp = get(&server.url("/users-api/7")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "Hello from users-api! (GET /users-api/7)\n");
    assert_eq!(resp.headers["content-type"], "text/plain; charset=utf-8");
    Ok(())
}

#[test]
fn command_rust_builds_and_runs() -> Result<()> {
    let root = tempdir()?;
    let dir = root.path().join("tools").join("hello tool");
    let out = skiff(
        root.path(),
        &[
            "new",
            "--template",
            "command-rust",
            "my-tool",
            "--dir",
            dir.to_str().unwrap(),
        ],
        BOUND,
    )?;
    ensure!(out.status.success(), "skiff new failed: {}", out.stderr);
    // A directory with a space is quoted in the next step.
    assert!(
        out.stdout.contains(&format!(
            "Next: cd '{}' && cargo build --target wasm32-wasip2 --release && \
             skiff run target/wasm32-wasip2/release/my-tool.wasm -- you",
            dir.display()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(files(&dir)?, [".gitignore", "Cargo.toml", "src/main.rs"]);

    let mut cargo = std::process::Command::new("cargo");
    cargo
        .current_dir(&dir)
        .args(["build", "--target", "wasm32-wasip2", "--release"])
        .env_remove("CARGO_TARGET_DIR");
    for var in CARGO_ENV {
        cargo.env_remove(var);
    }
    let built = finish_within(&mut cargo, BUILD_BOUND)?;
    ensure!(
        built.status.success(),
        "cargo build failed:\n{}",
        built.stderr
    );

    let ran = skiff(
        &dir,
        &[
            "run",
            "--env",
            "GREETING=hi",
            "target/wasm32-wasip2/release/my-tool.wasm",
            "--",
            "you",
        ],
        BOUND,
    )?;
    ensure!(ran.status.success(), "skiff run failed: {}", ran.stderr);
    assert_eq!(
        ran.stdout,
        "Hello, you, from my-tool!\nGREETING is \"hi\"\n"
    );
    // Nothing is granted by default: no variables.
    let ran = skiff(
        &dir,
        &["run", "target/wasm32-wasip2/release/my-tool.wasm"],
        BOUND,
    )?;
    assert_eq!(
        ran.stdout,
        "Hello, world, from my-tool!\nGREETING is not set (pass `--env GREETING=…`)\n"
    );
    Ok(())
}

#[test]
fn bad_names_templates_and_directories_are_refused_with_nothing_written() -> Result<()> {
    let root = tempdir()?;
    let refused = |args: &[&str], needle: &str| -> Result<()> {
        let out = skiff(root.path(), args, BOUND)?;
        ensure!(!out.status.success(), "{args:?} succeeded: {}", out.stdout);
        ensure!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        Ok(())
    };
    refused(
        &["new", "My App"],
        "`My App` cannot name an app: it is its component's id and its crate's name, so it \
         must be kebab-case",
    )?;
    refused(&["new", "My_App"], "try `my-app`")?;
    refused(
        &["new", "-t", "http-go", "api"],
        "no template `http-go`; the templates are `http-rust`, `command-rust` \
         (`skiff new --list`)",
    )?;
    assert!(files(root.path())?.is_empty(), "nothing was written");

    // An existing directory with something in it is left alone.
    std::fs::create_dir(root.path().join("api"))?;
    std::fs::write(root.path().join("api/notes.txt"), "mine")?;
    refused(
        &["new", "api"],
        "`api` already exists and is not empty; nothing was written",
    )?;
    assert_eq!(files(root.path())?, ["api/notes.txt"]);
    std::fs::write(root.path().join("file"), "")?;
    refused(
        &["new", "api", "--dir", "file"],
        "`file` already exists and is a file",
    )?;
    // An empty one is fine.
    std::fs::create_dir(root.path().join("empty"))?;
    let out = skiff(root.path(), &["new", "api", "--dir", "empty"], BOUND)?;
    ensure!(out.status.success(), "{}", out.stderr);
    assert!(root.path().join("empty/skiff.toml").is_file());

    // `skiff add` changes nothing unless the manifest loads with the
    // component: a taken id, a taken route, a command template.
    let app = root.path().join("empty");
    let manifest = std::fs::read(app.join("skiff.toml"))?;
    let refused_in_app = |args: &[&str], needle: &str| -> Result<()> {
        let out = skiff(&app, args, BOUND)?;
        ensure!(!out.status.success(), "{args:?} succeeded: {}", out.stdout);
        ensure!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        ensure!(std::fs::read(app.join("skiff.toml"))? == manifest);
        ensure!(
            files(&app)? == [".gitignore", "Cargo.toml", "skiff.toml", "src/lib.rs"],
            "{args:?} left files behind"
        );
        Ok(())
    };
    refused_in_app(&["add", "api"], "already has a component `api`")?;
    refused_in_app(
        &["add", "web", "--route", "/..."],
        "would not load with component `web` at route `/...`; nothing was changed",
    )?;
    refused_in_app(
        &["add", "-t", "command-rust", "tool"],
        "template `command-rust` makes a command, not an app component",
    )?;
    refused_in_app(&["add", "Web"], "try `web`")?;

    let out = skiff(root.path(), &["new", "--list"], BOUND)?;
    ensure!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.starts_with("http-rust "), "{}", out.stdout);
    assert!(out.stdout.contains("\ncommand-rust "), "{}", out.stdout);
    Ok(())
}
