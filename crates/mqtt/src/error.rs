//! The errors of outbound MQTT operations, shared by both interfaces.

/// Why an MQTT operation failed.
///
/// The host bindings map these onto the interfaces' `error` variants:
/// [`Error::InvalidAddress`] is `invalid-address` (the host log has the
/// reason), [`Error::ConnectionFailed`] is `connection-failed(message)` —
/// also for an address the component's `allowed_outbound_hosts` does not
/// grant, the message naming the entry to add — and [`Error::Other`] is
/// `other(message)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address is not an `mqtt://host[:port]` URL.
    #[error("{0}")]
    InvalidAddress(String),
    /// The address is not granted, or the broker could not be reached or
    /// refused the connection.
    #[error("{0}")]
    ConnectionFailed(String),
    /// Anything else (a publish the broker did not acknowledge in time, a
    /// connection that broke while publishing).
    #[error("{0}")]
    Other(String),
}

/// The result of an MQTT operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
