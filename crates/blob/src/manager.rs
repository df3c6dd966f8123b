//! The resolver: store label → backend.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_labels::LiveLabels;

use crate::config::{Backend, BlobConfig, SECTION, StoreConfig};
use crate::error::{ConfigError, Error, Result};
use crate::file_system::FileSystemStore;
use crate::memory::MemoryStore;
use crate::nats::NatsStore;
use crate::nats::buckets::{check_prefix, default_prefix};
use crate::store::{BlobStore, Limited, Limits};

/// What backs a label that no runtime-config section names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultBackend {
    /// A file-system store per label, `<dir>/<label>/`.
    FileSystem {
        /// The directory holding the stores, usually `<state dir>/blob`.
        dir: PathBuf,
    },
    /// A fresh in-memory store per label.
    Memory,
    /// None: opening an unconfigured label fails with [`Error::NoSuchStore`].
    None,
}

/// Builds a [`BlobManager`].
#[derive(Debug, Clone)]
pub struct BlobManagerBuilder {
    namespace: Option<String>,
    default: DefaultBackend,
    base_dir: PathBuf,
    limits: Limits,
}

impl BlobManagerBuilder {
    /// The app's name, which goes into the default NATS bucket prefix
    /// `skiff-<namespace>-<label>` (without one, `skiff-<label>`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Unconfigured labels get a file-system store `<state_dir>/blob/<label>/`.
    pub fn state_dir(mut self, state_dir: impl AsRef<Path>) -> Self {
        self.default = DefaultBackend::FileSystem {
            dir: state_dir.as_ref().join("blob"),
        };
        self
    }

    /// Sets what backs unconfigured labels.
    pub fn default_backend(mut self, default: DefaultBackend) -> Self {
        self.default = default;
        self
    }

