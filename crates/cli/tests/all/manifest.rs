//! Manifest errors as `skiff up` reports them: exit 1, nothing served, and an
//! error naming the file, line and key, with a hint where there is one; and a
//! listen address in use, which is reported before any component is loaded.

use std::time::Duration;

use anyhow::Result;
use test_programs_artifacts::{CLI_ECHO_COMPONENT, HTTP_ECHO_COMPONENT};

use crate::harness::{AppDir, Finished, finish_within, skiff_command, tempdir, toml_path};

/// `skiff up APP`, expected to fail before serving.
fn up_fails(app: &AppDir) -> Result<Finished> {
    up_fails_on(app, "127.0.0.1:0")
}

/// `skiff up APP --listen ADDR`, expected to fail before serving.
fn up_fails_on(app: &AppDir, listen: &str) -> Result<Finished> {
    let cache = tempdir()?;
    let mut cmd = skiff_command(cache.path());
    cmd.arg("up").arg(app.path()).args(["--listen", listen]);
    // Loading compiles components; a manifest that wrongly passed would serve forever.
    let out = finish_within(&mut cmd, Duration::from_secs(60))?;
    out.assert_code(1);
    assert!(
        !out.stdout.contains("Serving"),
        "served an invalid app:\n{}",
        out.stdout
    );
    Ok(out)
}

/// `FILE:LINE:`, the start of a located manifest error.
fn at(app: &AppDir, line: usize) -> String {
    format!("{}:{line}:", app.manifest().display())
}

/// A trigger for component `api` (lines 4–6) and its table (lines 7–8), whose source is a real component.
fn api() -> String {
    format!(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\n[component.api]\nsource = {}\n",
        toml_path(HTTP_ECHO_COMPONENT)
    )
}

#[test]
fn unknown_key_suggests_the_right_one() -> Result<()> {
    let app = AppDir::with_manifest(&format!(
        "{}allowed_outbound_host = [\"https://example.com\"]\n",
        api()
    ))?;
    let out = up_fails(&app)?;
    out.assert_stderr_contains(&format!(
        "{}1: `component.api.allowed_outbound_host`: unknown key `allowed_outbound_host`\n  hint: did you mean `allowed_outbound_hosts`?",
        at(&app, 9)
    ));
    Ok(())
}

#[test]
fn missing_source_file() -> Result<()> {
    let app = AppDir::with_manifest(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\n[component.api]\nsource = \"target/api.wasm\"\n",
    )?;
    let out = up_fails(&app)?;
    out.assert_stderr_contains(&at(&app, 8))
        .assert_stderr_contains("`component.api.source`: source file ")
        .assert_stderr_contains(&format!(
            "{} does not exist",
            app.path().join("target/api.wasm").display()
        ));
    Ok(())
}

#[test]
fn bad_route() -> Result<()> {
    let app = AppDir::with_manifest(&api().replace("route = \"/\"", "route = \"api\""))?;
    let out = up_fails(&app)?;
    out.assert_stderr_contains(&at(&app, 5))
        .assert_stderr_contains(
            "`trigger.http[0].route`: route `api` must start with `/`\n  hint: did you mean \"/api\"?",
        );
    Ok(())
}

#[test]
fn duplicate_route() -> Result<()> {
    let app = AppDir::with_manifest(&format!(
        "{}[[trigger.http]]\nroute = \"/\"\ncomponent = \"b\"\n[component.b]\nsource = {}\n",
        api(),
        toml_path(HTTP_ECHO_COMPONENT)
    ))?;
    let out = up_fails(&app)?;
    out.assert_stderr_contains(&at(&app, 10))
        .assert_stderr_contains("`trigger.http[1].route`: route `/` is used by component `api` (line 5) and component `b` (line 10)")
        .assert_stderr_contains("hint: each route can belong to one trigger only");
    Ok(())
}

#[test]
fn component_used_by_no_trigger() -> Result<()> {
    let app = AppDir::with_manifest(&format!(
        "{}[component.extra]\nsource = {}\n",
        api(),
        toml_path(HTTP_ECHO_COMPONENT)
    ))?;
    let out = up_fails(&app)?;
    out.assert_stderr_contains(&at(&app, 9))
        .assert_stderr_contains("`component.extra`: component `extra` is not used by any trigger")
        .assert_stderr_contains("hint: add a [[trigger.http]] with component = \"extra\"");
    Ok(())
}

