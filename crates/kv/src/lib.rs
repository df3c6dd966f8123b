//! Skiff's key-value capability: guests read and write stores by label, and
//! the operator decides what backs each label.
//!
//! Interfaces implemented, all on the same stores:
//! - `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft` (what wasmtime's
//!   `wasmtime-wasi-keyvalue` and wasmCloud serve);
//! - `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` (what Spin serves;
//!   adds compare-and-swap);
//! - Spin's `fermyon:spin/key-value@2.0.0`;
//! - Spin's `spin:key-value/key-value@3.0.0` (component-model `async func`s,
//!   so only callable from async tasks, i.e. WASI 0.3 guests).
//!
//! The pieces:
//! - [`Store`], the backend trait, written for what guests need (atomic
//!   increment and compare-and-swap, batches, paged listing);
//! - backends: [`memory`], [`embedded`] (durable SQLite, the default),
//!   [`redis`] (key-prefixed, reconnecting) and [`nats`] (a JetStream
//!   key-value bucket, over `skiff-nats`);
//! - [`KeyValueManager`], the resolver from label to backend, built from
//!   runtime config in Spin's shape ([`KeyValueConfig`]) plus a default for
//!   unnamed labels, and swappable while guests run;
//! - [`Limited`], which enforces [`Limits`] on keys and values in front of
//!   every backend;
//! - the host side: [`KvState`] per instance (the grant check lives in it),
//!   [`KvHostView`] for the store data, and [`add_to_linker`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use skiff_kv::{KeyValueConfig, KeyValueManager, KvHostView, KvState, KvView};
//! use wasmtime::component::{Linker, ResourceTable};
//!
//! struct Host {
//!     table: ResourceTable,
//!     kv: KvState,
//! }
//!
//! impl KvHostView for Host {
//!     fn kv(&mut self) -> KvView<'_> {
//!         KvView { state: &mut self.kv, table: &mut self.table }
//!     }
//! }
//!
//! # async fn example(engine: &wasmtime::Engine) -> anyhow::Result<()> {
//! // Once per app: `[key_value_store.*]` sections of the runtime config, and
//! // embedded stores under the state dir for every other label.
//! let runtime_config: toml::Table = toml::from_str(
//!     r#"
//!     [cache]
//!     type = "redis"
//!     url = "redis://127.0.0.1:6379"
//!     "#,
//! )?;
//! let manager = KeyValueManager::builder("my-app")
//!     .state_dir(".skiff")
//!     .build_with(&KeyValueConfig::from_toml(&runtime_config)?)
//!     .await?;
//! let manager = Arc::new(manager);
//!
//! // Once per component.
//! let mut linker = Linker::<Host>::new(engine);
//! skiff_kv::add_to_linker(&mut linker)?;
//! let granted: Arc<[String]> = vec!["default".to_string(), "cache".to_string()].into();
//!
//! // Per instance.
//! let host = Host {
//!     table: ResourceTable::new(),
//!     kv: KvState::new(manager.clone(), granted.clone()),
//! };
//! # let _ = host; Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
pub mod config;
pub mod embedded;
mod error;
mod host;
pub mod manager;
pub mod memory;
pub mod nats;
pub mod redis;
pub mod store;

pub use config::{Backend, KeyValueConfig, StoreConfig};
pub use error::{ConfigError, Error, Result};
pub use host::{KvHostView, KvState, KvView, add_to_linker};
pub use manager::{DefaultBackend, KeyValueManager, KeyValueManagerBuilder};
pub use store::{KeyPage, Limited, Limits, Store, all_keys};
