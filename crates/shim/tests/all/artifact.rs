//! OCI artifacts under containerd: a Skiff app artifact (what `skiff push` writes for
//! an app) and CNCF Wasm OCI artifacts (what `skiff push`/`wkg oci push` write for one
//! component), each built with skiff-oci's own artifact code and written as an
//! OCI image-layout tarball.
//!
//! Debian's containerd 1.6.20 imports such artifacts (a platform-less index entry
//! needs no `--all-platforms`), but its client cannot unpack them: `ctr image import`
//! and `ctr run` stop at "mismatched image rootfs and manifest layers" because the
//! artifact config has no `rootfs.diff_ids` (containerd 1.6.25 / 1.7.7 skip
//! non-layer media types). So the tests import with `--no-unpack` and create the
//! container through containerd's API as newer clients do — an empty snapshot, the
//! artifact as the container's image, the spec `ctr run --net-host` would make —
//! and then start it with `ctr task start`: containerd, the shim, runwasi's layer
//! loading and precompilation are all the real ones.

use std::path::Path;
use std::process::Child;

use anyhow::{Context, Result, ensure};
use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::snapshots::PrepareSnapshotRequest;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::{Container, CreateContainerRequest};
use containerd_client::tonic::Request;
use containerd_client::with_namespace;
use serde_json::json;
use sha2::{Digest, Sha256};
use skiff_oci::Artifact;
use test_programs_artifacts::{
    CLI_ECHO_COMPONENT, HTTP_FILES_COMPONENT, HTTP_HELLO_COMPONENT, KV_WASI_COMPONENT,
};

use crate::containerd::{
    Containerd, RUNTIME, describe, free_port, http, unique_id, wait_bounded, wait_for_http,
};

/// containerd's namespace for `ctr` without `--namespace`.
const NAMESPACE: &str = "default";
const SNAPSHOTTER: &str = "overlayfs";

/// An app with two components: `kv` (granted the `default` key-value store) and
/// `files` (one static file mounted at `/hello.txt`).
const APP_MANIFEST: &str = r#"skiff_manifest_version = 1

[application]
name = "artifact-app"
version = "1.0.0"

[[trigger.http]]
route = "/kv/..."
component = "kv"

[[trigger.http]]
route = "/files/..."
component = "files"

[component.kv]
source = "kv.wasm"
key_value_stores = ["default"]

[component.files]
source = "files.wasm"
files = [{ source = "static/hello.txt", destination = "/hello.txt" }]
"#;

const STATIC_FILE: &str = "hello from a file layer\n";

/// The app's artifact, as `skiff push` builds it.
fn app_artifact(dir: &Path) -> Result<Artifact> {
    std::fs::write(dir.join("skiff.toml"), APP_MANIFEST)?;
    std::fs::copy(KV_WASI_COMPONENT, dir.join("kv.wasm"))?;
    std::fs::copy(HTTP_FILES_COMPONENT, dir.join("files.wasm"))?;
    std::fs::create_dir_all(dir.join("static"))?;
    std::fs::write(dir.join("static/hello.txt"), STATIC_FILE)?;
    let app = skiff_manifest::load(dir)?;
    Artifact::app(&app, &Default::default())
}

/// Writes `artifact` as an OCI image-layout tarball whose index names the manifest
/// `docker.io/library/NAME:latest` (no platform), and returns that reference.
fn write_layout(artifact: &Artifact, name: &str, out: &Path) -> Result<String> {
    let reference = format!("docker.io/library/{name}:latest");
    let mut tar = tar::Builder::new(std::fs::File::create(out)?);
    for layer in &artifact.layers {
        blob(&mut tar, &layer.data)?;
    }
    blob(&mut tar, &artifact.config.data)?;
    let manifest = artifact.manifest_json();
    let digest = blob(&mut tar, &manifest)?;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": manifest.len(),
            "annotations": {"io.containerd.image.name": reference},
        }],
    }))?;
    append(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append(&mut tar, "index.json", &index)?;
    tar.into_inner()?.sync_all()?;
    Ok(reference)
}

fn append(tar: &mut tar::Builder<std::fs::File>, path: &str, data: &[u8]) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, path, data)?;
    Ok(())
}

fn blob(tar: &mut tar::Builder<std::fs::File>, data: &[u8]) -> Result<String> {
    let hex = hex::encode(Sha256::digest(data));
    append(tar, &format!("blobs/sha256/{hex}"), data)?;
    Ok(format!("sha256:{hex}"))
}

impl Containerd {
    /// Writes `artifact` as a tarball and imports it (`--no-unpack`: see the module docs).
    fn import_artifact(&self, artifact: &Artifact, name: &str) -> Result<String> {
        let tarball = self.dir().join(format!("{}.tar", unique_id(name)));
        let reference = write_layout(artifact, name, &tarball)?;
        let out = self.ctr(&[
            "image",
            "import",
            "--no-unpack",
            &tarball.display().to_string(),
        ])?;
        ensure!(out.status.success(), "ctr image import: {}", describe(&out));
        Ok(reference)
    }