    /// The directory relative `path`s in the runtime config are resolved
    /// against (the runtime config file's directory); default `.`.
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = dir.into();
        self
    }

    /// Limits for every store (a section may override `max_object_size`).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A manager with no configured stores, only the default.
    pub fn build(self) -> BlobManager {
        BlobManager {
            options: self,
            configured: LiveLabels::new(),
            defaults: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// A manager with the stores of `config`, all opened before this returns.
    pub async fn build_with(self, config: &BlobConfig) -> Result<BlobManager, ConfigError> {
        let manager = self.build();
        manager.apply(config).await?;
        Ok(manager)
    }
}

/// Maps store labels to backends, for every instance of an app.
///
/// Labels named by the runtime config get the backend of their section;
/// others get the [`DefaultBackend`], opened on first use and kept. The label
/// → backend map can be replaced while guests run ([`apply`](Self::apply)):
/// opens after the swap see the new backend, while containers already open
/// keep the old one until they are dropped.
///
/// ```
/// # async fn example() -> skiff_blob::Result<()> {
/// use skiff_blob::{BlobManager, BlobStore, DefaultBackend};
///
/// let manager = BlobManager::builder()
///     .default_backend(DefaultBackend::Memory)
///     .build();
/// let store = manager.open("default").await?;
/// store.create_container("photos").await?;
/// assert!(store.container_exists("photos").await?);
/// # Ok(())
/// # }
/// ```
pub struct BlobManager {
    options: BlobManagerBuilder,
    configured: LiveLabels<StoreConfig, Arc<Limited>>,
    defaults: tokio::sync::Mutex<HashMap<String, Arc<Limited>>>,
}

impl BlobManager {
    /// Starts a builder: no namespace, no default backend, default limits.
    pub fn builder() -> BlobManagerBuilder {
        BlobManagerBuilder {
            namespace: None,
            default: DefaultBackend::None,
            base_dir: PathBuf::from("."),
            limits: Limits::default(),
        }
    }

    /// The limits stores get unless their section overrides them.
    pub fn limits(&self) -> Limits {
        self.options.limits
    }

    /// The labels the runtime config names, sorted.
    pub fn configured_labels(&self) -> Vec<String> {
        self.configured.labels()
    }

    /// The store for `label`: its configured one, else the default.
    pub async fn open(&self, label: &str) -> Result<Arc<Limited>> {
        if let Some(store) = self.configured.get(label) {
            return Ok(store);
        }
        let mut defaults = self.defaults.lock().await;
        if let Some(store) = defaults.get(label) {
            return Ok(store.clone());
        }
        let no_such_store = || Error::NoSuchStore {
            label: label.to_string(),
        };
        let store: Arc<dyn BlobStore> = match &self.options.default {
            DefaultBackend::None => return Err(no_such_store()),
            DefaultBackend::Memory => Arc::new(MemoryStore::new()),
            DefaultBackend::FileSystem { dir } => {
                let root = default_dir(dir, label).ok_or_else(no_such_store)?;
                Arc::new(FileSystemStore::open(root).await?)
            }
        };
        let store = Arc::new(Limited::new(store, self.options.limits));
        defaults.insert(label.to_string(), store.clone());
        Ok(store)
    }

    /// Replaces the stores configured by the runtime config with those of
    /// `config`, all at once. Every new store is opened first; if any
    /// fails, nothing changes and the error names its section. Sections that
    /// did not change keep their store (and a memory store its data).
    pub async fn apply(&self, config: &BlobConfig) -> Result<(), ConfigError> {
        self.prepare(config).await?.commit();
        Ok(())
    }

    /// Opens what [`apply`](Self::apply) would, without putting it in use
    /// yet: a runtime-config reload prepares every capability's labels
    /// before it commits any, so that one failing changes none.
    pub async fn prepare(
        &self,
        config: &BlobConfig,
    ) -> Result<skiff_labels::Prepared<'_, StoreConfig, Arc<Limited>>, ConfigError> {
        self.configured
            .prepare(&config.stores, |label, section| {
                self.build_store(label, section)
            })
            .await
    }

    /// Makes `store` the backend of `label` (it gets this manager's limits);
    /// for backends built outside the runtime config.
    pub fn replace(&self, label: &str, store: Arc<dyn BlobStore>) {
        let store = Arc::new(Limited::new(store, self.options.limits));
        self.configured.replace(label, store);
    }

    async fn build_store(
        &self,
        label: &str,
        section: &StoreConfig,
    ) -> Result<Arc<Limited>, ConfigError> {
        let key = format!("{SECTION}.{label}");
        let open_error = |source| ConfigError::Open {
            label: label.to_string(),
            key: key.clone(),
            source,
        };
        let limits = Limits {
            max_object_size: section
                .max_object_size
                .unwrap_or(self.options.limits.max_object_size),
        };
        let store: Arc<dyn BlobStore> = match &section.backend {
            Backend::Memory => Arc::new(MemoryStore::new()),
            Backend::FileSystem { path } => {
                let root = self.options.base_dir.join(path);
                Arc::new(FileSystemStore::open(root).await.map_err(open_error)?)
            }
            Backend::Nats {
                config,
                bucket_prefix,
                jetstream_domain,
            } => {
                let prefix = match bucket_prefix {
                    Some(prefix) => prefix.clone(),
                    None => {
                        let prefix = default_prefix(self.options.namespace.as_deref(), label);
                        check_prefix(&prefix).map_err(|message| {
                            ConfigError::invalid(
                                format!("{key}.bucket_prefix"),
                                format!("needed: the default {message}"),
                            )
                        })?;
                        prefix
                    }
                };
                let config = (**config).clone().relative_to(&self.options.base_dir);
                let store = NatsStore::connect(
                    &config,
                    &prefix,
                    jetstream_domain.as_deref(),
                    limits.max_object_size,
                );
                Arc::new(store.await.map_err(open_error)?)
            }
        };
        Ok(Arc::new(Limited::new(store, limits)))
    }
}

/// `<dir>/<label>`, for labels that are safe as a directory name.
fn default_dir(dir: &Path, label: &str) -> Option<PathBuf> {
    let safe = !label.is_empty()
        && !label.starts_with('.')
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    safe.then(|| dir.join(label))
}
