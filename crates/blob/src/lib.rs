//! Skiff's blob-store capability: guests keep objects (named byte values) in
//! containers, and the operator decides where they are kept.
//!
//! Interface implemented: `wasi:blobstore/{types,container,blobstore}@0.2.0-draft`,
//! the version wasmCloud's blobstore providers and guests use. Object bodies
//! travel through ordinary `wasi:io` streams.
//!
//! `wasi:blobstore` names no store, so a component is granted exactly one
//! (`blob_stores = ["default"]` in its manifest) and every container it
//! creates or opens lives there; without the grant every call returns an
//! error naming it.
//!
//! The pieces:
//! - [`BlobStore`], the backend trait: containers, objects written whole and
//!   atomically, ranges, copy and move;
//! - backends: [`FileSystemStore`] (containers are directories, objects
//!   files; the default, under the app's state dir), [`MemoryStore`] and
//!   [`NatsStore`] (containers are NATS JetStream object stores);
//! - [`BlobManager`], the resolver from label to backend, built from the
//!   runtime config's `[blob_store.LABEL]` sections ([`BlobConfig`]) plus a
//!   default for other labels, and swappable while guests run;
//! - [`Limited`], which checks names and [`Limits`] (`max_object_size`) in
//!   front of every backend;
//! - the host side: [`BlobState`] per instance (the grant check lives in
//!   it), [`BlobHostView`] for the store data, and [`add_to_linker`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use skiff_blob::{BlobConfig, BlobHostView, BlobManager, BlobState, BlobView};
//! use wasmtime::component::{Linker, ResourceTable};
//!
//! struct Host {
//!     table: ResourceTable,
//!     blob: BlobState,
//! }
//!
//! impl BlobHostView for Host {
//!     fn blob(&mut self) -> BlobView<'_> {
//!         BlobView { state: &mut self.blob, table: &mut self.table }
//!     }
//! }
//!
//! # async fn example(engine: &wasmtime::Engine) -> anyhow::Result<()> {
//! // Once per app: the `[blob_store.*]` sections of the runtime config, and
//! // file-system stores under the state dir for every other label.
//! let runtime_config: toml::Table = toml::from_str(
//!     r#"
//!     [media]
//!     type = "file_system"
//!     path = "/srv/media"
//!     "#,
//! )?;
//! let manager = BlobManager::builder()
//!     .namespace("shop") // the app: default NATS buckets are `skiff-shop-<label>_…`
//!     .state_dir(".skiff")
//!     .build_with(&BlobConfig::from_toml(&runtime_config)?)
//!     .await?;
//! let manager = Arc::new(manager);
//!
//! // Once per component (with WASI's `wasi:io`, which carries the bodies).
//! let mut linker = Linker::<Host>::new(engine);
//! skiff_blob::add_to_linker(&mut linker)?;
//!
//! // Per instance: the component `api` granted `blob_stores = ["media"]`.
//! let host = Host {
//!     table: ResourceTable::new(),
//!     blob: BlobState::new(manager.clone(), Some("media".into()), "api".into()),
//! };
//! # let _ = host; Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
pub mod config;
mod error;
pub mod file_system;
mod host;
pub mod manager;
pub mod memory;
pub mod nats;
pub mod store;

pub use config::{Backend, BlobConfig, StoreConfig};
pub use error::{ConfigError, Error, Result};
pub use file_system::FileSystemStore;
pub use host::{
    BlobHostView, BlobState, BlobView, ContainerHandle, IncomingValue, NamesHandle, OutgoingValue,
    add_to_linker,
};
pub use manager::{BlobManager, BlobManagerBuilder, DefaultBackend};
pub use memory::MemoryStore;
pub use nats::NatsStore;
pub use store::{BlobStore, ByteRange, ContainerInfo, Limited, Limits, ObjectId, ObjectInfo};
