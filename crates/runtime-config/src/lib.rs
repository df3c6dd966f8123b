//! The operator's runtime config: which backend serves each capability label.
//!
//! The file has the shape of Spin's `runtime-config.toml`, so an existing one
//! works unchanged:
//!
//! ```toml
//! [key_value_store.default]
//! type = "redis"
//! url = "redis://127.0.0.1:6379"
//!
//! [[variables_provider]]
//! type = "env"
//!
//! [outbound_http]              # Skiff's limits; Spin's two keys are accepted too
//! connect_timeout = "5s"       # default 10s; a guest may ask for less, never more
//! first_byte_timeout = "30s"   # default 60s
//! between_bytes_timeout = "30s" # default 60s
//! max_response_size = "16MiB"  # default: no limit
//! max_concurrent_requests = 64 # per app, default: no limit
//! connection_pooling = true    # keep connections alive between requests (default)
//! h2c_prior_knowledge = ["grpc.internal:50051"] # http:// authorities sent clear-text HTTP/2
//!
//! [[client_tls]]               # Spin's: TLS for some components' HTTPS requests
//! component_ids = ["api"]
//! hosts = ["internal.example.com", "10.0.0.7:8443"] # host (any port) or host:port
//! ca_roots_file = "certs/internal-ca.pem"  # paths are relative to this file
//! ca_use_webpki_roots = false  # default: true unless ca_roots_file is given
//! client_cert_file = "certs/api.pem"       # mutual TLS: both or neither
//! client_private_key_file = "certs/api.key"
//!
//! [outbound_networking]        # Spin's: addresses no component may reach
//! block_networks = ["10.0.0.0/8", "private"]   # CIDR, address, or `private`
//!
//! [message_broker.default]     # Skiff's: NATS behind a broker label
//! type = "nats"                # or "memory" (the embedded default)
//! url = "nats://127.0.0.1:4222"
//!
//! [blob_store.default]         # Skiff's: where wasi:blobstore containers live
//! type = "file_system"         # or "memory"; default: a directory under the state dir
//! path = "data/blobs"          # relative to this file
//! max_object_size = "64MiB"    # the default
//! ```
//!
//! Each capability parses its own section (`skiff_kv::KeyValueConfig` for
//! `key_value_store`); this crate reads the file, rejects unknown top-level
//! keys with a hint, and hands each section on. The app's manifest never names
//! a backend: labels the file does not mention get the embedded defaults under
//! the app's state dir.
//!
//! ```no_run
//! let config = skiff_runtime_config::RuntimeConfig::load(std::path::Path::new("runtime-config.toml"))?;
//! println!("{} key-value sections", config.key_value.stores.len());
//! # Ok::<(), skiff_runtime_config::Error>(())
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_blob::BlobConfig;
use skiff_kv::KeyValueConfig;
use skiff_messaging::MessagingConfig;
use skiff_outbound_networking::{
    BlockedNetworks, ClientTls, ClientTlsEntry, H2cPriorKnowledge, OutboundHttpLimits,
};
use skiff_sqlite::SqliteConfig;

/// Top-level tables a runtime config may hold.
const KNOWN: &[&str] = &[
    "key_value_store",
    "variables_provider",
    "sqlite_database",
    "outbound_http",
    "client_tls",
    "outbound_networking",
    "message_broker",
    "blob_store",
];

/// Keys of a `[[client_tls]]` entry.
const CLIENT_TLS_KEYS: &[&str] = &[
    "component_ids",
    "hosts",
    "ca_use_webpki_roots",
    "ca_roots_file",
    "client_cert_file",
    "client_private_key_file",
];

/// Keys of `[outbound_http]`.
const OUTBOUND_HTTP_KEYS: &[&str] = &[
    "connect_timeout",
    "first_byte_timeout",
    "between_bytes_timeout",
    "max_response_size",
    "max_concurrent_requests",
    "connection_pooling",
    "h2c_prior_knowledge",
];

