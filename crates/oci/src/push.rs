//! `skiff push`: a component as the Wasm OCI artifact, an app as Skiff's app artifact.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use oci_client::Reference;
use oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_TITLE;

use crate::Registry;
use crate::artifact::Artifact;
use crate::reference::display;

/// Extra settings for a push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Manifest annotations, added to (and overriding) the ones Skiff fills in
    /// (`org.opencontainers.image.source=https://…`).
    pub annotations: BTreeMap<String, String>,
    /// Skiff's cache directory, where an app's `url` and `version`
    /// dependencies are fetched to; `None` fetches them into a temporary one.
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Registry {
    /// Pushes `path` to `reference`: a `.wasm` file (a component, or a core
    /// module) as the Wasm OCI artifact, anything else as an app (a manifest
    /// file or a directory holding one). Returns the manifest digest.
    pub async fn push_path(
        &self,
        reference: &Reference,
        path: &Path,
        options: &PushOptions,
    ) -> Result<String> {
        let is_wasm_file = path.is_file()
            && (path.extension().is_some_and(|e| e == "wasm")
                || std::fs::read(path)
                    .map(|b| b.starts_with(b"\0asm"))
                    .unwrap_or(false));
        if is_wasm_file {
            self.push_component(reference, path, options).await
        } else {
            let mut app = skiff_manifest::load(path)?;
            let scratch;
            let cache_dir = match &options.cache_dir {
                Some(dir) => dir.clone(),
                None => {
                    scratch = tempfile::tempdir()?;
                    scratch.path().to_path_buf()
                }
            };
            crate::fetch_dependencies(&mut app, &crate::Cache::new(cache_dir))?;
            self.push_app(reference, &app, options).await
        }
    }

    /// Pushes one component (or core module) as the CNCF Wasm OCI artifact.
    pub async fn push_component(
        &self,
        reference: &Reference,
        path: &Path,
        options: &PushOptions,
    ) -> Result<String> {
        let artifact = Artifact::component(path, options)?;
        self.push_image(reference, artifact).await
    }

    /// Pushes a loaded app as Skiff's app artifact (`docs/oci.md`).
    pub async fn push_app(
        &self,
        reference: &Reference,
        app: &skiff_manifest::App,
        options: &PushOptions,
    ) -> Result<String> {
        let artifact = Artifact::app(app, options)?;
        self.push_image(reference, artifact).await
    }

    /// Uploads the layers the registry lacks, the config, then the manifest.
    async fn push_image(&self, reference: &Reference, artifact: Artifact) -> Result<String> {
        let manifest = artifact.manifest();
        let Artifact { layers, config, .. } = artifact;
        for layer in &layers {
            let label = layer
                .annotations
                .as_ref()
                .and_then(|a| a.get(ORG_OPENCONTAINERS_IMAGE_TITLE))
                .cloned()
                .unwrap_or_else(|| layer.sha256_digest());
            self.push_blob(
                reference,
                layer.data.clone(),
                &layer.sha256_digest(),
                &label,
            )
            .await
            .with_context(|| {
                format!("could not push layer `{label}` to `{}`", display(reference))
            })?;
        }
        self.push_blob(
            reference,
            config.data.clone(),
            &manifest.config.digest,
            "config",
        )
        .await
        .with_context(|| format!("could not push the config to `{}`", display(reference)))?;
        let body = serde_json::to_vec(&manifest)?;
        let digest = self
            .push_manifest(reference, body)
            .await
            .with_context(|| format!("could not push the manifest to `{}`", display(reference)))?;
        Ok(digest)
    }
}
