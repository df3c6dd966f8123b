//! The errors callers match on.

use std::path::PathBuf;

use oci_client::errors::{OciDistributionError, OciErrorCode};

/// What can go wrong talking to a registry or the cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The reference does not parse.
    #[error("invalid registry reference `{reference}`: {reason}")]
    InvalidReference {
        /// The text given.
        reference: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The registry knows no such tag, digest or repository.
    #[error("`{reference}` was not found in registry `{registry}`")]
    NotFound {
        /// The reference asked for.
        reference: String,
        /// The registry host.
        registry: String,
    },
    /// The registry refused the credentials (or asked for some and none were given).
    #[error(
        "registry `{registry}` refused access to `{reference}`: wrong or missing credentials \
         (log in with `skiff registry login {registry}`)"
    )]
    Unauthorized {
        /// The reference asked for.
        reference: String,
        /// The registry host.
        registry: String,
    },
    /// The registry accepted the credentials but they do not allow pushing to
    /// the repository (a bearer token without `push`, a read-only account).
    #[error(
        "registry `{registry}` refused to let `{user}` push to `{reference}`: the credentials are \
         right but have no push access to that repository"
    )]
    PushDenied {
        /// The reference being pushed.
        reference: String,
        /// The registry host.
        registry: String,
        /// The user name the credentials are for.
        user: String,
    },
    /// Content did not hash to the digest it was fetched by.
    #[error(
        "digest mismatch for `{reference}`: content fetched as `{expected}` hashes to `{actual}`; \
         refusing to use it"
    )]
    DigestMismatch {
        /// The reference being pulled.
        reference: String,
        /// The digest the content was fetched by.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The artifact is not a Wasm component artifact nor a Skiff app artifact.
    #[error("`{reference}` is not a Wasm component or Skiff app artifact: {reason}")]
    UnsupportedArtifact {
        /// The reference pulled.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other failure talking to the registry.
    #[error("registry `{registry}` failed on `{reference}`")]
    Registry {
        /// The reference being pushed or pulled.
        reference: String,
        /// The registry host.
        registry: String,
        /// What the client reported.
        #[source]
        source: OciDistributionError,
    },
    /// A local file could not be read or written.
    #[error("{what} `{}`", path.display())]
    Io {
        /// What was being done (`could not write cache blob`).
        what: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Classifies a client error for `reference` on `registry`.
    pub(crate) fn from_client(
        reference: &str,
        registry: &str,
        source: OciDistributionError,
    ) -> Self {
        let reference = reference.to_string();
        let registry = registry.to_string();
        match &source {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => {
                return Error::Unauthorized {
                    reference,
                    registry,
                };
            }
            OciDistributionError::ImageManifestNotFoundError(_) => {
                return Error::NotFound {
                    reference,
                    registry,
                };
            }
            OciDistributionError::RegistryError { envelope, .. } => {
                for error in &envelope.errors {
                    match error.code {
                        OciErrorCode::Unauthorized | OciErrorCode::Denied => {
                            return Error::Unauthorized {
                                reference,
                                registry,
                            };
                        }
                        OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound => {
                            return Error::NotFound {
                                reference,
                                registry,
                            };
                        }
                        _ => {}
                    }
                }
            }
            OciDistributionError::ServerError { code: 401, .. } => {
                return Error::Unauthorized {
                    reference,
                    registry,
                };
            }
            OciDistributionError::ServerError { code: 404, .. } => {
                return Error::NotFound {
                    reference,
                    registry,
                };
            }
            _ => {}
        }
        Error::Registry {
            reference,
            registry,
            source,
        }
    }

    pub(crate) fn io(
        what: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            what: what.into(),
            path: path.into(),
            source,
        }
    }
}
