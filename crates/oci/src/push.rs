//! `skiff push`: a component as the Wasm OCI artifact, an app as Skiff's app artifact.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use oci_client::Reference;
use oci_client::annotations::{
    ORG_OPENCONTAINERS_IMAGE_AUTHORS, ORG_OPENCONTAINERS_IMAGE_CREATED,
    ORG_OPENCONTAINERS_IMAGE_DESCRIPTION, ORG_OPENCONTAINERS_IMAGE_TITLE,
    ORG_OPENCONTAINERS_IMAGE_VERSION,
};
use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_wasm::{ToConfig, WasmConfig};

use crate::format::{self, Layer};
use crate::reference::display;
use crate::{Registry, media_types};

/// Extra settings for a push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Manifest annotations, added to (and overriding) the ones Skiff fills in
    /// (`org.opencontainers.image.source=https://…`).
    pub annotations: BTreeMap<String, String>,
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
            let app = skiff_manifest::load(path)?;
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
        let bytes =
            std::fs::read(path).with_context(|| format!("could not read `{}`", path.display()))?;
        let (config, mut layer) = if wasmparser::Parser::is_component(&bytes) {
            WasmConfig::from_raw_component(bytes, None)
                .with_context(|| format!("could not read the world of `{}`", path.display()))?
        } else if wasmparser::Parser::is_core_wasm(&bytes) {
            WasmConfig::from_raw_module(bytes, None)?
        } else {
            bail!(
                "`{}` is not a WebAssembly component or module",
                path.display()
            );
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "component.wasm".into());
        layer.annotations = Some(BTreeMap::from([(
            ORG_OPENCONTAINERS_IMAGE_TITLE.to_string(),
            file_name.clone(),
        )]));
        let mut annotations = BTreeMap::from([
            (
                ORG_OPENCONTAINERS_IMAGE_TITLE.to_string(),
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or(file_name),
            ),
            (
                ORG_OPENCONTAINERS_IMAGE_CREATED.to_string(),
                config.created.to_rfc3339(),
            ),
        ]);
        annotations.extend(options.annotations.clone());
        let config = config.to_config()?;
        self.push_image(reference, vec![layer], config, annotations)
            .await
    }

    /// Pushes a loaded app as Skiff's app artifact (`docs/oci.md`).
    pub async fn push_app(
        &self,
        reference: &Reference,
        app: &skiff_manifest::App,
        options: &PushOptions,
    ) -> Result<String> {
        let layers = format::app_layers(app)
            .with_context(|| format!("could not package app `{}`", app.name))?;
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let config = serde_json::json!({
            "created": created,
            "architecture": oci_wasm::WASM_ARCHITECTURE,
            "os": oci_wasm::COMPONENT_OS,
            "layerDigests": layers.iter().map(Layer::digest).collect::<Vec<_>>(),
            "application": { "name": app.name, "version": app.version },
            "components": app.components.keys().collect::<Vec<_>>(),
        });
        let config = Config {
            data: serde_json::to_vec(&config)?.into(),
            media_type: media_types::APP_CONFIG.to_string(),
            annotations: None,
        };
        let mut annotations = BTreeMap::from([
            (ORG_OPENCONTAINERS_IMAGE_TITLE.to_string(), app.name.clone()),
            (ORG_OPENCONTAINERS_IMAGE_CREATED.to_string(), created),
        ]);
        if let Some(v) = &app.version {
            annotations.insert(ORG_OPENCONTAINERS_IMAGE_VERSION.to_string(), v.clone());
        }
        if let Some(d) = &app.description {
            annotations.insert(ORG_OPENCONTAINERS_IMAGE_DESCRIPTION.to_string(), d.clone());
        }
        if !app.authors.is_empty() {
            annotations.insert(
                ORG_OPENCONTAINERS_IMAGE_AUTHORS.to_string(),
                app.authors.join(", "),
            );
        }
        annotations.extend(options.annotations.clone());
        let layers = layers
            .into_iter()
            .map(|l| ImageLayer {
                data: l.data,
                media_type: l.media_type.to_string(),
                annotations: Some(BTreeMap::from([(
                    ORG_OPENCONTAINERS_IMAGE_TITLE.to_string(),
                    l.title,
                )])),
            })
            .collect();
        self.push_image(reference, layers, config, annotations)
            .await
    }

    /// Uploads the layers the registry lacks, the config, then the manifest.
    async fn push_image(
        &self,
        reference: &Reference,
        layers: Vec<ImageLayer>,
        config: Config,
        annotations: BTreeMap<String, String>,
    ) -> Result<String> {
        let mut manifest = OciImageManifest::build(&layers, &config, Some(annotations));
        manifest.media_type = Some(media_types::OCI_MANIFEST.to_string());
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
