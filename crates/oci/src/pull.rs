//! `skiff pull`: a reference into the cache, then into a directory `skiff up` serves.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result};
use oci_client::Reference;
use oci_client::manifest::{OciDescriptor, OciImageManifest};

use crate::cache::{Cache, sha256_digest};
use crate::format;
use crate::reference::display;
use crate::{Error, Registry, media_types};

/// What an artifact holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// One Wasm component (the CNCF Wasm OCI artifact, as `wkg oci push` makes).
    Component,
    /// A Skiff app artifact.
    App,
}

/// A pulled artifact, verified and cached.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The manifest digest (`sha256:…`).
    pub digest: String,
    /// Component or app.
    pub kind: ArtifactKind,
    /// The materialized app directory (holds a `skiff.toml`); a single component
    /// is served there as a one-component app on `/...`.
    pub dir: PathBuf,
    /// For a single component: the cached `.wasm` blob.
    pub component: Option<PathBuf>,
}

impl Registry {
    /// Pulls `reference` into `cache`, downloading only blobs the cache lacks,
    /// and materializes it. A digest reference that is fully cached needs no
    /// registry at all; a tag is resolved against the registry (or, when it
    /// cannot be reached, from the cache's index, with a warning).
    pub async fn pull(&self, reference: &Reference, cache: &Cache) -> Result<Pulled> {
        let name = display(reference);
        if let Some(digest) = reference.digest()
            && let Some(pulled) = from_cache(cache, digest, reference)
        {
            tracing::debug!("`{name}` is cached");
            return Ok(pulled);
        }
        let (body, digest) = match self.fetch_manifest(reference).await {
            Ok(fetched) => fetched,
            Err(Error::Registry { source, .. })
                if matches!(
                    source,
                    oci_client::errors::OciDistributionError::RequestError(_)
                ) && let Some(pulled) = cache
                    .indexed(&name)
                    .and_then(|d| from_cache(cache, &d, reference)) =>
            {
                tracing::warn!(
                    "registry `{}` is unreachable ({source}); using the cached `{name}` ({})",
                    self.host,
                    pulled.digest
                );
                return Ok(pulled);
            }
            Err(e) => return Err(e.into()),
        };
        let manifest = parse_manifest(&body, &name)?;
        let kind = kind_of(&manifest, &name)?;

        // Download what is missing into a session directory; nothing enters the
        // cache until every blob has been verified.
        let session = tempfile::Builder::new()
            .prefix("pull-")
            .tempdir_in(cache.tmp_dir()?)
            .context("could not create a download directory in the cache")?;
        let manifest_file = session.path().join("manifest");
        std::fs::write(&manifest_file, &body)
            .map_err(|e| Error::io("could not write", &manifest_file, e))?;
        let mut downloaded = vec![(digest.clone(), manifest_file)];
        let mut seen = BTreeSet::new();
        for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if !seen.insert(descriptor.digest.clone()) || cache.has_verified(&descriptor.digest) {
                continue;
            }
            check_digest_syntax(descriptor, &name)?;
            let dest = session.path().join(hex_of(&descriptor.digest));
            self.fetch_blob(reference, descriptor, &dest)
                .await
                .with_context(|| format!("could not pull `{name}`"))?;
            downloaded.push((descriptor.digest.clone(), dest));
        }
        for (digest, file) in &downloaded {
            cache.commit_blob(digest, file)?;
        }
        let pulled = materialize(cache, &digest, &manifest, kind, reference)
            .with_context(|| format!("could not prepare `{name}` ({digest}) to serve"))?;
        if reference.digest().is_none() {
            cache.record(&name, &digest)?;
        }
        Ok(pulled)
    }
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn check_digest_syntax(descriptor: &OciDescriptor, name: &str) -> Result<(), Error> {
    let hex = descriptor.digest.strip_prefix("sha256:").unwrap_or("");
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(Error::UnsupportedArtifact {
            reference: name.to_string(),
            reason: format!(
                "descriptor digest `{}` is not a lower-case sha256 digest",
                descriptor.digest
            ),
        })
    }
}

fn parse_manifest(body: &[u8], name: &str) -> Result<OciImageManifest, Error> {
    serde_json::from_slice(body).map_err(|e| Error::UnsupportedArtifact {
        reference: name.to_string(),
        reason: format!("its manifest is not an OCI image manifest ({e})"),
    })
}

