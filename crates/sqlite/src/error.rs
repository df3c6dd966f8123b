//! The errors of SQLite operations, shared by every backend and interface.

/// Why a SQLite operation failed.
///
/// The host bindings map these onto the interfaces' `error` variant:
/// [`Error::NoSuchDatabase`], [`Error::AccessDenied`],
/// [`Error::InvalidConnection`] and [`Error::DatabaseFull`] onto the variants
/// of the same name, and [`Error::Io`] onto `io(message)` with the message
/// alone (SQLite's own text, e.g. `no such table: todo`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No database is configured for the label, and there is no default.
    #[error("no sqlite database is configured for label `{label}`")]
    NoSuchDatabase {
        /// The label the guest asked for.
        label: String,
    },
    /// The component was not granted the label (`sqlite_databases` in its
    /// manifest), whether or not such a database exists.
    #[error("sqlite database `{label}` is not granted to this component")]
    AccessDenied {
        /// The label the guest asked for.
        label: String,
    },
    /// The connection is closed or was never valid.
    #[error("the sqlite connection is not valid")]
    InvalidConnection,
    /// The database or its disk is full (`SQLITE_FULL`).
    #[error("sqlite database `{label}` is full: {message}")]
    DatabaseFull {
        /// The database label.
        label: String,
        /// SQLite's message.
        message: String,
    },
    /// Anything else: a statement SQLite rejected (syntax, constraint, wrong
    /// parameter count), or an I/O failure.
    #[error("{message}")]
    Io {
        /// What failed, in SQLite's words.
        message: String,
    },
}

impl Error {
    /// An [`Error::Io`].
    pub fn io(message: impl Into<String>) -> Self {
        Error::Io {
            message: message.into(),
        }
    }
}

/// The result of a SQLite operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A runtime-config section that could not be turned into a database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key has a missing, mistyped or unsupported value.
    #[error("`{key}`: {message}")]
    Invalid {
        /// The full key, e.g. `sqlite_database.default.path`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The database could not be opened.
    #[error("could not open sqlite database `{label}` (`{key}`): {source}")]
    Open {
        /// The database label.
        label: String,
        /// The section's key, e.g. `sqlite_database.default`.
        key: String,
        /// Why it failed.
        #[source]
        source: Error,
    },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}
