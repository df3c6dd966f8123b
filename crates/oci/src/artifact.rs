//! The artifacts Skiff writes, as values: built once, then pushed to a registry or
//! written anywhere else an OCI manifest goes (an image-layout tarball for
//! `ctr image import`); and the app of an artifact whose layers are already at
//! hand (what containerd gives the shim) materialized into a directory.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_client::annotations::{
    ORG_OPENCONTAINERS_IMAGE_AUTHORS, ORG_OPENCONTAINERS_IMAGE_CREATED,
    ORG_OPENCONTAINERS_IMAGE_DESCRIPTION, ORG_OPENCONTAINERS_IMAGE_TITLE,
    ORG_OPENCONTAINERS_IMAGE_VERSION,
};
use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_wasm::{ToConfig, WasmConfig};

use crate::cache::sha256_digest;
use crate::format::{self, Layer};
use crate::{PushOptions, media_types};

/// An artifact ready to push: its config blob, its layers (in manifest order) and
/// the manifest's annotations.
#[derive(Clone)]
pub struct Artifact {
    /// The config blob and its media type.
    pub config: Config,
    /// The layers, each with its media type and title annotation.
    pub layers: Vec<ImageLayer>,
    /// The manifest's annotations (`org.opencontainers.image.*`).
    pub annotations: BTreeMap<String, String>,
}

impl Artifact {
    /// One component (or core module) as the CNCF Wasm OCI artifact: config
    /// `application/vnd.wasm.config.v0+json`, one `application/wasm` layer.
    pub fn component(path: &Path, options: &PushOptions) -> Result<Self> {
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
        Ok(Artifact {
            config: config.to_config()?,
            layers: vec![layer],
            annotations,
        })
    }

    /// A loaded app as Skiff's app artifact (`docs/oci.md`).
    pub fn app(app: &skiff_manifest::App, options: &PushOptions) -> Result<Self> {
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
        Ok(Artifact {
            config,
            layers,
            annotations,
        })
    }

    /// The OCI image manifest naming the config and layers by digest.
    pub fn manifest(&self) -> OciImageManifest {
        let mut manifest =
            OciImageManifest::build(&self.layers, &self.config, Some(self.annotations.clone()));
        manifest.media_type = Some(media_types::OCI_MANIFEST.to_string());
        manifest
    }

    /// The manifest serialized as it is pushed (its sha256 is the artifact's digest).
    pub fn manifest_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.manifest()).expect("an OCI manifest serializes")
    }
}

/// One layer of an artifact whose bytes are at hand.
#[derive(Debug, Clone, Copy)]
pub struct LayerData<'a> {
    /// The layer's media type (from the manifest's descriptor).
    pub media_type: &'a str,
    /// The layer's digest (`sha256:…`, from the manifest's descriptor).
    pub digest: &'a str,
    /// The layer's content.
    pub data: &'a [u8],
}

/// Materializes the app of a Skiff app artifact from its layers into `dir`, the
/// way `skiff pull` does from its cache: each layer is checked against its digest
/// and written to `dir/blobs/sha256/<hex>`, tar layers are unpacked under
/// `dir/files/`, and `dir/skiff.toml` names those paths. Returns `dir/skiff.toml`.
///
/// `layers` must hold exactly one `application/vnd.skiff.app.manifest.v1+toml`
/// layer and every layer it names (layers of other types are ignored).
pub fn materialize_app_layers(layers: &[LayerData<'_>], dir: &Path) -> Result<PathBuf> {
    let manifests: Vec<_> = layers
        .iter()
        .filter(|l| l.media_type == media_types::APP_MANIFEST)
        .collect();
    let [manifest] = manifests.as_slice() else {
        bail!(
            "a Skiff app artifact needs exactly one `{}` layer, it has {}",
            media_types::APP_MANIFEST,
            manifests.len()
        );
    };
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs)
        .with_context(|| format!("could not create `{}`", blobs.display()))?;
    let blob_path = |digest: &str| blobs.join(digest.strip_prefix("sha256:").unwrap_or(digest));
    let mut layer_types = HashMap::new();
    for layer in layers {
        let actual = sha256_digest(layer.data);
        if actual != layer.digest {
            bail!(
                "layer `{}` ({}) hashes to `{actual}`; refusing to use it",
                layer.digest,
                layer.media_type
            );
        }
        let path = blob_path(layer.digest);
        std::fs::write(&path, layer.data)
            .with_context(|| format!("could not write `{}`", path.display()))?;
        layer_types.insert(layer.digest, layer.media_type);
    }
    let text = std::str::from_utf8(manifest.data)
        .with_context(|| format!("the app manifest layer `{}` is not UTF-8", manifest.digest))?;
    format::materialize_app(&layer_types, &blob_path, text, dir, dir)?;
    Ok(dir.join("skiff.toml"))
}