#[test]
fn trigger_naming_no_component() -> Result<()> {
    let app = AppDir::with_manifest(&api().replace("component = \"api\"", "component = \"apx\""))?;
    let out = up_fails(&app)?;
    out.assert_stderr_contains(&at(&app, 6))
        .assert_stderr_contains(
            "`trigger.http[0].component`: no component `apx` (there is no [component.apx] table)\n  hint: did you mean `api`?",
        );
    Ok(())
}

#[test]
fn missing_manifest_version() -> Result<()> {
    let app = AppDir::new()?;
    app.write(
        "skiff.toml",
        format!("[application]\nname = \"test\"\n{}", api()),
    )?;
    let out = up_fails(&app)?;
    // A missing key has no line of its own: the error names the file and the key.
    out.assert_stderr_contains(&format!(
        "{}: `skiff_manifest_version`: missing `skiff_manifest_version = 1`\n  hint: add `skiff_manifest_version = 1` as the first line",
        app.manifest().display()
    ));
    Ok(())
}

/// An app routing `/` to component `cli`, a command that exports no HTTP handler.
fn not_a_handler() -> Result<AppDir> {
    AppDir::with_manifest(&format!(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"cli\"\n[component.cli]\nsource = {}\n",
        toml_path(CLI_ECHO_COMPONENT)
    ))
}

#[test]
fn component_without_incoming_handler() -> Result<()> {
    let out = up_fails(&not_a_handler()?)?;
    out.assert_stderr_contains("component `cli`")
        .assert_stderr_contains("wasi:http/incoming-handler");
    Ok(())
}

#[test]
fn listen_address_in_use_is_reported_before_loading() -> Result<()> {
    // The component would fail to load (it is not an HTTP handler); the taken
    // port must be reported first, since `skiff up` listens before it loads.
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let at = taken.local_addr()?.to_string();
    let out = up_fails_on(&not_a_handler()?, &at)?;
    out.assert_stderr_contains(&format!("could not listen on {at}"));
    assert!(
        !out.stderr.contains("incoming-handler"),
        "loaded the app before reporting the taken port:\n{}",
        out.stderr
    );
    Ok(())
}

/// An app whose component `api` is built by `command` into `out/api.wasm`.
fn built_by(command: &str) -> Result<AppDir> {
    AppDir::with_manifest(&format!(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\n[component.api]\nsource = \"out/api.wasm\"\n[component.api.build]\ncommand = {}\n",
        toml::Value::String(command.to_string())
    ))
}

/// `skiff build APP` with `CARGO_TARGET_DIR` and `CARGO_BUILD_TARGET_DIR` set,
/// as a user sharing one cargo target dir across projects has them.
fn build_with_shared_target_dir(app: &AppDir) -> Result<Finished> {
    let cache = tempdir()?;
    let shared = tempdir()?;
    let mut cmd = skiff_command(cache.path());
    cmd.arg("build")
        .arg(app.path())
        .env("CARGO_TARGET_DIR", shared.path())
        .env("CARGO_BUILD_TARGET_DIR", shared.path());
    finish_within(&mut cmd, Duration::from_secs(60))
}

#[test]
fn build_commands_write_where_the_manifest_says_despite_a_shared_target_dir() -> Result<()> {
    // A `cargo build` would follow these variables out of the app; the build
    // command sees neither, so the output lands where `source` expects it.
    let app = built_by(&format!(
        "test -z \"$CARGO_TARGET_DIR$CARGO_BUILD_TARGET_DIR\" && mkdir -p out && cp {} out/api.wasm",
        HTTP_ECHO_COMPONENT
    ))?;
    let out = build_with_shared_target_dir(&app)?;
    out.assert_code(0)
        .assert_stderr_contains("Finished building 1 component(s).");
    assert!(app.path().join("out/api.wasm").is_file());
    Ok(())
}

#[test]
fn a_build_that_writes_elsewhere_is_named() -> Result<()> {
    let app = built_by("mkdir -p elsewhere && touch elsewhere/api.wasm")?;
    let out = build_with_shared_target_dir(&app)?;
    out.assert_code(1)
        .assert_stderr_contains(&at(&app, 8))
        .assert_stderr_contains("`component.api.source`: source file ")
        .assert_stderr_contains(&format!(
            "hint: `mkdir -p elsewhere && touch elsewhere/api.wasm` succeeded in {} but did not write this file",
            app.path().display()
        ));
    Ok(())
}
