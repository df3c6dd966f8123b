//! A missing or invalid entrypoint fails the task with a clear message in its log.

use anyhow::Result;

use crate::containerd::{Containerd, describe, unique_id};
use crate::image::Image;

#[test]
fn missing_wasm_fails_the_task_naming_the_path() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-missing")
        .file("/readme.txt", "no wasm here")
        .entrypoint(&["/app/missing.wasm"]);
    containerd.import_image(&image)?;
    let out = containerd.run(&[], image.reference(), &unique_id("missing"), &[])?;
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skiff: error: the container's entrypoint `/app/missing.wasm` does not exist in the image"),
        "{all}"
    );
    Ok(())
}

#[test]
fn invalid_wasm_fails_the_task_saying_why() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-invalid")
        .file("/bad.wasm", "this is not WebAssembly")
        .entrypoint(&["/bad.wasm"]);
    containerd.import_image(&image)?;
    let out = containerd.run(&[], image.reference(), &unique_id("invalid"), &[])?;
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "the entrypoint `/bad.wasm` is not a runnable WebAssembly component or module"
        ),
        "{all}"
    );
    assert!(stderr.contains("not a WebAssembly file"), "{all}");
    Ok(())
}

#[test]
fn invalid_manifest_fails_the_task_naming_file_and_key() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-bad-manifest")
        .file(
            "/app/skiff.toml",
            "skiff_manifest_version = 1\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\nallowed_outbound_host = []\n",
        )
        .entrypoint(&["/app/skiff.toml"]);
    containerd.import_image(&image)?;
    let out = containerd.run(&[], image.reference(), &unique_id("badmf"), &[])?;
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/app/skiff.toml"), "{all}");
    assert!(stderr.contains("allowed_outbound_host"), "{all}");
    Ok(())
}
