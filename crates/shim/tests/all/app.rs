//! A whole Skiff app (skiff.toml in the image rootfs) with a key-value grant and a
//! variable from the container env.

use anyhow::Result;
use test_programs_artifacts::{KV_WASI_COMPONENT, VARS_WASI_COMPONENT};

use crate::containerd::{Containerd, describe, free_port, http, unique_id};
use crate::image::Image;

const MANIFEST: &str = r#"skiff_manifest_version = 1

[application]
name = "shim-app"

[variables]
greeting = { required = true }

[[trigger.http]]
route = "/kv/..."
component = "kv"

[[trigger.http]]
route = "/vars/..."
component = "vars"

[component.kv]
source = "kv.wasm"
key_value_stores = ["default"]

[component.vars]
source = "vars.wasm"
variables = { greeting = "{{ greeting }}" }
"#;

#[test]
fn app_from_rootfs_manifest_with_key_value_grant_and_env_variables() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-app")
        .file("/app/skiff.toml", MANIFEST)
        .file_from("/app/kv.wasm", KV_WASI_COMPONENT)?
        .file_from("/app/vars.wasm", VARS_WASI_COMPONENT)?
        .entrypoint(&["/app/skiff.toml"]);
    containerd.import_image(&image)?;
    let port = free_port()?;
    let id = unique_id("app");
    let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
    let (child, id, (status, body)) = containerd.serve(
        &[
            "--net-host",
            "--env",
            &listen,
            "--env",
            "SKIFF_VARIABLE_GREETING=hello from the pod spec",
        ],
        image.reference(),
        &id,
        port,
        "/vars/?name=greeting",
    )?;
    assert_eq!((status, body.as_str()), (200, "hello from the pod spec"));

    let set = http(port, "POST", "/kv/?store=default&op=set&key=visits", b"41")?;
    assert_eq!(set, (200, "ok".to_string()));
    let get = http(port, "GET", "/kv/?store=default&op=get&key=visits", b"")?;
    assert_eq!(get, (200, "some:41".to_string()));
    let denied = http(port, "GET", "/kv/?store=other&op=get&key=visits", b"")?;
    assert_eq!(denied, (200, "error: access-denied".to_string()));

    let out = containerd.stop_cleanly(child, &id)?;
    let all = describe(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("/kv/...") && stdout.contains("-> kv"),
        "no route table:\n{all}"
    );
    Ok(())
}

#[test]
fn app_missing_a_required_variable_fails_naming_it() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-app-novar")
        .file("/app/skiff.toml", MANIFEST)
        .file_from("/app/kv.wasm", KV_WASI_COMPONENT)?
        .file_from("/app/vars.wasm", VARS_WASI_COMPONENT)?
        .entrypoint(&["/app"]);
    containerd.import_image(&image)?;
    let out = containerd.run(&[], image.reference(), &unique_id("novar"), &[])?;
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skiff: error:") && stderr.contains("greeting"),
        "{all}"
    );
    assert!(stderr.contains("SKIFF_VARIABLE_GREETING"), "{all}");
    Ok(())
}