fn kind_of(manifest: &OciImageManifest, name: &str) -> Result<ArtifactKind, Error> {
    let unsupported = |reason: String| Error::UnsupportedArtifact {
        reference: name.to_string(),
        reason,
    };
    let config = manifest.config.media_type.as_str();
    if config == media_types::APP_CONFIG {
        let manifests = manifest
            .layers
            .iter()
            .filter(|l| l.media_type == media_types::APP_MANIFEST)
            .count();
        return match manifests {
            1 => Ok(ArtifactKind::App),
            n => Err(unsupported(format!(
                "a Skiff app artifact needs exactly one `{}` layer, it has {n}",
                media_types::APP_MANIFEST
            ))),
        };
    }
    let wasm_layers = manifest
        .layers
        .iter()
        .filter(|l| {
            l.media_type == media_types::WASM_LAYER || l.media_type == media_types::SPIN_WASM_LAYER
        })
        .count();
    if manifest.layers.len() == 1 && wasm_layers == 1 {
        return Ok(ArtifactKind::Component);
    }
    Err(unsupported(format!(
        "config type `{config}` with {} layer(s) ({}); expected one `{}` layer with config `{}`, \
         or a Skiff app (config `{}`)",
        manifest.layers.len(),
        manifest
            .layers
            .iter()
            .map(|l| l.media_type.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        media_types::WASM_LAYER,
        media_types::WASM_CONFIG,
        media_types::APP_CONFIG
    )))
}

/// The pulled artifact if the cache holds all of it, verified, and it is materialized.
fn from_cache(cache: &Cache, digest: &str, reference: &Reference) -> Option<Pulled> {
    if !cache.has_verified(digest) {
        return None;
    }
    let body = std::fs::read(cache.blob_path(digest)).ok()?;
    if sha256_digest(&body) != digest {
        return None;
    }
    let name = display(reference);
    let manifest = parse_manifest(&body, &name).ok()?;
    let kind = kind_of(&manifest, &name).ok()?;
    let all_cached = std::iter::once(&manifest.config)
        .chain(&manifest.layers)
        .all(|d| cache.has_verified(&d.digest));
    if !all_cached || !cache.app_dir(digest).join("skiff.toml").is_file() {
        return None;
    }
    materialize(cache, digest, &manifest, kind, reference).ok()
}

/// Writes `apps/<digest>/` (through a staging directory renamed into place)
/// unless it exists; the blobs are in the cache.
fn materialize(
    cache: &Cache,
    digest: &str,
    manifest: &OciImageManifest,
    kind: ArtifactKind,
    reference: &Reference,
) -> Result<Pulled> {
    let dir = cache.app_dir(digest);
    let component = match kind {
        ArtifactKind::Component => Some(cache.blob_path(&manifest.layers[0].digest)),
        ArtifactKind::App => None,
    };
    if !dir.join("skiff.toml").is_file() {
        let staging = tempfile::Builder::new()
            .prefix("app-")
            .tempdir_in(cache.tmp_dir()?)
            .context("could not create a staging directory in the cache")?;
        match kind {
            ArtifactKind::Component => {
                let id = skiff_manifest::single::component_id(reference.repository());
                let wasm = component.as_ref().expect("a component has its blob");
                std::fs::write(
                    staging.path().join("skiff.toml"),
                    format::component_manifest(&id, wasm)?,
                )
                .context("could not write skiff.toml")?;
            }
            ArtifactKind::App => {
                let layer = manifest
                    .layers
                    .iter()
                    .find(|l| l.media_type == media_types::APP_MANIFEST)
                    .expect("checked by kind_of");
                let text = std::fs::read_to_string(cache.blob_path(&layer.digest))
                    .context("the app manifest layer is not UTF-8 text")?;
                let layer_types = manifest
                    .layers
                    .iter()
                    .map(|l| (l.digest.as_str(), l.media_type.as_str()))
                    .collect();
                let blob_path = |digest: &str| cache.blob_path(digest);
                format::materialize_app(&layer_types, &blob_path, &text, staging.path(), &dir)?;
            }
        }
        let parent = dir.parent().expect("app dirs have a parent");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("could not create `{}`", parent.display()))?;
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, &dir) {
            let _ = std::fs::remove_dir_all(&staged);
            // Another pull may have materialized it meanwhile.
            if !dir.join("skiff.toml").is_file() {
                return Err(e).with_context(|| format!("could not create `{}`", dir.display()));
            }
        }
    }
    Ok(Pulled {
        digest: digest.to_string(),
        kind,
        dir,
        component,
    })
}
