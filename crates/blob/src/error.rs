//! The errors of blob-store operations, shared by every backend.

use std::fmt;

/// Why a blob-store operation failed.
///
/// `wasi:blobstore` reports every error as a string: the host bindings hand
/// guests this type's `Display` text, which names what failed and where
/// (the container, the object, the limit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The component has no `blob_stores` grant.
    #[error(
        "component `{component}` is not granted a blob store: add `blob_stores = [\"default\"]` \
         to `[component.{component}]` in the manifest"
    )]
    NotGranted {
        /// The component's id.
        component: String,
    },
    /// The instance would hold more bytes of object values in host memory
    /// than it may.
    #[error(
        "the values this instance holds would take {len} bytes of host memory; the limit is \
         {max} bytes (twice the blob store's `max_object_size`): drop or finish the values it \
         no longer needs"
    )]
    TooMuchHeld {
        /// The bytes it would hold.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// No backend is configured for the label, and there is no default.
    #[error("no blob store is configured for label `{label}`")]
    NoSuchStore {
        /// The label.
        label: String,
    },
    /// The container does not exist.
    #[error("container `{}` does not exist", Abbrev(container))]
    NoSuchContainer {
        /// The container's name.
        container: String,
    },
    /// The object does not exist in its container.
    #[error(
        "object `{}` does not exist in container `{}`",
        Abbrev(object),
        Abbrev(container)
    )]
    NoSuchObject {
        /// The container's name.
        container: String,
        /// The object's name.
        object: String,
    },
    /// A container or object name the store cannot take.
    #[error("invalid {what} name `{}`: {reason}", Abbrev(name))]
    InvalidName {
        /// `container` or `object`.
        what: &'static str,
        /// The name.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// `get-data` with `start` after `end` (both are inclusive offsets).
    #[error(
        "invalid range {start}..={end} for object `{}` in container `{}`: start is after end",
        Abbrev(object),
        Abbrev(container)
    )]
    InvalidRange {
        /// The container's name.
        container: String,
        /// The object's name.
        object: String,
        /// The first offset asked for.
        start: u64,
        /// The last offset asked for.
        end: u64,
    },
    /// An object (or the part of one read at once) larger than the store's
    /// `max_object_size`.
    #[error(
        "object `{}` in container `{}` is {len} bytes; the limit is {max} bytes \
         (`max_object_size` of the blob store)",
        Abbrev(object),
        Abbrev(container)
    )]
    TooLarge {
        /// The container's name.
        container: String,
        /// The object's name.
        object: String,
        /// The size, or the size reached so far.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// An outgoing value written past the store's `max_object_size`, before
    /// it names an object.
    #[error(
        "the value written is over the limit of {max} bytes (`max_object_size` of the blob \
         store): {len} bytes with the last write"
    )]
    ValueTooLarge {
        /// The size with the write that failed.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The backend itself failed (I/O).
    #[error("{message}")]
    Backend {
        /// What failed, naming the store, e.g. `file-system blob store at
        /// /srv/blobs: could not write …: No space left on device`.
        message: String,
    },
}

impl Error {
    /// A [`Error::Backend`] error.
    pub fn backend(message: impl Into<String>) -> Self {
        Error::Backend {
            message: message.into(),
        }
    }

    pub(crate) fn no_such_container(container: &str) -> Self {
        Error::NoSuchContainer {
            container: container.to_string(),
        }
    }

    pub(crate) fn no_such_object(container: &str, object: &str) -> Self {
        Error::NoSuchObject {
            container: container.to_string(),
            object: object.to_string(),
        }
    }
}

/// The result of a blob-store operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shows at most 100 characters of a name, so a huge name does not flood
/// messages and logs.
pub(crate) struct Abbrev<'a>(pub &'a str);

impl fmt::Display for Abbrev<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 100;
        match self.0.char_indices().nth(MAX) {
            Some((end, _)) => write!(f, "{}…", &self.0[..end]),
            None => f.write_str(self.0),
        }
    }
}

/// A runtime-config section that could not be turned into a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key has a missing, mistyped or unsupported value.
    #[error("`{key}`: {message}")]
    Invalid {
        /// The full key, e.g. `blob_store.media.path`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The store could not be opened.
    #[error("could not open blob store `{label}` (`{key}`)")]
    Open {
        /// The store label.
        label: String,
        /// The section's key, e.g. `blob_store.media`.
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
