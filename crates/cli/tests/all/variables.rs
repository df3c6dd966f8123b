//! Variables through `skiff up`: defaults, the environment and runtime-config
//! providers and their order, component templates, each interface's answer for
//! names it has no value for, required variables, and secrets kept out of logs.
//!
//! The guests (see their `//!` docs) read their component's variables by
//! `?name=…`: `vars_wasi` (`wasi:config/store@0.2.0-rc.1`) at `/wasi`,
//! `vars_spin2` (`fermyon:spin/variables@2.0.0`) at `/spin2` and `vars_spin3`
//! (`spin:variables/variables@3.0.0`, which a WASI 0.2 handler calls through
//! the async ABI) at `/spin3`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use test_programs_artifacts::{VARS_SPIN2_COMPONENT, VARS_SPIN3_COMPONENT, VARS_WASI_COMPONENT};

use crate::harness::{
    AppDir, Response, Server, get, replace_file, shared_cache, toml_path, up_fails,
};

/// The environment variables the tests set, cleared from every server they do
/// not set them for, so the test runner's own environment cannot leak in.
const ENV: &[&str] = &[
    "SKIFF_VARIABLE_FROM_SKIFF",
    "SPIN_VARIABLE_FROM_SPIN",
    "SKIFF_VARIABLE_FROM_BOTH",
    "SPIN_VARIABLE_FROM_BOTH",
    "SKIFF_VARIABLE_STATIC_AND_ENV",
    "SKIFF_VARIABLE_API_KEY",
    "SPIN_VARIABLE_API_KEY",
    "SKIFF_VARIABLE_DB_URL",
    "SPIN_VARIABLE_DB_URL",
    "SKIFF_VARIABLE_TOKEN",
    "SPIN_VARIABLE_TOKEN",
];

/// An app whose `[variables]` are `variables` (TOML lines) and whose components
/// `wasi`, `spin2` and `spin3` (each at `/<id>`) all have the `component_vars` table.
fn manifest(variables: &str, component_vars: &str) -> String {
    let component = |id: &str, source: &str| {
        format!(
            "[[trigger.http]]\nroute = \"/{id}\"\ncomponent = \"{id}\"\n\
             [component.{id}]\nsource = {}\nvariables = {{ {component_vars} }}\n",
            toml_path(source)
        )
    };
    format!(
        "skiff_manifest_version = 1\n[application]\nname = \"vars\"\n[variables]\n{variables}\n{}{}{}",
        component("wasi", VARS_WASI_COMPONENT),
        component("spin2", VARS_SPIN2_COMPONENT),
        component("spin3", VARS_SPIN3_COMPONENT),
    )
}

/// `skiff up` for `dir` with the shared cache, the [`ENV`] cleared, then `env`
/// set, and `--runtime-config` when `runtime_config` is given.
fn start(dir: &AppDir, env: &[(&str, &str)], runtime_config: Option<&str>) -> Result<Server> {
    let rc = runtime_config
        .map(|text| dir.write("runtime-config.toml", text))
        .transpose()?;
    Server::start_with(dir.path(), shared_cache()?, |cmd| {
        configure(cmd, env, rc.as_deref());
    })
}

