//! OCI distribution for Skiff: push apps and single Wasm components to an OCI
//! registry, pull them into a local content-addressed cache, and turn what was
//! pulled into a directory `skiff up` serves like any local app.
//!
//! - A single component is pushed as the CNCF TAG-Runtime Wasm OCI artifact
//!   (config `application/vnd.wasm.config.v0+json`, one `application/wasm`
//!   layer), the format `wkg oci`, wasmCloud and runwasi use; such artifacts
//!   pushed by other tools pull and run too.
//! - An app (`skiff.toml` / `spin.toml`) is pushed as Skiff's app artifact: the
//!   manifest with every `source` rewritten to a digest, one layer per
//!   component and per static file (a tar layer per component when it has many
//!   files). `docs/oci.md` describes the format.
//! - Everything pulled is verified against its digest before it is used or
//!   cached; blobs are written to a temporary file, checked and renamed, so the
//!   cache never holds a partial or foreign blob.
//! - Credentials come from Docker's `config.json` (`$DOCKER_CONFIG` or
//!   `~/.docker/config.json`, credential helpers included); [`auth::login`]
//!   checks and stores them there. oci-client does the bearer-token dance.
//!
//! This crate implements no WIT interface. The cache layout under
//! `<skiff cache dir>/oci/`:
//!
//! ```text
//! blobs/sha256/<hex>          every verified blob (manifests, configs, layers)
//! index.json                  `registry/repository:tag` → manifest digest
//! apps/<manifest hex>/        a materialized app: `skiff.toml` pointing at blobs
//! tmp/                        downloads in flight (same filesystem, for renames)
//! ```
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use skiff_oci::{Cache, Registry, RegistryOptions, parse_reference};
//!
//! let reference = parse_reference("127.0.0.1:5000/hello:v1")?;
//! let registry = Registry::new(&reference, &RegistryOptions { insecure: true, progress: false })?;
//! let digest = registry.push_path(&reference, "hello.wasm".as_ref(), &Default::default()).await?;
//! let cache = Cache::new("/tmp/skiff-cache".into());
//! let pulled = registry.pull(&reference, &cache).await?;
//! assert_eq!(pulled.digest, digest);
//! println!("serve {}", pulled.dir.display());
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod artifact;
pub mod auth;
mod cache;
mod dependencies;
mod error;
mod format;
mod progress;
mod pull;
mod push;
mod reference;
mod registry;

pub use artifact::{Artifact, LayerData, materialize_app_layers};
pub use cache::Cache;
pub use dependencies::fetch_dependencies;
pub use error::Error;
pub use pull::{ArtifactKind, Pulled};
pub use push::PushOptions;
pub use reference::{looks_like_remote_reference, parse_reference};
pub use registry::{Registry, RegistryOptions};

pub use oci_client::Reference;
pub use oci_client::secrets::RegistryAuth;

/// Media types of the artifacts Skiff reads and writes.
pub mod media_types {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// Docker's image manifest (read only).
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Config of the Wasm OCI artifact (a single component or module).
    pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
    /// The Wasm layer of the Wasm OCI artifact; also each component layer of an app.
    pub const WASM_LAYER: &str = "application/wasm";
    /// Spin's component layer (read only, as a single-component artifact layer).
    pub const SPIN_WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
    /// Config of a Skiff app artifact.
    pub const APP_CONFIG: &str = "application/vnd.skiff.app.config.v1+json";
    /// The app's `skiff.toml`, sources rewritten to digests.
    pub const APP_MANIFEST: &str = "application/vnd.skiff.app.manifest.v1+toml";
    /// One static file, mounted read-only at its `destination`.
    pub const FILE_LAYER: &str = "application/vnd.wasm.content.layer.v1+data";
    /// A tar of static files, unpacked into a directory mounted at its `destination`.
    pub const FILES_TAR_LAYER: &str = "application/vnd.skiff.files.v1.tar";
}
