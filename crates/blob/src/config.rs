//! Runtime config for blob stores:
//!
//! ```toml
//! [blob_store.default]
//! type = "file_system"        # containers are directories, objects files
//! path = "data/blobs"         # relative to the runtime config's directory
//! max_object_size = "256MiB"  # optional, any type; default 64 MiB
//!
//! [blob_store.scratch]
//! type = "memory"             # in the host process, gone when it exits
//!
//! [blob_store.media]
//! type = "nats"               # a JetStream object store per container
//! url = "nats://127.0.0.1:4222"
//! bucket_prefix = "media"     # optional; default `skiff-<app>-<label>`
//! jetstream_domain = "hub"    # optional
//! # and the connection keys of `[message_broker.X]`: user/password, token,
//! # credentials_file, nkey_seed, ca_roots_file, client_cert_file, tls…
//! ```
//!
//! A label without a section gets a file-system store under the app's state
//! directory (see [`BlobManager`](crate::BlobManager)).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use skiff_nats::NatsConfig;

use crate::error::ConfigError;
use crate::nats::buckets::check_prefix;

/// The name of the runtime-config table holding the store sections.
pub const SECTION: &str = "blob_store";

const TYPES: &str = "\"file_system\", \"memory\", \"nats\"";

/// Which backend holds a label's store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// `type = "memory"`.
    Memory,
    /// `type = "file_system"`: the store's root directory, as written
    /// (relative paths are resolved against the manager's base directory).
    FileSystem {
        /// The root directory.
        path: PathBuf,
    },
    /// `type = "nats"`: a JetStream object store (bucket) per container.
    Nats {
        /// How to reach the server (relative file paths in it are resolved
        /// against the manager's base directory, as `path` is).
        config: Box<NatsConfig>,
        /// What bucket names start with; `None` means
        /// `skiff-<app>-<label>`.
        bucket_prefix: Option<String>,
        /// The JetStream domain, if not the server's own.
        jetstream_domain: Option<String>,
    },
}

/// One `[blob_store.LABEL]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The backend.
    pub backend: Backend,
    /// Overrides the manager's `max_object_size` for this store.
    pub max_object_size: Option<u64>,
}

impl StoreConfig {
    /// A section with just a backend.
    pub fn new(backend: Backend) -> Self {
        StoreConfig {
            backend,
            max_object_size: None,
        }
    }
}

/// Every configured store, by label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobConfig {
    /// The sections, by label.
    pub stores: BTreeMap<String, StoreConfig>,
}

impl BlobConfig {
    /// Parses the value of the runtime config's `blob_store` table (one
    /// sub-table per label). Errors name the full key, e.g.
    /// `blob_store.media.path`.
    pub fn from_toml(table: &toml::Table) -> Result<Self, ConfigError> {
        let mut config = BlobConfig::default();
        for (label, value) in table {
            let section = value.as_table().ok_or_else(|| {
                ConfigError::invalid(format!("{SECTION}.{label}"), "expected a table")
            })?;
            config
                .stores
                .insert(label.clone(), parse_section(label, section)?);
        }
        Ok(config)
    }
}

