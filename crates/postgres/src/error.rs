//! The errors of PostgreSQL operations, shared by every interface.

/// Why a PostgreSQL operation failed.
///
/// The variants are those of the interfaces' `error`; the host bindings map
/// each onto the variant of the same name. [`Error::QueryFailed`] carries the
/// server's structured error when there is one (`db-error` in
/// `spin:postgres@4.x`; older interfaces get its text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection was not allowed (the message names the
    /// `allowed_outbound_hosts` entry it needs), could not be made, or broke.
    #[error("{0}")]
    ConnectionFailed(String),
    /// A parameter does not fit the statement: wrong count, a value of a type
    /// the column cannot take, an invalid date or number.
    #[error("{0}")]
    BadParameter(String),
    /// The server rejected the statement.
    #[error("{message}")]
    QueryFailed {
        /// The error as one line of text.
        message: String,
        /// The server's fields, when it sent an error.
        db_error: Option<Box<DbError>>,
    },
    /// A result value could not be read as its column's type.
    #[error("{0}")]
    ValueConversionFailed(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// An error the PostgreSQL server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    /// `ERROR`, `FATAL`, …
    pub severity: String,
    /// The SQLSTATE, e.g. `23505` for a unique violation.
    pub code: String,
    /// The primary message.
    pub message: String,
    /// The detail, when the server gave one.
    pub detail: Option<String>,
    /// Every other field the server sent (`hint`, `schema`, `table`,
    /// `column`, `constraint`, …), by name.
    pub extras: Vec<(String, String)>,
}

impl Error {
    /// Classifies an error of the client library: server errors are
    /// [`Error::QueryFailed`] with the fields, a closed connection is
    /// [`Error::ConnectionFailed`] naming `address`.
    pub(crate) fn from_client(err: tokio_postgres::Error, address: &str) -> Self {
        if let Some(db) = err.as_db_error() {
            let mut extras = Vec::new();
            let mut extra = |name: &str, value: Option<&str>| {
                if let Some(value) = value {
                    extras.push((name.to_string(), value.to_string()));
                }
            };
            extra("hint", db.hint());
            extra("where", db.where_());
            extra("schema", db.schema());
            extra("table", db.table());
            extra("column", db.column());
            extra("datatype", db.datatype());
            extra("constraint", db.constraint());
            let db_error = DbError {
                severity: db.severity().to_string(),
                code: db.code().code().to_string(),
                message: db.message().to_string(),
                detail: db.detail().map(String::from),
                extras,
            };
            return Error::QueryFailed {
                message: format!("{}: {}", db_error.severity, db_error.message),
                db_error: Some(Box::new(db_error)),
            };
        }
        if err.is_closed() {
            return Error::ConnectionFailed(format!(
                "the connection to postgres at {address} is closed: {err}"
            ));
        }
        Error::QueryFailed {
            message: error_chain(&err),
            db_error: None,
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

/// The result of a PostgreSQL operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
