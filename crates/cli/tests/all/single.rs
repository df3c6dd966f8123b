//! `skiff up app.wasm`: a Wasm file served without a manifest, as
//! `wasmtime serve app.wasm` and `spin up --from app.wasm` do: the
//! component at `/...`, named after the file, granted nothing; `-e`,
//! `--from` and `--watch` work on it as on an app.

use anyhow::Result;
use test_programs_artifacts::{CLI_ECHO_COMPONENT, HTTP_ECHO_COMPONENT, HTTP_HELLO_COMPONENT};

use crate::harness::{BOUND, Server, get, install, shared_cache, tempdir, up_fails};

/// A component file is an app of one component: every path reaches it, the
/// banner names it after the file, `-e` reaches it, and `--watch` reloads
/// it when the file is replaced.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_file_is_served_at_every_path() -> Result<()> {
    let dir = tempdir()?;
    let wasm = dir.path().join("My_Echo.wasm");
    install(HTTP_ECHO_COMPONENT, &wasm)?;
    let server = Server::start_with(&wasm, shared_cache()?, |cmd| {
        cmd.args(["--watch", "-e", "VERSION=one"]);
    })?;
    let banner = server.stdout().wait_for("-> my-echo", BOUND)?;
    assert!(banner.contains("/...  -> my-echo"), "{banner}");
    let resp = get(&server.url("/any/path?x=1")).await?;
    resp.assert_status(200);
    let json = resp.json()?;
    assert_eq!(json["env"]["VERSION"], "one", "{json}");
    assert_eq!(json["path_with_query"], "/any/path?x=1", "{json}");

    install(HTTP_HELLO_COMPONENT, &wasm)?;
    server.stdout().wait_for("Reloaded app `my-echo`", BOUND)?;
    let resp = get(&server.url("/")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "Hello from Skiff!\n");
    Ok(())
}

/// `--from` takes a local Wasm file too (Spin's `spin up --from app.wasm`).
#[tokio::test(flavor = "multi_thread")]
async fn from_takes_a_local_file() -> Result<()> {
    let dir = tempdir()?;
    let wasm = dir.path().join("hello.wasm");
    install(HTTP_HELLO_COMPONENT, &wasm)?;
    let here = tempdir()?;
    // PATH is `.` (the default), here an empty directory.
    let server = Server::start_with(std::path::Path::new("."), shared_cache()?, |cmd| {
        cmd.current_dir(here.path()).arg("--from").arg(&wasm);
    })?;
    let resp = get(&server.url("/")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "Hello from Skiff!\n");
    Ok(())
}

/// A file that is neither a manifest nor Wasm is refused naming both; a
/// command component is refused naming the interface it lacks.
#[test]
fn what_is_not_an_http_component_is_refused() -> Result<()> {
    let dir = tempdir()?;
    let junk = dir.path().join("picture.png");
    std::fs::write(&junk, [0x89, b'P', b'N', b'G', 0xff, 0xfe])?;
    let out = up_fails(&junk, shared_cache()?, |_| {})?;
    out.assert_stderr_contains(&format!(
        "{}: this file is neither a manifest (TOML text) nor a Wasm component or module",
        junk.canonicalize()?.display()
    ))
    .assert_stderr_contains("hint: pass a skiff.toml or spin.toml");

    let command = dir.path().join("echo.wasm");
    install(CLI_ECHO_COMPONENT, &command)?;
    let out = up_fails(&command, shared_cache()?, |_| {})?;
    out.assert_stderr_contains("component `echo`")
        .assert_stderr_contains("wasi:http/incoming-handler");
    Ok(())
}