fn parse_section(label: &str, section: &toml::Table) -> Result<StoreConfig, ConfigError> {
    let key = |name: &str| format!("{SECTION}.{label}.{name}");
    let string = |name: &str| -> Result<Option<&str>, ConfigError> {
        match section.get(name) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ConfigError::invalid(
                key(name),
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    };
    let ty = string("type")?.ok_or_else(|| {
        ConfigError::invalid(key("type"), format!("missing; expected one of {TYPES}"))
    })?;
    let allowed: &[&str] = match ty {
        "memory" => &["type", "max_object_size"],
        "file_system" => &["type", "path", "max_object_size"],
        "nats" => &[
            "type",
            "bucket_prefix",
            "jetstream_domain",
            "max_object_size",
        ],
        other => {
            return Err(ConfigError::invalid(
                key("type"),
                format!("unsupported blob store type \"{other}\"; expected one of {TYPES}"),
            ));
        }
    };
    let known = |name: &str| {
        allowed.contains(&name) || (ty == "nats" && skiff_nats::CONNECTION_KEYS.contains(&name))
    };
    if let Some(name) = section.keys().find(|k| !known(k)) {
        return Err(ConfigError::invalid(
            key(name),
            format!("unknown key for a blob store of type \"{ty}\""),
        ));
    }
    let backend = match ty {
        "memory" => Backend::Memory,
        "nats" => {
            // Relative paths stay relative here; the manager resolves them.
            let config =
                NatsConfig::from_section(&format!("{SECTION}.{label}"), section, Path::new(""))
                    .map_err(|err| ConfigError::invalid(err.key, err.message))?;
            let bucket_prefix = string("bucket_prefix")?;
            if let Some(prefix) = bucket_prefix {
                check_prefix(prefix).map_err(|m| ConfigError::invalid(key("bucket_prefix"), m))?;
            }
            let jetstream_domain = string("jetstream_domain")?;
            if let Some(domain) = jetstream_domain {
                check_domain(domain)
                    .map_err(|m| ConfigError::invalid(key("jetstream_domain"), m))?;
            }
            Backend::Nats {
                config: Box::new(config),
                bucket_prefix: bucket_prefix.map(str::to_string),
                jetstream_domain: jetstream_domain.map(str::to_string),
            }
        }
        _ => match string("path")? {
            Some("") => return Err(ConfigError::invalid(key("path"), "must not be empty")),
            Some(path) => Backend::FileSystem {
                path: PathBuf::from(path),
            },
            None => {
                return Err(ConfigError::invalid(
                    key("path"),
                    "missing; a \"file_system\" store needs the directory it keeps its \
                     containers in",
                ));
            }
        },
    };
    let max_object_size = match section.get("max_object_size") {
        None => None,
        Some(value) => {
            Some(parse_size(value).map_err(|m| ConfigError::invalid(key("max_object_size"), m))?)
        }
    };
    Ok(StoreConfig {
        backend,
        max_object_size,
    })
}

/// Why `domain` cannot be a JetStream domain (one token of a subject), if
/// it cannot.
fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("must not be empty".to_string());
    }
    if domain
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>'))
    {
        return Err(format!(
            "`{domain}` is not a JetStream domain: no spaces, `.`, `*` or `>`"
        ));
    }
    Ok(())
}