fn configure(cmd: &mut Command, env: &[(&str, &str)], rc: Option<&Path>) {
    for name in ENV {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    if let Some(rc) = rc {
        cmd.arg("--runtime-config").arg(rc);
    }
}

/// What `guest` (`wasi`, `spin2`, `spin3`) answers for variable `name`.
async fn read(server: &Server, guest: &str, name: &str) -> Result<Response> {
    get(&server.url(&format!("/{guest}?name={name}"))).await
}

/// `guest`'s value of `name`, which must have one.
async fn value(server: &Server, guest: &str, name: &str) -> Result<String> {
    let resp = read(server, guest, name).await?;
    let text = resp.text();
    ensure!(
        resp.status == 200 && !text.starts_with("error:"),
        "/{guest}?name={name}: {} {text}",
        resp.status
    );
    Ok(text)
}

// ---------------------------------------------------------------------------
// Resolution, through every guest
// ---------------------------------------------------------------------------

/// One variable of every kind of source; `hidden` is declared but in no
/// component's table.
const VARIABLES: &str = r#"greeting = { default = "hello" }
plain = { default = "from the manifest" }
from_skiff = { default = "default" }
from_spin = { default = "default" }
from_both = { default = "default" }
from_static = { default = "default" }
static_and_env = { default = "default" }
hidden = { default = "not exposed" }"#;

const COMPONENT_VARS: &str = r#"message = "{{ greeting }} world", plain = "{{ plain }}", literal = "no template", from_skiff = "{{ from_skiff }}", from_spin = "{{ from_spin }}", from_both = "{{from_both}}", from_static = "{{ from_static }}", static_and_env = "{{ static_and_env }}", twice = "{{ greeting }}, {{ greeting }}: {{ from_static }}""#;

/// The component variable → its value, given the environment and runtime config of [`resolution_app`].
const EXPECTED: &[(&str, &str)] = &[
    ("message", "hello world"),
    ("plain", "from the manifest"),
    ("literal", "no template"),
    ("from_skiff", "skiff"),
    ("from_spin", "spin"),
    // `SKIFF_VARIABLE_` wins over `SPIN_VARIABLE_`.
    ("from_both", "skiff"),
    ("from_static", "static"),
    // Runtime-config providers come before the environment it does not place.
    ("static_and_env", "static"),
    ("twice", "hello, hello: static"),
];

/// The app of [`VARIABLES`], with `SKIFF_VARIABLE_*`/`SPIN_VARIABLE_*` set and a
/// static provider in the runtime config.
fn resolution_app() -> Result<(AppDir, Server)> {
    let dir = AppDir::new()?;
    dir.write("skiff.toml", manifest(VARIABLES, COMPONENT_VARS))?;
    let server = start(
        &dir,
        &[
            ("SKIFF_VARIABLE_FROM_SKIFF", "skiff"),
            ("SPIN_VARIABLE_FROM_SPIN", "spin"),
            ("SKIFF_VARIABLE_FROM_BOTH", "skiff"),
            ("SPIN_VARIABLE_FROM_BOTH", "spin"),
            ("SKIFF_VARIABLE_STATIC_AND_ENV", "env"),
        ],
        Some(
            "[[variables_provider]]\ntype = \"static\"\n\
             values = { from_static = \"static\", static_and_env = \"static\" }\n",
        ),
    )?;
    Ok((dir, server))
}

/// Every entry of [`EXPECTED`] through `guest`.
async fn check_resolution(server: &Server, guest: &str) -> Result<()> {
    for (name, expected) in EXPECTED {
        assert_eq!(
            &value(server, guest, name).await?,
            expected,
            "{guest}: {name}"
        );
    }
    Ok(())
}

/// `wasi:config/store`: values; `none` (404 from the guest) for a name the
/// component does not have, an app variable outside its table, and an invalid
/// name; `get-all` lists the component's variables.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn vars_wasi() -> Result<()> {
    let (_dir, server) = resolution_app()?;
    check_resolution(&server, "wasi").await?;
    for name in ["nonexistent", "hidden", "Bad-Name"] {
        let resp = read(&server, "wasi", name).await?;
        resp.assert_status(404);
        assert_eq!(resp.text(), "none", "{name}");
    }
    let all = value(&server, "wasi", "").await;
    assert!(all.is_err(), "an empty name has no value: {all:?}");
    let resp = get(&server.url("/wasi?all=1")).await?;
    resp.assert_status(200);
    let mut lines: Vec<String> = resp.text().lines().map(str::to_string).collect();
    lines.sort();
    let mut expected: Vec<String> = EXPECTED.iter().map(|(n, v)| format!("{n}={v}")).collect();
    expected.sort();
    assert_eq!(lines, expected);
    Ok(())
}

