//! Where guests' stdout and stderr go under `skiff up`: every component's on
//! the console by default (`[ID stdout] line`); `--follow ID` shows only
//! those named, `--quiet` none; `--log-dir DIR` also writes each
//! component's lines to `DIR/ID_stdout.txt` and `DIR/ID_stderr.txt`, whatever
//! is followed, appending across starts unless `--truncate-logs`. A followed
//! id the app lacks and a log directory that cannot be made are errors that
//! name them.

use std::path::Path;

use anyhow::{Result, ensure};
use test_programs_artifacts::HTTP_ECHO_COMPONENT;

use crate::harness::{AppDir, BOUND, Server, get, shared_cache, skiff_in};
use crate::http::component;

/// `http_echo` as components `a` (at `/a/...`) and `b` (at `/b/...`); each
/// request prints `http_echo: GET PATH` on stdout and `http_echo stderr`.
fn app() -> Result<AppDir> {
    AppDir::with_manifest(
        &[
            component("/a/...", "a", HTTP_ECHO_COMPONENT, ""),
            component("/b/...", "b", HTTP_ECHO_COMPONENT, ""),
        ]
        .concat(),
    )
}

/// The lines of `dir/name` (none if it does not exist).
fn lines(dir: &Path, name: &str) -> Result<Vec<String>> {
    match std::fs::read_to_string(dir.join(name)) {
        Ok(text) => Ok(text.lines().map(str::to_string).collect()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(err.into()),
    }
}

async fn fetch(server: &Server, path: &str) -> Result<()> {
    get(&server.url(path)).await?.assert_status(200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_quiet_and_log_dir_choose_where_guest_output_goes() -> Result<()> {
    let app = app()?;
    let logs = app.path().join("logs");

    // `--follow a`: only `a` on the console; both in the files.
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.args(["--follow", "a", "--log-dir"]).arg(&logs);
    })?;
    fetch(&server, "/b/one").await?;
    fetch(&server, "/a/two").await?;
    // `a`'s stderr line is its last: once it is read, so is all before it.
    let console = tokio::task::block_in_place(|| {
        server
            .stderr()
            .wait_for("[a stderr] http_echo stderr", BOUND)
    })?;
    ensure!(
        console.contains("[a stdout] http_echo: GET /a/two"),
        "{console}"
    );
    ensure!(!console.contains("[b "), "`b` was not followed:\n{console}");
    assert_eq!(lines(&logs, "a_stdout.txt")?, ["http_echo: GET /a/two"]);
    assert_eq!(lines(&logs, "a_stderr.txt")?, ["http_echo stderr"]);
    assert_eq!(lines(&logs, "b_stdout.txt")?, ["http_echo: GET /b/one"]);
    assert_eq!(lines(&logs, "b_stderr.txt")?, ["http_echo stderr"]);
    drop(server);

    // `--quiet`: nothing on the console; the files grow.
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.args(["--quiet", "--log-dir"]).arg(&logs);
    })?;
    fetch(&server, "/a/three").await?;
    assert_eq!(
        lines(&logs, "a_stdout.txt")?,
        ["http_echo: GET /a/two", "http_echo: GET /a/three"]
    );
    fetch(&server, "/b/four").await?;
    assert_eq!(lines(&logs, "b_stdout.txt")?.len(), 2);
    drop(server);

    // `--truncate-logs`: the files start empty; no `--follow`: both shown.
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.args(["--truncate-logs", "--log-dir"]).arg(&logs);
    })?;
    fetch(&server, "/b/five").await?;
    fetch(&server, "/a/six").await?;
    let console = tokio::task::block_in_place(|| {
        server
            .stderr()
            .wait_for("[a stdout] http_echo: GET /a/six", BOUND)
    })?;
    ensure!(
        console.contains("[b stdout] http_echo: GET /b/five"),
        "{console}"
    );
    assert_eq!(lines(&logs, "a_stdout.txt")?, ["http_echo: GET /a/six"]);
    assert_eq!(lines(&logs, "b_stdout.txt")?, ["http_echo: GET /b/five"]);
    Ok(())
}

/// `--quiet` keeps guest output off the console entirely.
#[tokio::test(flavor = "multi_thread")]
async fn quiet_shows_no_guest_output() -> Result<()> {
    let app = app()?;
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--quiet");
    })?;
    fetch(&server, "/a/one").await?;
    fetch(&server, "/b/two").await?;
    // The guests wrote before they answered, so their lines, had they been
    // shown, would come before the host's own shutdown line.
    server.signal("TERM")?;
    let console = tokio::task::block_in_place(|| {
        server
            .stderr()
            .wait_for("shutting down: no longer accepting connections", BOUND)
    })?;
    ensure!(
        !console.contains("http_echo"),
        "guest output on the console under --quiet:\n{console}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_follow_ids_and_log_dirs_are_named() -> Result<()> {
    let app = app()?;
    let cache = shared_cache()?;
    let path = app.path().to_string_lossy().into_owned();
    let out = skiff_in(cache, ["up", &path, "--follow", "nope"], |_| {})?;
    ensure!(!out.status.success());
    ensure!(
        out.stderr.contains(
            "--follow nope: app `test` has no component `nope` (its components: `a`, `b`)"
        ),
        "{}",
        out.stderr
    );

    let file = app.write("not-a-dir", "")?;
    let out = skiff_in(
        cache,
        ["up", &path, "--log-dir", &file.to_string_lossy()],
        |_| {},
    )?;
    ensure!(!out.status.success());
    ensure!(
        out.stderr.contains(&format!(
            "cannot create the log directory `{}` (--log-dir)",
            file.display()
        )),
        "{}",
        out.stderr
    );
    Ok(())
}
