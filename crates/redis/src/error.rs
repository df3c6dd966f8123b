//! The errors of outbound Redis operations, shared by every interface.

/// Why a Redis operation failed.
///
/// The host bindings map these onto the interfaces' `error` variants:
/// [`Error::InvalidAddress`] and [`Error::NotAllowed`] become
/// `invalid-address` (what Spin answers for an ungranted address; the
/// denial, with the `allowed_outbound_hosts` entry it needs, goes to the
/// host log), [`Error::TypeError`] becomes `type-error`, and
/// [`Error::Other`] becomes `other(message)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address is not a Redis URL this host can connect to.
    #[error("{0}")]
    InvalidAddress(String),
    /// The component's `allowed_outbound_hosts` does not grant the address;
    /// the message names the entry to add.
    #[error("{0}")]
    NotAllowed(String),
    /// A value was not of the type the operation needs (`WRONGTYPE`, or
    /// `incr` on a value that is not an integer).
    #[error("{0}")]
    TypeError(String),
    /// The server could not be reached, the connection broke, or the server
    /// answered with an error; the message says which and names the server.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Classifies an error of the client library for the server at `peer`.
    pub(crate) fn from_redis(err: redis::RedisError, peer: &str) -> Self {
        use redis::ErrorKind;
        let is_type_error = err.code() == Some("WRONGTYPE")
            || matches!(
                err.kind(),
                ErrorKind::UnexpectedReturnType | ErrorKind::Parse
            )
            || err
                .detail()
                .is_some_and(|d| d.contains("not an integer") || d.contains("not a valid float"));
        if is_type_error {
            return Error::TypeError(err.to_string());
        }
        if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
            return Error::Other(format!("the connection to redis at {peer} failed: {err}"));
        }
        Error::Other(format!("redis at {peer}: {err}"))
    }
}

/// The result of a Redis operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