    /// Creates container `id` of `image` for runtime `io.containerd.skiff.v1` through
    /// containerd's API: an empty writable snapshot as its rootfs, and the spec
    /// `ctr run --net-host --env …` makes (`ctr oci spec`, host network) with `args`.
    fn create_container(&self, image: &str, id: &str, args: &[&str], env: &[&str]) -> Result<()> {
        let out = self.ctr(&["oci", "spec"])?;
        ensure!(out.status.success(), "ctr oci spec: {}", describe(&out));
        let mut spec: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let mut envs = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];
        envs.extend_from_slice(env);
        spec["process"]["args"] = json!(args);
        spec["process"]["env"] = json!(envs);
        spec["linux"]["cgroupsPath"] = json!(format!("/{NAMESPACE}/{id}"));
        spec["linux"]["namespaces"]
            .as_array_mut()
            .context("the default spec has no namespaces")?
            .retain(|ns| ns["type"] != "network");
        let container = Container {
            id: id.to_string(),
            image: image.to_string(),
            runtime: Some(Runtime {
                name: RUNTIME.to_string(),
                options: None,
            }),
            spec: Some(prost_types::Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
                value: serde_json::to_vec(&spec)?,
            }),
            snapshotter: SNAPSHOTTER.to_string(),
            snapshot_key: id.to_string(),
            ..Default::default()
        };
        let socket = self.socket().to_path_buf();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let channel = containerd_client::connect(&socket)
                .await
                .with_context(|| format!("could not connect to {}", socket.display()))?;
            // The container first: it is what keeps the snapshot from containerd's
            // garbage collector (an unreferenced snapshot may go at any moment).
            let create = CreateContainerRequest {
                container: Some(container),
            };
            ContainersClient::new(channel.clone())
                .create(with_namespace!(create, NAMESPACE))
                .await
                .context("could not create the container")?;
            let prepare = PrepareSnapshotRequest {
                snapshotter: SNAPSHOTTER.to_string(),
                key: id.to_string(),
                ..Default::default()
            };
            SnapshotsClient::new(channel)
                .prepare(with_namespace!(prepare, NAMESPACE))
                .await
                .context("could not prepare the container's snapshot")?;
            anyhow::Ok(())
        })
    }

    /// `ctr task start ID` in the background (it waits for the task and deletes it).
    fn start_task(&self, id: &str) -> Result<Child> {
        self.ctr_command(&["task", "start", id])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("could not start `ctr task start`")
    }

    /// Creates and starts a container of `image`, then waits for `GET path` on `port`.
    fn serve_artifact(
        &self,
        image: &str,
        name: &str,
        port: u16,
        path: &str,
    ) -> Result<(Child, String, (u16, String))> {
        let id = unique_id(name);
        let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
        self.create_container(image, &id, &[name], &[&listen])?;
        let mut child = self.start_task(&id)?;
        let answer = wait_for_http(&mut child, port, path)?;
        Ok((child, id, answer))
    }

    /// Kills task `id` (SIGTERM) and checks that it exits with 0 within [`STOP_BOUND`].
    fn stop(&self, child: Child, id: &str) -> Result<std::process::Output> {
        let kill = self.ctr(&["task", "kill", id])?;
        ensure!(kill.status.success(), "ctr task kill: {}", describe(&kill));
        let out = wait_within(child, STOP_BOUND)?;
        ensure!(out.status.code() == Some(0), "{}", describe(&out));
        let rm = self.ctr(&["containers", "rm", id])?;
        ensure!(rm.status.success(), "ctr containers rm: {}", describe(&rm));
        Ok(out)
    }
}

/// How long a task may take to stop after SIGTERM when nothing is in flight: the
/// shutdown grace (10s) plus slack. Not a speed measurement, a liveness bound.
const STOP_BOUND: std::time::Duration = std::time::Duration::from_secs(20);