/// A positive size: bytes as an integer, or a string such as `"64MiB"`.
fn parse_size(value: &toml::Value) -> Result<u64, String> {
    let size = match value {
        toml::Value::Integer(n) => {
            u64::try_from(*n).map_err(|_| format!("expected a size, not {n}"))?
        }
        toml::Value::String(s) => skiff_manifest::parse_size(s)?,
        other => {
            return Err(format!(
                "expected a size such as \"64MiB\", found {}",
                other.type_str()
            ));
        }
    };
    if size == 0 {
        return Err("must be more than 0 bytes".to_string());
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BlobConfig, String> {
        let table: toml::Table = toml::from_str(text).unwrap();
        BlobConfig::from_toml(&table).map_err(|e| e.to_string())
    }

    #[test]
    fn sections() {
        let config = parse(
            "[media]\ntype = \"file_system\"\npath = \"data/blobs\"\nmax_object_size = \"1MiB\"\n\
             [scratch]\ntype = \"memory\"\nmax_object_size = 10\n",
        )
        .unwrap();
        assert_eq!(
            config.stores["media"],
            StoreConfig {
                backend: Backend::FileSystem {
                    path: "data/blobs".into()
                },
                max_object_size: Some(1024 * 1024),
            }
        );
        assert_eq!(config.stores["scratch"].backend, Backend::Memory);
        assert_eq!(config.stores["scratch"].max_object_size, Some(10));
    }

    #[test]
    fn nats_sections_take_the_connection_keys() {
        let config = parse(
            "[media]\ntype = \"nats\"\nurl = [\"nats://a:4222\", \"b:4222\"]\n\
             user = \"app\"\npassword = \"pw\"\nca_roots_file = \"certs/ca.pem\"\n\
             connect_timeout = \"2s\"\nbucket_prefix = \"shop-media\"\n\
             jetstream_domain = \"hub\"\nmax_object_size = \"1MiB\"\n\
             [plain]\ntype = \"nats\"\nurl = \"nats://h:4222\"\n",
        )
        .unwrap();
        let Backend::Nats {
            config: nats,
            bucket_prefix,
            jetstream_domain,
        } = &config.stores["media"].backend
        else {
            panic!("{:?}", config.stores["media"]);
        };
        assert_eq!(nats.urls, ["nats://a:4222", "b:4222"]);
        assert_eq!(nats.user.as_deref(), Some("app"));
        assert_eq!(
            nats.ca_roots_file.as_deref(),
            Some(Path::new("certs/ca.pem")),
            "relative: the manager resolves it"
        );
        assert_eq!(nats.connect_timeout, std::time::Duration::from_secs(2));
        assert_eq!(bucket_prefix.as_deref(), Some("shop-media"));
        assert_eq!(jetstream_domain.as_deref(), Some("hub"));
        assert_eq!(config.stores["media"].max_object_size, Some(1024 * 1024));
        assert_eq!(
            config.stores["plain"].backend,
            Backend::Nats {
                config: Box::new(NatsConfig::new("nats://h:4222")),
                bucket_prefix: None,
                jetstream_domain: None,
            }
        );
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                "[a]\ntype = \"s3\"\n",
                "`blob_store.a.type`: unsupported blob store type \"s3\"",
            ),
            ("[a]\npath = \"x\"\n", "`blob_store.a.type`: missing"),
            (
                "[a]\ntype = \"file_system\"\n",
                "`blob_store.a.path`: missing",
            ),
            (
                "[a]\ntype = \"file_system\"\npath = \"\"\n",
                "`blob_store.a.path`: must not be empty",
            ),
            (
                "[a]\ntype = \"memory\"\npath = \"x\"\n",
                "`blob_store.a.path`: unknown key",
            ),
            (
                "[a]\ntype = \"memory\"\nmax_object_size = 0\n",
                "`blob_store.a.max_object_size`: must be more",
            ),
            (
                "[a]\ntype = \"memory\"\nmax_object_size = \"lots\"\n",
                "`blob_store.a.max_object_size`: ",
            ),
            (
                "[a]\ntype = 1\n",
                "`blob_store.a.type`: expected a string, found integer",
            ),
            ("a = 1\n", "`blob_store.a`: expected a table"),
            ("[a]\ntype = \"nats\"\n", "`blob_store.a.url`: missing"),
            (
                "[a]\ntype = \"nats\"\nurl = \"redis://h:1\"\n",
                "`blob_store.a.url`: unsupported scheme `redis://`",
            ),
            (
                "[a]\ntype = \"nats\"\nurl = \"h:1\"\npath = \"x\"\n",
                "`blob_store.a.path`: unknown key for a blob store of type \"nats\"",
            ),
            (
                "[a]\ntype = \"nats\"\nurl = \"h:1\"\nbucket = \"x\"\n",
                "`blob_store.a.bucket`: unknown key",
            ),
            (
                "[a]\ntype = \"file_system\"\npath = \"x\"\nurl = \"h:1\"\n",
                "`blob_store.a.url`: unknown key for a blob store of type \"file_system\"",
            ),
            (
                "[a]\ntype = \"nats\"\nurl = \"h:1\"\nuser = \"u\"\n",
                "`blob_store.a.password`: missing",
            ),
            (
                "[a]\ntype = \"nats\"\nurl = \"h:1\"\ntoken = \"t\"\nnkey_seed = \"s\"\n",
                "`blob_store.a`: more than one way to authenticate",
            ),
            (
                "[a]\ntype = \"nats\"\nurl = \"h:1\"\nconnect_timeout = 5\n",
                "`blob_store.a.connect_timeout`: expected a duration",
            ),
            (
                "[a]\ntype = \"nats\"\nurl = \"h:1\"\nbucket_prefix = \"a.b\"\n",
                "`blob_store.a.bucket_prefix`: `a.b` cannot start a bucket name",
            ),
            (
                "[a]\ntype = \"nats\"\nurl = \"h:1\"\nbucket_prefix = \"\"\n",
                "`blob_store.a.bucket_prefix`: must not be empty",
            ),
            (
                "[a]\ntype = \"nats\"\nurl = \"h:1\"\nbucket_prefix = 1\n",
                "`blob_store.a.bucket_prefix`: expected a string, found integer",
            ),
            (
                "[a]\ntype = \"nats\"\nurl = \"h:1\"\njetstream_domain = \"a.b\"\n",
                "`blob_store.a.jetstream_domain`: `a.b` is not a JetStream domain",
            ),
            (
                "[a]\ntype = \"nats\"\nurl = \"h:1\"\nmax_object_size = 0\n",
                "`blob_store.a.max_object_size`: must be more",
            ),
        ];
        for (text, needle) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(needle), "{text:?}: {err}");
        }
    }
}