/// A runtime config error; every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("could not read runtime config `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("runtime config `{path}` is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key or value is wrong.
    #[error("runtime config `{path}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// A parsed runtime config.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// The file it came from (`None` for the built-in empty config).
    pub path: Option<PathBuf>,
    /// `[key_value_store.LABEL]` sections.
    pub key_value: KeyValueConfig,
    /// `[[variables_provider]]` entries, verbatim (parsed by the variables capability).
    pub variables_providers: Vec<toml::Table>,
    /// `[sqlite_database.LABEL]` sections.
    pub sqlite: SqliteConfig,
    /// `[outbound_http]`: limits on outbound HTTP (defaults when absent).
    pub outbound_http: OutboundHttpLimits,
    /// `[[client_tls]]` entries, their files read: the TLS client configuration
    /// of some components' HTTPS requests.
    pub client_tls: Arc<ClientTls>,
    /// `[outbound_networking] block_networks`: addresses no component may
    /// connect to, whatever its grants.
    pub blocked_networks: BlockedNetworks,
    /// `[message_broker.LABEL]` sections.
    pub messaging: MessagingConfig,
    /// `[blob_store.LABEL]` sections.
    pub blob: BlobConfig,
}

impl RuntimeConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` as the contents of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let invalid = |message: String| Error::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| Error::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut config = RuntimeConfig {
            path: Some(path.to_path_buf()),
            ..RuntimeConfig::default()
        };
        for (key, value) in &table {
            match key.as_str() {
                "key_value_store" => {
                    let sections = value.as_table().ok_or_else(|| {
                        invalid("`key_value_store`: expected a table of stores".into())
                    })?;
                    config.key_value =
                        KeyValueConfig::from_toml(sections).map_err(|e| invalid(e.to_string()))?;
                }
                "variables_provider" => {
                    let list = value.as_array().ok_or_else(|| {
                        invalid("`variables_provider`: expected an array of tables (`[[variables_provider]]`)".into())
                    })?;
                    for (i, entry) in list.iter().enumerate() {
                        let entry = entry.as_table().ok_or_else(|| {
                            invalid(format!("`variables_provider[{i}]`: expected a table"))
                        })?;
                        config.variables_providers.push(entry.clone());
                    }
                }
                "sqlite_database" => {
                    let sections = value.as_table().ok_or_else(|| {
                        invalid("`sqlite_database`: expected a table of databases".into())
                    })?;
                    config.sqlite =
                        SqliteConfig::from_toml(sections).map_err(|e| invalid(e.to_string()))?;
                }
                "outbound_http" => {
                    let table = value.as_table().ok_or_else(|| {
                        invalid("`outbound_http`: expected a table (`[outbound_http]`)".into())
                    })?;
                    config.outbound_http = outbound_http(table).map_err(invalid)?;
                }
                "outbound_networking" => {
                    let table = value.as_table().ok_or_else(|| {
                        invalid(
                            "`outbound_networking`: expected a table (`[outbound_networking]`)"
                                .into(),
                        )
                    })?;
                    config.blocked_networks = outbound_networking(table).map_err(invalid)?;
                }
                "message_broker" => {
                    let sections = value.as_table().ok_or_else(|| {
                        invalid("`message_broker`: expected a table of brokers".into())
                    })?;
                    let base = path.parent().unwrap_or(Path::new("."));
                    config.messaging =
                        MessagingConfig::from_toml(sections, base).map_err(invalid)?;
                }
                "blob_store" => {
                    let sections = value.as_table().ok_or_else(|| {
                        invalid("`blob_store`: expected a table of stores".into())
                    })?;
                    config.blob =
                        BlobConfig::from_toml(sections).map_err(|e| invalid(e.to_string()))?;
                }
                "client_tls" => {
                    let list = value.as_array().ok_or_else(|| {
                        invalid(
                            "`client_tls`: expected an array of tables (`[[client_tls]]`)".into(),
                        )
                    })?;
                    let base = path.parent().unwrap_or(Path::new("."));
                    config.client_tls = Arc::new(client_tls(list, base).map_err(invalid)?);
                }
                other => {
                    let hint = KNOWN
                        .iter()
                        .min_by_key(|k| distance(k, other))
                        .filter(|k| distance(k, other) <= 3)
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default();
                    return Err(invalid(format!(
                        "unknown key `{other}`{hint}; expected one of {}",
                        one_of(KNOWN)
                    )));
                }
            }
        }
        Ok(config)
    }

    /// The directory relative paths in the file resolve against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// Reads `[outbound_http]`.
fn outbound_http(table: &toml::Table) -> Result<OutboundHttpLimits, String> {
    let mut limits = OutboundHttpLimits::default();
    for (key, value) in table {
        let at = format!("`outbound_http.{key}`");
        let text = || {
            value
                .as_str()
                .ok_or_else(|| format!("{at}: expected a string such as \"10s\""))
        };
        let duration = || skiff_manifest::parse_duration(text()?).map_err(|e| format!("{at}: {e}"));
        match key.as_str() {
            "connect_timeout" => limits.connect_timeout = duration()?,
            "first_byte_timeout" => limits.first_byte_timeout = duration()?,
            "between_bytes_timeout" => limits.between_bytes_timeout = duration()?,
            "max_response_size" => {
                let size = match value {
                    toml::Value::Integer(n) => {
                        u64::try_from(*n).map_err(|_| format!("{at}: expected a size, not {n}"))?
                    }
                    toml::Value::String(s) => {
                        skiff_manifest::parse_size(s).map_err(|e| format!("{at}: {e}"))?
                    }
                    _ => return Err(format!("{at}: expected a size such as \"16MiB\"")),
                };
                limits.max_response_size = Some(size);
            }
            "max_concurrent_requests" => {
                let n = value
                    .as_integer()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{at}: expected a positive number of requests"))?;
                limits.max_concurrent_requests = Some(n);
            }
            "connection_pooling" => {
                limits.connection_pooling = value
                    .as_bool()
                    .ok_or_else(|| format!("{at}: expected `true` or `false`"))?;
            }
            "h2c_prior_knowledge" => {
                let expected = || format!("{at}: expected a list of \"host:port\" strings");
                let entries = value
                    .as_array()
                    .ok_or_else(expected)?
                    .iter()
                    .map(|entry| entry.as_str().ok_or_else(expected))
                    .collect::<Result<Vec<_>, _>>()?;
                limits.h2c_prior_knowledge =
                    H2cPriorKnowledge::parse(&at, entries).map_err(|e| e.to_string())?;
            }
            other => {
                return Err(format!(
                    "unknown key `outbound_http.{other}`; expected one of {}",
                    one_of(OUTBOUND_HTTP_KEYS)
                ));
            }
        }
    }
    Ok(limits)
}

/// Reads `[outbound_networking]`.
fn outbound_networking(table: &toml::Table) -> Result<BlockedNetworks, String> {
    if let Some(other) = table.keys().find(|k| *k != "block_networks") {
        return Err(format!(
            "unknown key `outbound_networking.{other}`; expected `block_networks`"
        ));
    }
    let Some(list) = table.get("block_networks") else {
        return Ok(BlockedNetworks::default());
    };
    let at = "`outbound_networking.block_networks`";
    let entries = list
        .as_array()
        .and_then(|list| {
            list.iter()
                .map(toml::Value::as_str)
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            format!("{at}: expected an array of strings such as [\"10.0.0.0/8\", \"private\"]")
        })?;
    BlockedNetworks::parse(&entries).map_err(|e| format!("{at}: {e}"))
}

/// Reads the `[[client_tls]]` entries, their files relative to `base`.
fn client_tls(list: &[toml::Value], base: &Path) -> Result<ClientTls, String> {
    use skiff_outbound_networking::pki_types::pem::PemObject;
    use skiff_outbound_networking::pki_types::{CertificateDer, PrivateKeyDer};
    let mut entries = Vec::new();
    for (i, value) in list.iter().enumerate() {
        let n = i + 1;
        let at = |key: &str| format!("`[[client_tls]]` entry {n}: `{key}`");
        let table = value
            .as_table()
            .ok_or_else(|| format!("`[[client_tls]]` entry {n}: expected a table"))?;
        if let Some(other) = table
            .keys()
            .find(|k| !CLIENT_TLS_KEYS.contains(&k.as_str()))
        {
            return Err(format!(
                "`[[client_tls]]` entry {n}: unknown key `{other}`; expected one of {}",
                one_of(CLIENT_TLS_KEYS)
            ));
        }
        let strings = |key: &str| -> Result<Vec<String>, String> {
            let list = table
                .get(key)
                .ok_or_else(|| format!("`[[client_tls]]` entry {n}: `{key}` is required"))?
                .as_array()
                .ok_or_else(|| format!("{}: expected an array of strings", at(key)))?;
            let list = list
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{}: expected an array of strings", at(key)))?;
            if list.is_empty() {
                return Err(format!("{}: may not be empty", at(key)));
            }
            Ok(list)
        };
        let file = |key: &str| -> Result<Option<PathBuf>, String> {
            match table.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_str()
                    .map(|p| Some(base.join(p)))
                    .ok_or_else(|| format!("{}: expected a file path", at(key))),
            }
        };
        let components = strings("component_ids")?;
        let hosts = strings("hosts")?
            .iter()
            .map(|h| h.parse().map_err(|e| format!("{}: {e}", at("hosts"))))
            .collect::<Result<Vec<_>, String>>()?;
        let certs = |key: &str, path: &Path| -> Result<Vec<CertificateDer<'static>>, String> {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("{} `{}`: {e}", at(key), path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "{} `{}`: holds no PEM certificate",
                    at(key),
                    path.display()
                ));
            }
            Ok(certs)
        };
        let ca_roots = file("ca_roots_file")?;
        let roots = match &ca_roots {
            Some(path) => certs("ca_roots_file", path)?,
            None => Vec::new(),
        };
        let use_webpki_roots = match table.get("ca_use_webpki_roots") {
            None => ca_roots.is_none(),
            Some(v) => v.as_bool().ok_or_else(|| {
                format!("{}: expected `true` or `false`", at("ca_use_webpki_roots"))
            })?,
        };
        let identity = match (file("client_cert_file")?, file("client_private_key_file")?) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let chain = certs("client_cert_file", &cert)?;
                let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
                    format!("{} `{}`: {e}", at("client_private_key_file"), key.display())
                })?;
                Some((chain, key))
            }
            (Some(_), None) => {
                return Err(format!(
                    "`[[client_tls]]` entry {n}: `client_cert_file` needs `client_private_key_file`"
                ));
            }
            (None, Some(_)) => {
                return Err(format!(
                    "`[[client_tls]]` entry {n}: `client_private_key_file` needs `client_cert_file`"
                ));
            }
        };
        entries.push(ClientTlsEntry {
            components,
            hosts,
            use_webpki_roots,
            roots,
            identity,
        });
    }
    ClientTls::new(entries)
}

/// `keys` as a list for an error message: "`a`, `b`, `c`".
fn one_of(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spin_shape() {
        let c = RuntimeConfig::parse(
            Path::new("rc.toml"),
            r#"
            [key_value_store.default]
            type = "memory"
            [[variables_provider]]
            type = "env"
            [sqlite_database.default]
            type = "spin"
            "#,
        )
        .unwrap();
        assert_eq!(c.key_value.stores.len(), 1);
        assert_eq!(c.variables_providers.len(), 1);
        assert_eq!(c.sqlite.databases.len(), 1);
        assert_eq!(c.outbound_http, OutboundHttpLimits::default());
    }

    #[test]
    fn outbound_http_limits() {
        let c = RuntimeConfig::parse(
            Path::new("rc.toml"),
            r#"
            [outbound_http]
            connect_timeout = "2s"
            first_byte_timeout = "500ms"
            max_response_size = "1KiB"
            max_concurrent_requests = 3
            connection_pooling = false
            "#,
        )
        .unwrap();
        let l = c.outbound_http;
        assert_eq!(l.connect_timeout, std::time::Duration::from_secs(2));
        assert_eq!(l.first_byte_timeout, std::time::Duration::from_millis(500));
        assert_eq!(l.between_bytes_timeout, std::time::Duration::from_secs(60));
        assert_eq!(l.max_response_size, Some(1024));
        assert_eq!(l.max_concurrent_requests, Some(3));
        assert!(!l.connection_pooling);
        assert!(OutboundHttpLimits::default().connection_pooling);

        let err = RuntimeConfig::parse(
            Path::new("rc.toml"),
            "[outbound_http]\nconnect_timeout = \"soon\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "runtime config `rc.toml`: `outbound_http.connect_timeout`: invalid duration `soon`"
            ),
            "{err}"
        );
        let err = RuntimeConfig::parse(Path::new("rc.toml"), "[outbound_http]\nmax_size = 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown key `outbound_http.max_size`"),
            "{err}"
        );
    }

    #[test]
    fn h2c_prior_knowledge() {
        let c = RuntimeConfig::parse(
            Path::new("rc.toml"),
            "[outbound_http]\nh2c_prior_knowledge = [\"grpc:50051\", \"mesh:80\"]\n",
        )
        .unwrap();
        let h2c = &c.outbound_http.h2c_prior_knowledge;
        let target = |url| skiff_outbound_networking::OutboundTarget::from_url(url).unwrap();
        assert!(h2c.matches(&target("http://grpc:50051/")));
        assert!(h2c.matches(&target("http://mesh/")));
        assert!(!h2c.matches(&target("https://grpc:50051/")));
        assert!(OutboundHttpLimits::default().h2c_prior_knowledge.is_empty());

        for (value, message) in [
            (
                "[\"grpc:50051\", \"grpc\"]",
                "runtime config `rc.toml`: `outbound_http.h2c_prior_knowledge`: `grpc` is not \
                 `host:port`: the port is missing",
            ),
            (
                "\"grpc:50051\"",
                "runtime config `rc.toml`: `outbound_http.h2c_prior_knowledge`: expected a list \
                 of \"host:port\" strings",
            ),
            (
                "[50051]",
                "runtime config `rc.toml`: `outbound_http.h2c_prior_knowledge`: expected a list \
                 of \"host:port\" strings",
            ),
        ] {
            let text = format!("[outbound_http]\nh2c_prior_knowledge = {value}\n");
            let err = RuntimeConfig::parse(Path::new("rc.toml"), &text).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn unknown_key_has_a_hint() {
        let err = RuntimeConfig::parse(
            Path::new("rc.toml"),
            "[key_value_stores.x]\ntype = \"memory\"\n",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("rc.toml"), "{msg}");
        assert!(msg.contains("unknown key `key_value_stores`"), "{msg}");
        assert!(msg.contains("did you mean `key_value_store`?"), "{msg}");
    }

    #[test]
    fn blob_stores() {
        let c = RuntimeConfig::parse(
            Path::new("rc.toml"),
            "[blob_store.media]\ntype = \"file_system\"\npath = \"blobs\"\n",
        )
        .unwrap();
        assert_eq!(
            c.blob.stores["media"].backend,
            skiff_blob::Backend::FileSystem {
                path: "blobs".into()
            }
        );
        let err = RuntimeConfig::parse(
            Path::new("rc.toml"),
            "[blob_store.media]\ntype = \"file_system\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("runtime config `rc.toml`: `blob_store.media.path`: missing"),
            "{err}"
        );
        let err =
            RuntimeConfig::parse(Path::new("rc.toml"), "[blob_stores.x]\ntype = \"memory\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("did you mean `blob_store`?"), "{err}");
    }

    #[test]
    fn kv_errors_name_the_key() {
        let err = RuntimeConfig::parse(
            Path::new("rc.toml"),
            "[key_value_store.cache]\ntype = \"redis\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("key_value_store.cache"), "{err}");
    }
}
