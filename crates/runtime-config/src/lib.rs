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

use skiff_kv::KeyValueConfig;
use skiff_sqlite::SqliteConfig;

/// Top-level tables a runtime config may hold.
const KNOWN: &[&str] = &["key_value_store", "variables_provider", "sqlite_database"];

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
                other => {
                    let hint = KNOWN
                        .iter()
                        .min_by_key(|k| distance(k, other))
                        .filter(|k| distance(k, other) <= 3)
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default();
                    return Err(invalid(format!(
                        "unknown key `{other}`{hint}; expected one of {}",
                        KNOWN
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
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
    fn kv_errors_name_the_key() {
        let err = RuntimeConfig::parse(
            Path::new("rc.toml"),
            "[key_value_store.cache]\ntype = \"redis\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("key_value_store.cache"), "{err}");
    }
}
