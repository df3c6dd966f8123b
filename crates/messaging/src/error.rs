//! The messaging capability's error type.

/// What went wrong with a broker or a message.
///
/// Each maps onto the guest interfaces' error values: `wasi:messaging`'s
/// `error` variant (`timeout`, `connection`, `permission-denied`, `other`)
/// and `wasmcloud:messaging`'s error string ([`Error`]'s `Display`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request got no reply in time.
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
    /// The broker could not be reached, or the connection failed.
    #[error("{0}")]
    Connection(String),
    /// The component was not granted the broker, or the broker refused the
    /// subject.
    #[error("{0}")]
    PermissionDenied(String),
    /// A subject that is not valid (empty, empty tokens, whitespace, or
    /// wildcards where a publish needs a plain subject).
    #[error("{0}")]
    InvalidSubject(String),
    /// A request no subscriber could answer (NATS "no responders").
    #[error("no subscriber answers requests on `{0}`")]
    NoResponders(String),
    /// Anything else, with the broker's message.
    #[error("{0}")]
    Other(String),
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
