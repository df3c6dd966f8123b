//! Ordinary OCI image tarballs (what `docker save`/`ctr image export` write) whose
//! rootfs holds the guest, built in the test without network.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

/// An image to build: files in one layer plus the entrypoint.
pub struct Image {
    name: String,
    files: Vec<(String, Vec<u8>, u32)>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: Vec<String>,
}

impl Image {
    /// An image named `docker.io/library/NAME:latest`.
    pub fn new(name: &str) -> Self {
        Image {
            name: format!("docker.io/library/{name}:latest"),
            files: Vec::new(),
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            env: Vec::new(),
        }
    }

    /// The reference `ctr` knows the image by after import.
    pub fn reference(&self) -> &str {
        &self.name
    }

    /// Adds a file (`path` absolute in the rootfs).
    pub fn file(mut self, path: &str, data: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.to_string(), data.into(), 0o644));
        self
    }

    /// Adds a file copied from the host.
    pub fn file_from(self, path: &str, host: &str) -> Result<Self> {
        let data = std::fs::read(host).with_context(|| format!("could not read `{host}`"))?;
        Ok(self.file(path, data))
    }

    /// Sets the image's `Entrypoint`.
    pub fn entrypoint(mut self, args: &[&str]) -> Self {
        self.entrypoint = args.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Sets the image's `Cmd`.
    pub fn cmd(mut self, args: &[&str]) -> Self {
        self.cmd = args.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Adds an `Env` entry of the image config.
    pub fn env(mut self, kv: &str) -> Self {
        self.env.push(kv.to_string());
        self
    }

    /// Writes the OCI image-layout tarball to `out`.
    pub fn write(&self, out: &Path) -> Result<()> {
        let layer = self.layer()?;
        let mut tar = tar::Builder::new(std::fs::File::create(out)?);
        let layer_digest = blob(&mut tar, &layer)?;
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": self.entrypoint,
                "Cmd": self.cmd,
                "Env": self.env,
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))?;
        let config_digest = blob(&mut tar, &config)?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": layer.len(),
            }],
        }))?;
        let manifest_digest = blob(&mut tar, &manifest)?;
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest.len(),
                "annotations": {
                    "io.containerd.image.name": self.name,
                    "org.opencontainers.image.ref.name": "latest",
                },
            }],
        }))?;
        append(
            &mut tar,
            "oci-layout",
            br#"{"imageLayoutVersion":"1.0.0"}"#,
            0o644,
        )?;
        append(&mut tar, "index.json", &index, 0o644)?;
        tar.into_inner()?.sync_all()?;
        Ok(())
    }

    /// The rootfs layer: the files and their parent directories.
    fn layer(&self) -> Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut dirs = std::collections::BTreeSet::new();
        for (path, data, mode) in &self.files {
            let rel = path.trim_start_matches('/');
            let mut parent = Path::new(rel).parent();
            let mut missing = Vec::new();
            while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
                if dirs.insert(dir.to_path_buf()) {
                    missing.push(dir.to_path_buf());
                }
                parent = dir.parent();
            }
            for dir in missing.into_iter().rev() {
                let mut header = tar::Header::new_ustar();
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                header.set_mtime(0);
                header.set_cksum();
                tar.append_data(&mut header, &dir, std::io::empty())?;
            }
            append(&mut tar, rel, data, *mode)?;
        }
        Ok(tar.into_inner()?)
    }
}

fn append<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mode: u32,
) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, path, data)?;
    Ok(())
}

/// Adds a blob under `blobs/sha256/` and returns its digest.
fn blob<W: std::io::Write>(tar: &mut tar::Builder<W>, data: &[u8]) -> Result<String> {
    let hex = hex::encode(Sha256::digest(data));
    append(tar, &format!("blobs/sha256/{hex}"), data, 0o644)?;
    Ok(format!("sha256:{hex}"))
}

/// A Wasm OCI artifact as runwasi expects it: platform `wasip1/wasm`, one layer whose
/// media type is the wasm component layer and whose content is the component itself.
///
/// The config's `diff_ids` name an empty tar layer: containerd < 1.6.25 cannot unpack
/// wasm layers, so the tests register a stream processor that turns them into an
/// empty tar ([`EMPTY_LAYER_PROCESSOR`]), and containerd checks the unpacked digest.
pub fn write_wasm_artifact(name: &str, wasm: &[u8], out: &Path) -> Result<String> {
    let reference = format!("docker.io/library/{name}:latest");
    let mut tar = tar::Builder::new(std::fs::File::create(out)?);
    let layer_digest = blob(&mut tar, wasm)?;
    let empty_tar = format!("sha256:{}", hex::encode(Sha256::digest([0u8; 1024])));
    let config = serde_json::to_vec(&json!({
        "architecture": "wasm",
        "os": "wasip1",
        "config": {"Entrypoint": ["/component.wasm"]},
        "rootfs": {"type": "layers", "diff_ids": [empty_tar]},
    }))?;
    let config_digest = blob(&mut tar, &config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": containerd_shim_skiff::WASM_LAYER_TYPES[0],
            "digest": layer_digest,
            "size": wasm.len(),
        }],
    }))?;
    let manifest_digest = blob(&mut tar, &manifest)?;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": {"architecture": "wasm", "os": "wasip1"},
            "annotations": {"io.containerd.image.name": reference},
        }],
    }))?;
    append(
        &mut tar,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
        0o644,
    )?;
    append(&mut tar, "index.json", &index, 0o644)?;
    tar.into_inner()?.sync_all()?;
    Ok(reference)
}

/// A containerd stream processor that unpacks any layer to an empty tar.
pub const EMPTY_LAYER_PROCESSOR: &str = "#!/bin/sh\ncat > /dev/null\nhead -c 1024 /dev/zero\n";
