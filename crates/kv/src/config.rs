//! Runtime config for key-value stores, in the shape of Spin's
//! `runtime-config.toml`:
//!
//! ```toml
//! [key_value_store.default]
//! type = "embedded"          # or "spin" (Spin's name for it); `path` is optional
//! path = "data/default.db"   # relative to the runtime config's directory
//!
//! [key_value_store.cache]
//! type = "redis"
//! url = "redis://127.0.0.1:6379"
//! prefix = "shop:cache:"     # optional; default `skiff:<app>:<label>:`
//!
//! [key_value_store.shared]
//! type = "nats"              # a JetStream key-value bucket
//! url = "nats://127.0.0.1:4222"
//! bucket = "shop"            # optional; default `skiff-<app>-<label>`, made if missing
//! jetstream_domain = "hub"   # optional
//! # and the connection keys of `[message_broker.X]`: user/password, token,
//! # credentials_file, nkey_seed, ca_roots_file, client_cert_file, tls…
//!
//! [key_value_store.scratch]
//! type = "memory"
//! max_value_bytes = 65536    # optional, any type; also `max_key_bytes`
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use skiff_nats::NatsConfig;

use crate::error::ConfigError;

/// The name of the runtime-config table holding the store sections.
pub const SECTION: &str = "key_value_store";

/// Which backend holds a label's store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// `type = "memory"`: in the host process, lost when it exits.
    Memory,
    /// `type = "embedded"` or `"spin"`: a durable SQLite file; `None` means
    /// the default file for the label under the state directory.
    Embedded {
        /// The database file, as written (relative paths are resolved against
        /// the manager's base directory).
        path: Option<PathBuf>,
    },
    /// `type = "redis"`.
    Redis {
        /// `redis://[user:password@]host[:port][/db]`.
        url: String,
        /// Key prefix; `None` means `skiff:<app>:<label>:`.
        prefix: Option<String>,
    },
    /// `type = "nats"`: a JetStream key-value bucket.
    Nats {
        /// How to reach the server (relative file paths in it are resolved
        /// against the manager's base directory, as `path` is).
        config: Box<NatsConfig>,
        /// The bucket; `None` means `skiff-<app>-<label>`.
        bucket: Option<String>,
        /// The JetStream domain, if not the server's own.
        jetstream_domain: Option<String>,
    },
}

/// One `[key_value_store.LABEL]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The backend.
    pub backend: Backend,
    /// Overrides the manager's `max_key_bytes` for this store.
    pub max_key_bytes: Option<usize>,
    /// Overrides the manager's `max_value_bytes` for this store.
    pub max_value_bytes: Option<usize>,
}

impl StoreConfig {
    /// A section with just a backend.
    pub fn new(backend: Backend) -> Self {
        StoreConfig {
            backend,
            max_key_bytes: None,
            max_value_bytes: None,
        }
    }
}

/// Every configured store, by label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValueConfig {
    /// The sections, by label.
    pub stores: BTreeMap<String, StoreConfig>,
}

impl KeyValueConfig {
    /// Parses the value of the runtime config's `key_value_store` table (one
    /// sub-table per label). Errors name the full key, e.g.
    /// `key_value_store.cache.url`.
    pub fn from_toml(table: &toml::Table) -> Result<Self, ConfigError> {
        let mut config = KeyValueConfig::default();
        for (label, value) in table {
            let key = format!("{SECTION}.{label}");
            let section = value
                .as_table()
                .ok_or_else(|| ConfigError::invalid(&key, "expected a table"))?;
            config.insert_section(label, section)?;
        }
        Ok(config)
    }

    /// Parses one `[key_value_store.LABEL]` section and adds it.
    pub fn insert_section(
        &mut self,
        label: &str,
        section: &toml::Table,
    ) -> Result<(), ConfigError> {
        let store = parse_section(label, section)?;
        self.stores.insert(label.to_string(), store);
        Ok(())
    }
}

/// The store types, for messages.
const TYPES: &str = "\"memory\", \"embedded\", \"spin\", \"redis\", \"nats\"";

/// Whether `name` may name a JetStream key-value bucket.
pub(crate) fn valid_bucket(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn parse_section(label: &str, section: &toml::Table) -> Result<StoreConfig, ConfigError> {
    let key = |name: &str| format!("{SECTION}.{label}.{name}");
    let string = |name: &str| -> Result<Option<String>, ConfigError> {
        match section.get(name) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ConfigError::invalid(
                key(name),
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    };
    let size = |name: &str| -> Result<Option<usize>, ConfigError> {
        match section.get(name) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if *n > 0 => usize::try_from(*n)
                .map(Some)
                .map_err(|_| ConfigError::invalid(key(name), "too large")),
            Some(other) => Err(ConfigError::invalid(
                key(name),
                format!("expected a positive integer, found `{other}`"),
            )),
        }
    };

    let ty = string("type")?.ok_or_else(|| {
        ConfigError::invalid(key("type"), format!("missing; expected one of {TYPES}"))
    })?;
    let allowed: &[&str] = match ty.as_str() {
        "memory" => &[],
        "embedded" | "spin" => &["path"],
        "redis" => &["url", "prefix"],
        "nats" => &["bucket", "jetstream_domain"],
        other => {
            return Err(ConfigError::invalid(
                key("type"),
                format!("unsupported key-value store type \"{other}\"; expected one of {TYPES}"),
            ));
        }
    };
    for name in section.keys() {
        let common = ["type", "max_key_bytes", "max_value_bytes"];
        let connection = ty == "nats" && skiff_nats::CONNECTION_KEYS.contains(&name.as_str());
        if !common.contains(&name.as_str()) && !allowed.contains(&name.as_str()) && !connection {
            return Err(ConfigError::invalid(
                key(name),
                format!("unknown key for a store of type \"{ty}\""),
            ));
        }
    }

    let backend = match ty.as_str() {
        "memory" => Backend::Memory,
        "embedded" | "spin" => {
            let path = string("path")?;
            if path.as_deref() == Some("") {
                return Err(ConfigError::invalid(key("path"), "must not be empty"));
            }
            Backend::Embedded {
                path: path.map(PathBuf::from),
            }
        }
        "nats" => {
            // Relative paths stay relative here; the manager resolves them.
            let config =
                NatsConfig::from_section(&format!("{SECTION}.{label}"), section, Path::new(""))
                    .map_err(|err| ConfigError::invalid(err.key, err.message))?;
            let bucket = string("bucket")?;
            if let Some(bucket) = &bucket
                && !valid_bucket(bucket)
            {
                return Err(ConfigError::invalid(
                    key("bucket"),
                    format!("`{bucket}` is not a bucket name: use letters, digits, `-` and `_`"),
                ));
            }
            let jetstream_domain = string("jetstream_domain")?;
            if jetstream_domain.as_deref() == Some("") {
                return Err(ConfigError::invalid(
                    key("jetstream_domain"),
                    "must not be empty",
                ));
            }
            Backend::Nats {
                config: Box::new(config),
                bucket,
                jetstream_domain,
            }
        }
        _ => {
            let url = string("url")?.ok_or_else(|| {
                ConfigError::invalid(key("url"), "missing; expected \"redis://HOST:PORT\"")
            })?;
            if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                return Err(ConfigError::invalid(
                    key("url"),
                    "expected a \"redis://\" or \"rediss://\" (TLS) URL",
                ));
            }
            Backend::Redis {
                url,
                prefix: string("prefix")?,
            }
        }
    };
    Ok(StoreConfig {
        backend,
        max_key_bytes: size("max_key_bytes")?,
        max_value_bytes: size("max_value_bytes")?,
    })
}