fn wait_within(mut child: Child, bound: std::time::Duration) -> Result<std::process::Output> {
    let start = std::time::Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > bound {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            anyhow::bail!(
                "the task did not stop within {bound:?} of SIGTERM:\n{}",
                describe(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(child.wait_with_output()?)
}

#[test]
fn skiff_app_artifact_serves_files_and_key_value() -> Result<()> {
    let containerd = Containerd::start()?;
    let src = tempfile::tempdir()?;
    let artifact = app_artifact(src.path())?;
    let image = containerd.import_artifact(&artifact, "skiff-app-artifact")?;

    let port = free_port()?;
    let (child, id, answer) =
        containerd.serve_artifact(&image, "app-artifact", port, "/files/?path=/hello.txt")?;
    assert_eq!(answer, (200, STATIC_FILE.to_string()));
    let set = http(port, "POST", "/kv/?store=default&op=set&key=visits", b"41")?;
    assert_eq!(set, (200, "ok".to_string()));
    let get = http(port, "GET", "/kv/?store=default&op=get&key=visits", b"")?;
    assert_eq!(get, (200, "some:41".to_string()));
    let denied = http(port, "GET", "/kv/?store=other&op=get&key=visits", b"")?;
    assert_eq!(denied, (200, "error: access-denied".to_string()));
    let not_granted = http(port, "GET", "/files/?path=/etc/hostname", b"")?;
    assert_eq!(not_granted.0, 404, "{not_granted:?}");

    let out = containerd.stop(child, &id)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("/kv/...") && stdout.contains("/files/..."),
        "no route table:\n{}",
        describe(&out)
    );
    // Both component layers were precompiled into containerd's content store with
    // the engine this app is served with.
    for component in ["kv", "files"] {
        assert!(
            stderr.contains(&format!("component `{component}` loaded from AOT cache")),
            "component `{component}` was compiled in the container:\n{}",
            describe(&out)
        );
    }
    Ok(())
}

#[test]
fn cncf_wasm_artifacts_serve_http_and_run_commands() -> Result<()> {
    let containerd = Containerd::start()?;
    let http_image = containerd.import_artifact(
        &Artifact::component(Path::new(HTTP_HELLO_COMPONENT), &Default::default())?,
        "cncf-hello",
    )?;
    let port = free_port()?;
    let (child, id, answer) = containerd.serve_artifact(&http_image, "cncf-hello", port, "/")?;
    assert_eq!(answer, (200, "Hello from Skiff!\n".to_string()));
    let out = containerd.stop(child, &id)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("component `component` loaded from AOT cache"),
        "the precompiled layer was not used:\n{}",
        describe(&out)
    );

    let cli_image = containerd.import_artifact(
        &Artifact::component(Path::new(CLI_ECHO_COMPONENT), &Default::default())?,
        "cncf-echo",
    )?;
    let id = unique_id("cncf-echo");
    containerd.create_container(
        &cli_image,
        &id,
        &["echo", "hello", "artifact"],
        &["GREETING=hi"],
    )?;
    let out = wait_bounded(containerd.start_task(&id)?, "ctr task start")?;
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in ["arg[1]=hello", "arg[2]=artifact", "env:GREETING=hi"] {
        assert!(stdout.contains(line), "missing `{line}`:\n{all}");
    }
    Ok(())
}

#[test]
fn corrupt_artifact_layers_fail_the_task_saying_why() -> Result<()> {
    let containerd = Containerd::start()?;

    // A CNCF artifact whose wasm layer is not WebAssembly.
    let mut bad_wasm = Artifact::component(Path::new(HTTP_HELLO_COMPONENT), &Default::default())?;
    bad_wasm.layers[0].data = b"this is not WebAssembly".to_vec().into();
    let image = containerd.import_artifact(&bad_wasm, "bad-wasm-layer")?;
    let id = unique_id("bad-wasm");
    containerd.create_container(&image, &id, &["bad"], &[])?;
    let out = wait_bounded(containerd.start_task(&id)?, "ctr task start")?;
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let digest = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(b"this is not WebAssembly"))
    );
    assert!(
        stderr.contains(&format!(
            "skiff: error: wasm layer {digest} (application/wasm) is not a runnable component"
        )),
        "{all}"
    );

    // A Skiff app artifact whose manifest names a component layer it does not have.
    let src = tempfile::tempdir()?;
    let mut bad_app = app_artifact(src.path())?;
    let manifest = &mut bad_app.layers[0];
    ensure!(manifest.media_type == skiff_oci::media_types::APP_MANIFEST);
    let text = String::from_utf8(manifest.data.to_vec())?;
    let missing = format!("sha256:{}", "0".repeat(64));
    let kv_source = text
        .lines()
        .find_map(|l| l.strip_prefix("source = \"sha256:"))
        .context("no digest source in the artifact manifest")?
        .trim_end_matches('"');
    manifest.data = text
        .replacen(&format!("sha256:{kv_source}"), &missing, 1)
        .into_bytes()
        .into();
    let image = containerd.import_artifact(&bad_app, "bad-app-artifact")?;
    let id = unique_id("bad-app");
    containerd.create_container(&image, &id, &["bad"], &[])?;
    let out = wait_bounded(containerd.start_task(&id)?, "ctr task start")?;
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skiff: error: could not unpack the Skiff app artifact of the image"),
        "{all}"
    );
    assert!(
        stderr.contains(&format!(
            "names `{missing}`, which is not a layer of the artifact"
        )),
        "{all}"
    );
    Ok(())
}
