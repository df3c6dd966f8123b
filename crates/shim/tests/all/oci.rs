//! A single component from the wasm layer of an OCI artifact (runwasi's `Source::Oci`),
//! precompiled once into containerd's content store.

use std::os::unix::fs::PermissionsExt as _;

use anyhow::Result;
use test_programs_artifacts::HTTP_HELLO_COMPONENT;

use crate::containerd::{Containerd, describe, free_port, unique_id};
use crate::image::{EMPTY_LAYER_PROCESSOR, write_wasm_artifact};

#[test]
fn wasm_layer_component_is_precompiled_once_into_the_content_store() -> Result<()> {
    let containerd = Containerd::start_with(|dir| {
        let processor = dir.join("empty-layer-processor");
        std::fs::write(&processor, EMPTY_LAYER_PROCESSOR)?;
        std::fs::set_permissions(&processor, std::fs::Permissions::from_mode(0o755))?;
        Ok(format!(
            "[stream_processors]\n  [stream_processors.\"skiff.test.wasm-layer\"]\n    accepts = [\"{}\"]\n    returns = \"application/vnd.oci.image.layer.v1.tar\"\n    path = \"{}\"\n",
            containerd_shim_skiff::WASM_LAYER_TYPES[0],
            processor.display()
        ))
    })?;
    let dir = tempfile::tempdir()?;
    let tarball = dir.path().join("artifact.tar");
    let image = write_wasm_artifact(
        "skiff-wasm-layer",
        &std::fs::read(HTTP_HELLO_COMPONENT)?,
        &tarball,
    )?;
    let out = containerd.ctr(&[
        "image",
        "import",
        "--all-platforms",
        &tarball.display().to_string(),
    ])?;
    assert!(out.status.success(), "import: {}", describe(&out));

    let mut logs = Vec::new();
    for round in ["first", "second"] {
        let port = free_port()?;
        let id = unique_id(round);
        let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
        let (child, id, (status, body)) = containerd.serve(
            &["--net-host", "--platform", "wasip1/wasm", "--env", &listen],
            &image,
            &id,
            port,
            "/",
        )?;
        assert_eq!((status, body.as_str()), (200, "Hello from Skiff!\n"));
        let out = containerd.stop_cleanly(child, &id)?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.contains("component `component` loaded from AOT cache"),
            "{round} container did not use the precompiled code:\n{stderr}"
        );
        logs.push(containerd.log());
    }
    let precompiling = format!("precompiling layers for image: {image}");
    assert_eq!(logs[0].matches(&precompiling).count(), 1, "{}", logs[0]);
    assert_eq!(
        logs[1].matches(&precompiling).count(),
        1,
        "the second container compiled again:\n{}",
        logs[1]
    );
    let content = containerd.ctr(&["content", "ls"])?;
    assert!(
        String::from_utf8_lossy(&content.stdout).contains("runwasi.io/precompiled/skiff/"),
        "no precompiled layer in the content store:\n{}",
        describe(&content)
    );
    Ok(())
}