/// The Spin interfaces answer `undefined` for a name the component does not
/// have and `invalid-name` for a name that is not one.
async fn check_spin_errors(server: &Server, guest: &str) -> Result<()> {
    for name in ["nonexistent", "hidden"] {
        let resp = read(server, guest, name).await?;
        resp.assert_status(200);
        assert!(
            resp.text().starts_with("error: undefined: "),
            "{guest}: {name}: {}",
            resp.text()
        );
    }
    for name in ["Bad-Name", "bad__name", "1st"] {
        let resp = read(server, guest, name).await?;
        resp.assert_status(200);
        assert!(
            resp.text().starts_with("error: invalid-name: "),
            "{guest}: {name}: {}",
            resp.text()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn vars_spin2() -> Result<()> {
    let (_dir, server) = resolution_app()?;
    check_resolution(&server, "spin2").await?;
    check_spin_errors(&server, "spin2").await
}

/// `spin:variables@3.0.0` is an `async func`; this WASI 0.2 guest calls it
/// through the async ABI, so unlike `kv_spin3` it is served by `skiff up` today.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn vars_spin3() -> Result<()> {
    let (_dir, server) = resolution_app()?;
    check_resolution(&server, "spin3").await?;
    check_spin_errors(&server, "spin3").await
}

/// An `env` entry in the runtime config takes the place the config gives it:
/// written before a static provider, the environment wins.
#[tokio::test(flavor = "multi_thread")]
async fn env_provider_placed_first_in_the_runtime_config_wins() -> Result<()> {
    let dir = AppDir::new()?;
    dir.write("skiff.toml", manifest(VARIABLES, COMPONENT_VARS))?;
    let server = start(
        &dir,
        &[("SKIFF_VARIABLE_STATIC_AND_ENV", "env")],
        Some(
            "[[variables_provider]]\ntype = \"env\"\n\
             [[variables_provider]]\ntype = \"static\"\n\
             values = { from_static = \"static\", static_and_env = \"static\" }\n",
        ),
    )?;
    assert_eq!(value(&server, "wasi", "static_and_env").await?, "env");
    assert_eq!(value(&server, "spin2", "from_static").await?, "static");
    assert_eq!(value(&server, "spin2", "from_skiff").await?, "default");
    Ok(())
}

/// The runtime config's providers are live: a changed static value reaches
/// new requests without a restart; a config leaving a required variable
/// without a value is rejected, naming it, and the last good values stay.
#[tokio::test(flavor = "multi_thread")]
async fn providers_reload_live() -> Result<()> {
    let dir = AppDir::new()?;
    dir.write(
        "skiff.toml",
        manifest(
            "greeting = { required = true }\nsecret_word = { required = true, secret = true }",
            r#"message = "{{ greeting }}!", word = "{{ secret_word }}""#,
        ),
    )?;
    let config = |greeting: &str| {
        format!(
            "[[variables_provider]]\ntype = \"static\"\n\
             values = {{ greeting = \"{greeting}\", secret_word = \"swordfish\" }}\n"
        )
    };
    let server = start(&dir, &[], Some(&config("first")))?;
    assert_eq!(value(&server, "spin2", "message").await?, "first!");
    let rc = dir.path().join("runtime-config.toml");
    let replace = |text: &str| replace_file(&rc, text);

    replace(&config("second"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = value(&server, "wasi", "message").await?;
        if now == "second!" {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "still `{now}` 15 s after the reload"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(value(&server, "spin3", "message").await?, "second!");

    replace("[[variables_provider]]\ntype = \"static\"\nvalues = { greeting = \"third\" }\n")?;
    let log = server
        .stderr()
        .wait_for("not applied", Duration::from_secs(15))?;
    assert!(
        log.contains("secret_word"),
        "the rejection names the variable: {log}"
    );
    assert!(
        !log.contains("swordfish"),
        "a secret value reached the log: {log}"
    );
    assert_eq!(value(&server, "spin2", "message").await?, "second!");
    assert_eq!(value(&server, "spin2", "word").await?, "swordfish");
    Ok(())
}

// ---------------------------------------------------------------------------
// Required variables and secrets
// ---------------------------------------------------------------------------

const REQUIRED: &str = r#"api_key = { required = true }
db_url = { required = true }"#;

const REQUIRED_COMPONENT_VARS: &str = r#"api_key = "{{ api_key }}", db_url = "{{ db_url }}""#;

/// Required variables without a value fail `skiff up`, naming each and how to
/// set it; given by any provider, the app serves them.
#[tokio::test(flavor = "multi_thread")]
async fn required_variable_without_value_fails_up() -> Result<()> {
    let dir = AppDir::new()?;
    dir.write("skiff.toml", manifest(REQUIRED, REQUIRED_COMPONENT_VARS))?;
    let out = up_fails(dir.path(), shared_cache()?, |cmd| configure(cmd, &[], None))?;
    out.assert_code(1)
        .assert_stderr_contains("cannot serve app `vars`")
        .assert_stderr_contains("required variables `api_key` and `db_url` have no value")
        .assert_stderr_contains("SKIFF_VARIABLE_API_KEY");

    // One given: the other is still named, alone.
    let out = up_fails(dir.path(), shared_cache()?, |cmd| {
        configure(cmd, &[("SPIN_VARIABLE_API_KEY", "k")], None);
    })?;
    out.assert_code(1)
        .assert_stderr_contains("required variable `db_url` has no value");
    assert!(!out.stderr.contains("`api_key`"), "{}", out.stderr);

    // Both given (the environment, a static provider): it serves.
    let rc = dir.write(
        "runtime-config.toml",
        "[[variables_provider]]\ntype = \"static\"\nvalues = { db_url = \"postgres://db\" }\n",
    )?;
    let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        configure(cmd, &[("SPIN_VARIABLE_API_KEY", "k")], Some(&rc));
    })?;
    assert_eq!(value(&server, "wasi", "api_key").await?, "k");
    assert_eq!(value(&server, "spin2", "db_url").await?, "postgres://db");
    Ok(())
}

/// A secret required variable given through the environment reaches the
/// guests, but its value appears nowhere in the server's output, even with
/// `SKIFF_LOG=trace`.
#[tokio::test(flavor = "multi_thread")]
async fn secret_value_never_logged_even_at_trace() -> Result<()> {
    const SECRET: &str = "s3cr3t-t0ken-9f8e7d";
    let dir = AppDir::new()?;
    dir.write(
        "skiff.toml",
        manifest(
            "token = { required = true, secret = true }",
            r#"token = "Bearer {{ token }}", raw = "{{ token }}""#,
        ),
    )?;
    let mut server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        configure(cmd, &[("SKIFF_VARIABLE_TOKEN", SECRET)], None);
        cmd.env("SKIFF_LOG", "trace");
    })?;
    let bearer = format!("Bearer {SECRET}");
    for guest in ["wasi", "spin2", "spin3"] {
        assert_eq!(value(&server, guest, "token").await?, bearer, "{guest}");
        assert_eq!(value(&server, guest, "raw").await?, SECRET, "{guest}");
        // Errors about other names do not carry it either.
        read(&server, guest, "Not_Valid").await?;
    }
    let all = get(&server.url("/wasi?all=1")).await?;
    assert!(all.text().contains(SECRET), "{}", all.text());

    server.signal("TERM")?;
    tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(30)))?;
    let stderr = server.full_stderr();
    assert!(
        stderr.contains("TRACE"),
        "SKIFF_LOG=trace logged no trace events"
    );
    for (stream, text) in [("stderr", stderr), ("stdout", server.stdout().text())] {
        if let Some(at) = text.find(SECRET) {
            let line = text[..at].rfind('\n').map_or(0, |i| i + 1);
            panic!(
                "the secret appears in the server's {stream}: {}",
                text[line..].lines().next().unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// A bad `[[variables_provider]]` entry fails `skiff up`, naming the runtime
/// config file and the key.
#[test]
fn bad_runtime_config_variables_provider_type() -> Result<()> {
    let dir = AppDir::new()?;
    dir.write("skiff.toml", manifest(VARIABLES, COMPONENT_VARS))?;
    let rc = dir.write(
        "runtime-config.toml",
        "[[variables_provider]]\ntype = \"vault\"\n",
    )?;
    let out = up_fails(dir.path(), shared_cache()?, |cmd| {
        configure(cmd, &[], Some(&rc));
    })?;
    out.assert_code(1)
        .assert_stderr_contains("`variables_provider[0].type`")
        .assert_stderr_contains("unknown variables provider type `vault`")
        .assert_stderr_contains(&rc.display().to_string());
    Ok(())
}
