//! Runtime config for SQLite databases, in the shape of Spin's
//! `runtime-config.toml`:
//!
//! ```toml
//! [sqlite_database.default]
//! type = "spin"               # the embedded SQLite file; `path` is optional
//! path = "data/todo.db"       # relative to the runtime config's directory
//! ```
//!
//! Without `path` the file is `<state dir>/sqlite/<label>.db`, the same file
//! an unconfigured label gets. `type = "embedded"` is accepted as an alias.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::ConfigError;

/// The name of the runtime-config table holding the database sections.
pub const SECTION: &str = "sqlite_database";

/// Which backend holds a label's database.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// `type = "spin"` (or `"embedded"`): a SQLite file on the host;
    /// `None` means the default file for the label under the state directory.
    Embedded {
        /// The database file, as written (relative paths are resolved against
        /// the manager's base directory).
        path: Option<PathBuf>,
    },
}

/// One `[sqlite_database.LABEL]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// The backend.
    pub backend: Backend,
}

/// Every configured database, by label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The sections, by label.
    pub databases: BTreeMap<String, DatabaseConfig>,
}

impl SqliteConfig {
    /// Parses the value of the runtime config's `sqlite_database` table (one
    /// sub-table per label). Errors name the full key, e.g.
    /// `sqlite_database.default.path`.
    pub fn from_toml(table: &toml::Table) -> Result<Self, ConfigError> {
        let mut config = SqliteConfig::default();
        for (label, value) in table {
            let section = value.as_table().ok_or_else(|| {
                ConfigError::invalid(format!("{SECTION}.{label}"), "expected a table")
            })?;
            config.insert_section(label, section)?;
        }
        Ok(config)
    }

    /// Parses one `[sqlite_database.LABEL]` section and adds it.
    pub fn insert_section(
        &mut self,
        label: &str,
        section: &toml::Table,
    ) -> Result<(), ConfigError> {
        let database = parse_section(label, section)?;
        self.databases.insert(label.to_string(), database);
        Ok(())
    }
}

fn parse_section(label: &str, section: &toml::Table) -> Result<DatabaseConfig, ConfigError> {
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
    let ty = string("type")?
        .ok_or_else(|| ConfigError::invalid(key("type"), "missing; expected \"spin\""))?;
    if ty != "spin" && ty != "embedded" {
        return Err(ConfigError::invalid(
            key("type"),
            format!("unsupported sqlite database type \"{ty}\"; expected \"spin\""),
        ));
    }
    for name in section.keys() {
        if name != "type" && name != "path" {
            return Err(ConfigError::invalid(
                key(name),
                format!("unknown key for a database of type \"{ty}\"; expected `path`"),
            ));
        }
    }
    let path = string("path")?;
    if path.as_deref() == Some("") {
        return Err(ConfigError::invalid(key("path"), "must not be empty"));
    }
    Ok(DatabaseConfig {
        backend: Backend::Embedded {
            path: path.map(PathBuf::from),
        },
    })
}
