//! The resolver: store label → backend.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_labels::LiveLabels;

use crate::config::{Backend, KeyValueConfig, SECTION, StoreConfig};
use crate::embedded::EmbeddedStore;
use crate::error::{ConfigError, Error, Result};
use crate::memory::MemoryStore;
use crate::nats::NatsStore;
use crate::redis::RedisStore;
use crate::store::{Limited, Limits, Store};

/// What backs a label that no runtime-config section names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultBackend {
    /// An embedded (SQLite) store per label, `<dir>/<label>.db`.
    Embedded {
        /// The directory holding the files, usually `<state dir>/kv`.
        dir: PathBuf,
    },
    /// A fresh in-memory store per label.
    Memory,
    /// None: opening an unconfigured label fails with `no-such-store`.
    None,
}

/// Builds a [`KeyValueManager`].
#[derive(Debug, Clone)]
pub struct KeyValueManagerBuilder {
    namespace: String,
    default: DefaultBackend,
    base_dir: PathBuf,
    limits: Limits,
    max_open_stores: usize,
}

impl KeyValueManagerBuilder {
    /// Unconfigured labels get an embedded store `<state_dir>/kv/<label>.db`.
    pub fn state_dir(mut self, state_dir: impl AsRef<Path>) -> Self {
        self.default = DefaultBackend::Embedded {
            dir: state_dir.as_ref().join("kv"),
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

    /// Size limits for every store (sections may override key and value sizes).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many stores one instance may hold open at once (default 64).
    pub fn max_open_stores(mut self, max: usize) -> Self {
        self.max_open_stores = max;
        self
    }

    /// A manager with no configured stores, only the default.
    pub fn build(self) -> KeyValueManager {
        KeyValueManager {
            options: self,
            configured: LiveLabels::new(),
            defaults: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// A manager with the stores of `config`, all opened (and Redis reached)
    /// before this returns.
    pub async fn build_with(self, config: &KeyValueConfig) -> Result<KeyValueManager, ConfigError> {
        let manager = self.build();
        manager.apply(config).await?;
        Ok(manager)
    }
}

/// Maps store labels to backends, for every instance of an app.
///
/// Labels named by the runtime config get the backend of their section;
/// others get the [`DefaultBackend`], opened on first use and kept. The label
/// → backend map can be replaced while guests run ([`apply`](Self::apply),
/// [`replace`](Self::replace)): opens after the swap see the new backend,
/// while stores already open keep the old one until they are dropped.
pub struct KeyValueManager {
    options: KeyValueManagerBuilder,
    configured: LiveLabels<StoreConfig, Arc<dyn Store>>,
    defaults: tokio::sync::Mutex<HashMap<String, Arc<dyn Store>>>,
}

impl KeyValueManager {
    /// Starts a builder; `namespace` (the app's name) goes into the default
    /// Redis key prefix `skiff:<namespace>:<label>:` and NATS bucket
    /// `skiff-<namespace>-<label>`.
    pub fn builder(namespace: impl Into<String>) -> KeyValueManagerBuilder {
        KeyValueManagerBuilder {
            namespace: namespace.into(),
            default: DefaultBackend::None,
            base_dir: PathBuf::from("."),
            limits: Limits::default(),
            max_open_stores: 64,
        }
    }

    /// The size limits stores get unless their section overrides them.
    pub fn limits(&self) -> Limits {
        self.options.limits
    }

    /// How many stores one instance may hold open at once.
    pub fn max_open_stores(&self) -> usize {
        self.options.max_open_stores
    }

    /// The labels the runtime config names, sorted.
    pub fn configured_labels(&self) -> Vec<String> {
        self.configured.labels()
    }

    /// The backend for `label`: its configured store, else the default.
    pub async fn open(&self, label: &str) -> Result<Arc<dyn Store>> {
        if let Some(store) = self.configured.get(label) {
            return Ok(store);
        }
        let mut defaults = self.defaults.lock().await;
        if let Some(store) = defaults.get(label) {
            return Ok(store.clone());
        }
        let store: Arc<dyn Store> = match &self.options.default {
            DefaultBackend::None => None,
            DefaultBackend::Memory => Some(Arc::new(MemoryStore::new()) as Arc<dyn Store>),
            DefaultBackend::Embedded { dir } => match default_file(dir, label) {
                Some(path) => Some(Arc::new(EmbeddedStore::open(path, label).await?) as _),
                None => None,
            },
        }
        .ok_or_else(|| Error::NoSuchStore {
            label: label.to_string(),
        })?;
        let store: Arc<dyn Store> = Arc::new(Limited::new(store, self.options.limits));
        defaults.insert(label.to_string(), store.clone());
        Ok(store)
    }

    /// Replaces the stores configured by the runtime config with those of
    /// `config`, all at once. Every new backend is opened first; if any
    /// fails, nothing changes and the error names its section. Sections that
    /// did not change keep their backend (and a memory store its data).
    pub async fn apply(&self, config: &KeyValueConfig) -> Result<(), ConfigError> {
        self.prepare(config).await?.commit();
        Ok(())
    }

    /// Opens what [`apply`](Self::apply) would, without putting it in use
    /// yet: a runtime-config reload prepares every capability's labels
    /// before it commits any, so that one failing changes none.
    pub async fn prepare(
        &self,
        config: &KeyValueConfig,
    ) -> Result<skiff_labels::Prepared<'_, StoreConfig, Arc<dyn Store>>, ConfigError> {
        self.configured
            .prepare(&config.stores, |label, section| {
                self.build_store(label, section)
            })
            .await
    }

    /// Makes `store` the backend of `label` (it gets this manager's limits);
    /// for backends built outside the runtime config.
    pub fn replace(&self, label: &str, store: Arc<dyn Store>) {
        let store: Arc<dyn Store> = Arc::new(Limited::new(store, self.options.limits));
        self.configured.replace(label, store);
    }

    async fn build_store(
        &self,
        label: &str,
        section: &StoreConfig,
    ) -> Result<Arc<dyn Store>, ConfigError> {
        let key = format!("{SECTION}.{label}");
        let open_error = |source| ConfigError::Open {
            label: label.to_string(),
            key: key.clone(),
            source,
        };
        let store: Arc<dyn Store> = match &section.backend {
            Backend::Memory => Arc::new(MemoryStore::new()),
            Backend::Embedded { path } => {
                let path = match path {
                    Some(path) => self.options.base_dir.join(path),
                    None => self.default_path(label, &key)?,
                };
                Arc::new(EmbeddedStore::open(path, label).await.map_err(open_error)?)
            }
            Backend::Redis { url, prefix } => {
                let prefix = prefix
                    .clone()
                    .unwrap_or_else(|| format!("skiff:{}:{label}:", self.options.namespace));
                Arc::new(RedisStore::connect(url, prefix).await.map_err(open_error)?)
            }
            Backend::Nats {
                config,
                bucket,
                jetstream_domain,
            } => {
                let bucket = bucket
                    .clone()
                    .unwrap_or_else(|| default_bucket(&self.options.namespace, label));
                let config = (**config).clone().relative_to(&self.options.base_dir);
                let store = NatsStore::connect(&config, &bucket, jetstream_domain.as_deref());
                Arc::new(store.await.map_err(open_error)?)
            }
        };
        let limits = Limits {
            max_key_bytes: section
                .max_key_bytes
                .unwrap_or(self.options.limits.max_key_bytes),
            max_value_bytes: section
                .max_value_bytes
                .unwrap_or(self.options.limits.max_value_bytes),
            ..self.options.limits
        };
        Ok(Arc::new(Limited::new(store, limits)))
    }

    fn default_path(&self, label: &str, key: &str) -> Result<PathBuf, ConfigError> {
        let DefaultBackend::Embedded { dir } = &self.options.default else {
            return Err(ConfigError::invalid(
                format!("{key}.path"),
                "required: there is no state directory for a default file",
            ));
        };
        default_file(dir, label).ok_or_else(|| {
            ConfigError::invalid(
                format!("{key}.path"),
                format!("required: label `{label}` cannot name a file"),
            )
        })
    }
}

/// `skiff-<app>-<label>`, every character a bucket name may not hold as `_`.
fn default_bucket(namespace: &str, label: &str) -> String {
    format!("skiff-{namespace}-{label}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `<dir>/<label>.db`, for labels that are safe as a file name.
fn default_file(dir: &Path, label: &str) -> Option<PathBuf> {
    let safe = !label.is_empty()
        && !label.starts_with('.')
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    safe.then(|| dir.join(format!("{label}.db")))
}
