//! The resolver: database label → backend.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_labels::LiveLabels;

use crate::config::{Backend, DatabaseConfig, SECTION, SqliteConfig};
use crate::database::Database;
use crate::embedded::EmbeddedDatabase;
use crate::error::{ConfigError, Error, Result};

/// Builds a [`SqliteManager`].
#[derive(Debug, Clone)]
pub struct SqliteManagerBuilder {
    default_dir: Option<PathBuf>,
    base_dir: PathBuf,
}

impl SqliteManagerBuilder {
    /// Unconfigured labels get the database file `<state_dir>/sqlite/<label>.db`.
    /// Without a state directory, opening an unconfigured label fails with
    /// `no-such-database`.
    pub fn state_dir(mut self, state_dir: impl AsRef<Path>) -> Self {
        self.default_dir = Some(state_dir.as_ref().join("sqlite"));
        self
    }

    /// The directory relative `path`s in the runtime config are resolved
    /// against (the runtime config file's directory); default `.`.
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = dir.into();
        self
    }

    /// A manager with no configured databases, only the default files.
    pub fn build(self) -> SqliteManager {
        SqliteManager {
            options: self,
            configured: LiveLabels::new(),
            defaults: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// A manager with the databases of `config`, each opened before this
    /// returns (so a bad path fails here, naming its section).
    pub async fn build_with(self, config: &SqliteConfig) -> Result<SqliteManager, ConfigError> {
        let manager = self.build();
        manager.apply(config).await?;
        Ok(manager)
    }
}

/// Maps database labels to backends, for every instance of an app.
///
/// Labels named by the runtime config get the database of their section;
/// others get `<state dir>/sqlite/<label>.db`, opened on first use and kept.
/// The label → database map can be replaced while guests run
/// ([`apply`](Self::apply), [`replace`](Self::replace)): connections opened
/// after the swap use the new database, those already open keep the old one.
///
/// Nothing here checks grants: guests reach databases through
/// [`SqliteState`](crate::SqliteState), which does; the operator's own calls
/// ([`execute_batch`](Self::execute_batch) for `skiff up --sqlite`) do not.
pub struct SqliteManager {
    options: SqliteManagerBuilder,
    configured: LiveLabels<DatabaseConfig, Arc<dyn Database>>,
    defaults: tokio::sync::Mutex<HashMap<String, Arc<dyn Database>>>,
}

impl SqliteManager {
    /// Starts a builder.
    pub fn builder() -> SqliteManagerBuilder {
        SqliteManagerBuilder {
            default_dir: None,
            base_dir: PathBuf::from("."),
        }
    }

    /// The labels the runtime config names, sorted.
    pub fn configured_labels(&self) -> Vec<String> {
        self.configured.labels()
    }

    /// The database file an unconfigured `label` gets, if it has one.
    pub fn default_path(&self, label: &str) -> Option<PathBuf> {
        default_file(self.options.default_dir.as_deref()?, label)
    }

    /// The database for `label`: its configured one, else the default file.
    pub async fn open(&self, label: &str) -> Result<Arc<dyn Database>> {
        if let Some(database) = self.configured.get(label) {
            return Ok(database);
        }
        let mut defaults = self.defaults.lock().await;
        if let Some(database) = defaults.get(label) {
            return Ok(database.clone());
        }
        let path = self
            .default_path(label)
            .ok_or_else(|| Error::NoSuchDatabase {
                label: label.to_string(),
            })?;
        let database: Arc<dyn Database> = Arc::new(EmbeddedDatabase::open(path, label).await?);
        defaults.insert(label.to_string(), database.clone());
        Ok(database)
    }

    /// Runs `sql` (statements separated by `;`) on the database of `label`,
    /// e.g. the migrations of `skiff up --sqlite @migrations.sql`. Statements
    /// run in order and stop at the first failure; wrap them in `BEGIN; …
    /// COMMIT;` to make them all-or-nothing.
    pub async fn execute_batch(&self, label: &str, sql: &str) -> Result<()> {
        self.open(label).await?.execute_batch(sql).await
    }

    /// Replaces the databases configured by the runtime config with those of
    /// `config`, all at once. Every new database is opened first; if any
    /// fails, nothing changes and the error names its section. Sections that
    /// did not change keep their database.
    pub async fn apply(&self, config: &SqliteConfig) -> Result<(), ConfigError> {
        self.prepare(config).await?.commit();
        Ok(())
    }

    /// Opens what [`apply`](Self::apply) would, without putting it in use
    /// yet: a runtime-config reload prepares every capability's labels
    /// before it commits any, so that one failing changes none.
    pub async fn prepare(
        &self,
        config: &SqliteConfig,
    ) -> Result<skiff_labels::Prepared<'_, DatabaseConfig, Arc<dyn Database>>, ConfigError> {
        self.configured
            .prepare(&config.databases, |label, section| {
                self.build_database(label, section)
            })
            .await
    }

    /// Makes `database` the database of `label`, for backends built outside
    /// the runtime config.
    pub fn replace(&self, label: &str, database: Arc<dyn Database>) {
        self.configured.replace(label, database);
    }

    async fn build_database(
        &self,
        label: &str,
        section: &DatabaseConfig,
    ) -> Result<Arc<dyn Database>, ConfigError> {
        let key = format!("{SECTION}.{label}");
        match &section.backend {
            Backend::Embedded { path } => {
                let path = match path {
                    Some(path) => self.options.base_dir.join(path),
                    None => self.default_path(label).ok_or_else(|| {
                        ConfigError::invalid(
                            format!("{key}.path"),
                            "required: there is no state directory for a default file, \
                             or the label cannot name a file",
                        )
                    })?,
                };
                let database = EmbeddedDatabase::open(path, label)
                    .await
                    .map_err(|source| ConfigError::Open {
                        label: label.to_string(),
                        key,
                        source,
                    })?;
                Ok(Arc::new(database))
            }
        }
    }
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
