//! The errors of MySQL operations.

/// Why a MySQL operation failed.
///
/// The variants are those of `fermyon:spin/rdbms-types`' `error`; the host
/// bindings map each onto the variant of the same name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection was not allowed (the message names the
    /// `allowed_outbound_hosts` entry it needs), could not be made, or broke.
    #[error("{0}")]
    ConnectionFailed(String),
    /// A parameter does not fit the statement (wrong count).
    #[error("{0}")]
    BadParameter(String),
    /// The server rejected the statement: `ERROR 1146 (42S02): Table
    /// 'shop.nope' doesn't exist`.
    #[error("{0}")]
    QueryFailed(String),
    /// A result value could not be read as its column's type.
    #[error("{0}")]
    ValueConversionFailed(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Classifies an error of the client library during a statement on the
    /// connection to `peer`: the server's own errors are
    /// [`Error::QueryFailed`] with its code and SQLSTATE, a wrong parameter
    /// count is [`Error::BadParameter`], a broken connection
    /// [`Error::ConnectionFailed`] naming `peer`.
    pub(crate) fn from_client(err: mysql_async::Error, peer: &str) -> Self {
        use mysql_async::{DriverError, Error as E};
        match &err {
            E::Server(server) => Error::QueryFailed(format!(
                "ERROR {} ({}): {}",
                server.code, server.state, server.message
            )),
            E::Driver(DriverError::StmtParamsMismatch { required, supplied }) => {
                Error::BadParameter(format!(
                    "the statement has {required} parameter(s) but {supplied} were given"
                ))
            }
            E::Driver(DriverError::StmtParamsNumberExceedsLimit { supplied }) => {
                Error::BadParameter(format!(
                    "{supplied} parameters were given; MySQL takes at most 65535"
                ))
            }
            E::Driver(DriverError::PacketTooLarge) => Error::QueryFailed(format!(
                "the statement or a value is larger than the server at {peer} accepts \
                 (its max_allowed_packet)"
            )),
            E::Driver(DriverError::ConnectionClosed) | E::Io(_) => {
                Error::ConnectionFailed(format!(
                    "the connection to mysql at {peer} broke: {}",
                    error_chain(&err)
                ))
            }
            _ => Error::Other(format!("mysql at {peer}: {}", error_chain(&err))),
        }
    }
}

/// An error and its sources, `: `-separated.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(err) = source {
        let next = err.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = err.source();
    }
    text
}

/// The result of a MySQL operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
