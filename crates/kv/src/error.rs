//! The errors of key-value operations, shared by every backend and interface.

use std::fmt;

/// Why a key-value operation failed.
///
/// The host bindings map these onto each interface's error type:
/// [`Error::NoSuchStore`] and [`Error::AccessDenied`] onto the variants of the
/// same name, [`Error::StoreTableFull`] onto Spin's `store-table-full`, and
/// everything else onto `other(message)` with this type's `Display` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No backend is configured for the label, and there is no default.
    #[error("no key-value store is configured for label `{label}`")]
    NoSuchStore {
        /// The label the guest asked for.
        label: String,
    },
    /// The component was not granted the label (`key_value_stores` in its manifest).
    #[error("key-value store `{label}` is not granted to this component")]
    AccessDenied {
        /// The label the guest asked for.
        label: String,
    },
    /// The instance holds too many open stores at once.
    #[error("too many key-value stores are open at once (the limit is {max})")]
    StoreTableFull {
        /// The per-instance limit.
        max: usize,
    },
    /// A key is longer than the store's limit.
    #[error("key `{}` is {len} bytes; the limit is {max} bytes", Abbrev(key))]
    KeyTooLarge {
        /// The key (shown abbreviated in messages).
        key: String,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A value is larger than the store's limit.
    #[error(
        "value for key `{}` is {len} bytes; the limit is {max} bytes",
        Abbrev(key)
    )]
    ValueTooLarge {
        /// The key the value was for.
        key: String,
        /// The value's length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A batch operation names more keys than the store's limit.
    #[error("a batch of {len} keys is larger than the limit of {max}")]
    BatchTooLarge {
        /// The number of keys in the batch.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `increment` found a value that is not a decimal 64-bit integer.
    #[error(
        "the value of key `{}` is not a decimal integer, so it cannot be incremented",
        Abbrev(key)
    )]
    NotAnInteger {
        /// The key.
        key: String,
    },
    /// `increment` would leave the range of the interface's integer type.
    #[error("incrementing key `{}` would overflow", Abbrev(key))]
    Overflow {
        /// The key.
        key: String,
    },
    /// A `list-keys` cursor that no page of this store returned.
    #[error("`{}` is not a cursor this store returned", Abbrev(cursor))]
    InvalidCursor {
        /// The cursor the guest passed.
        cursor: String,
    },
    /// The backend itself failed (I/O, connection, protocol).
    #[error("{message}")]
    Backend {
        /// Which kind of backend: `memory`, `embedded` or `redis`.
        backend: &'static str,
        /// What failed, naming the backend instance, e.g.
        /// `redis at 127.0.0.1:6379: connection refused`.
        message: String,
    },
}

impl Error {
    /// A [`Error::Backend`] error.
    pub fn backend(backend: &'static str, message: impl Into<String>) -> Self {
        Error::Backend {
            backend,
            message: message.into(),
        }
    }
}

/// The result of a key-value operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shows at most 64 characters of a key, so a huge key does not flood logs.
struct Abbrev<'a>(&'a str);

impl fmt::Display for Abbrev<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        match self.0.char_indices().nth(MAX) {
            Some((end, _)) => write!(f, "{}…", &self.0[..end]),
            None => f.write_str(self.0),
        }
    }
}

/// A runtime-config section that could not be turned into a backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key has a missing, mistyped or unsupported value.
    #[error("`{key}`: {message}")]
    Invalid {
        /// The full key, e.g. `key_value_store.cache.url`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The backend could not be opened or reached.
    #[error("could not open key-value store `{label}` (`{key}`)")]
    Open {
        /// The store label.
        label: String,
        /// The section's key, e.g. `key_value_store.cache`.
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
