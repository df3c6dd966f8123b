//! The connection keys of a NATS runtime-config section, shared by every
//! capability with a NATS backend:
//!
//! ```toml
//! url = "nats://127.0.0.1:4222"        # or ["nats://a:4222", "nats://b:4222"]; "tls://…"; "host:port"
//! user = "app"                          # with `password`; or `token`, `credentials_file`, `nkey_seed`
//! password = "s3cret"
//! ca_roots_file = "certs/ca.pem"        # relative to the runtime config's directory
//! client_cert_file = "certs/app.pem"    # with `client_private_key_file`, for mutual TLS
//! client_private_key_file = "certs/app.key"
//! tls = true                            # require TLS
//! connection_name = "shop"
//! connect_timeout = "5s"                # the default
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The connect timeout when `connect_timeout` is not set.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The keys [`NatsConfig::from_section`] reads. A section may hold others
/// of its own (`type`, a bucket…); the caller refuses the rest.
pub const CONNECTION_KEYS: &[&str] = &[
    "url",
    "user",
    "password",
    "token",
    "credentials_file",
    "nkey_seed",
    "ca_roots_file",
    "client_cert_file",
    "client_private_key_file",
    "tls",
    "connection_name",
    "connect_timeout",
];

/// A key of a section with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct InvalidKey {
    /// The full key (`message_broker.events.url`), or the section's when
    /// keys clash (two ways to authenticate).
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

/// How to reach a NATS server: the connection keys of a runtime-config
/// section (`[message_broker.LABEL]`, `[key_value_store.LABEL]` or
/// `[blob_store.LABEL]` of `type = "nats"`).
///
/// Its `Debug` shows `***` in place of the password, token and nkey seed,
/// and [`NatsConfig::describe`] names the servers without credentials.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NatsConfig {
    /// The servers: `nats://host:port`, `tls://host:port` or `host:port`.
    pub urls: Vec<String>,
    /// The user name (with [`NatsConfig::password`]).
    pub user: Option<String>,
    /// The password (with [`NatsConfig::user`]).
    pub password: Option<String>,
    /// An authentication token.
    pub token: Option<String>,
    /// A `.creds` file (a user JWT and its nkey seed).
    pub credentials_file: Option<PathBuf>,
    /// An nkey seed (`SU…`).
    pub nkey_seed: Option<String>,
    /// PEM root certificates to trust for the server's TLS certificate.
    pub ca_roots_file: Option<PathBuf>,
    /// A PEM client certificate for mutual TLS (with
    /// [`NatsConfig::client_private_key_file`]).
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's PEM private key.
    pub client_private_key_file: Option<PathBuf>,
    /// Require TLS even for `nats://` URLs.
    pub tls: bool,
    /// The name the connection shows in the server's monitoring.
    pub connection_name: Option<String>,
    /// How long the first connection may take (default 5 s).
    pub connect_timeout: Duration,
}

impl NatsConfig {
    /// A config for the server at `url`, without credentials or TLS
    /// options.
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            urls: vec![url.into()],
            user: None,
            password: None,
            token: None,
            credentials_file: None,
            nkey_seed: None,
            ca_roots_file: None,
            client_cert_file: None,
            client_private_key_file: None,
            tls: false,
            connection_name: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// This config, logging in as `user` with `password`.
    pub fn with_user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// This config, authenticating with `token`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// This config, with `timeout` for the first connection.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The servers without credentials, comma-separated:
    /// `nats://127.0.0.1:4222`.
    pub fn describe(&self) -> String {
        self.urls
            .iter()
            .map(|url| display_url(url))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks what parsing checks, for a config made in code: at least one
    /// URL, at most one way to authenticate, and the pairs complete.
    pub fn check(&self) -> Result<(), String> {
        if self.urls.is_empty() {
            return Err("no NATS server URL is configured".to_string());
        }
        let methods = self.auth_methods();
        if methods.len() > 1 {
            return Err(format!(
                "more than one way to authenticate is configured ({}); choose one",
                methods.join(", ")
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            return Err("`user` and `password` go together; set both or neither".to_string());
        }
        if self.client_cert_file.is_some() != self.client_private_key_file.is_some() {
            return Err(
                "`client_cert_file` and `client_private_key_file` go together; set both or neither"
                    .to_string(),
            );
        }
        Ok(())
    }

    /// This configuration with its relative file paths (`credentials_file`,
    /// `ca_roots_file`, `client_cert_file`, `client_private_key_file`) taken
    /// relative to `base`, as a manager resolves a section parsed without
    /// its base directory.
    pub fn relative_to(mut self, base: &Path) -> Self {
        for path in [
            &mut self.credentials_file,
            &mut self.ca_roots_file,
            &mut self.client_cert_file,
            &mut self.client_private_key_file,
        ]
        .into_iter()
        .flatten()
        {
            *path = base.join(&*path);
        }
        self
    }

    fn auth_methods(&self) -> Vec<&'static str> {
        let mut methods = Vec::new();
        if self.user.is_some() || self.password.is_some() {
            methods.push("`user`/`password`");
        }
        if self.token.is_some() {
            methods.push("`token`");
        }
        if self.credentials_file.is_some() {
            methods.push("`credentials_file`");
        }
        if self.nkey_seed.is_some() {
            methods.push("`nkey_seed`");
        }
        methods
    }
}

impl fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |value: &Option<String>| value.as_ref().map(|_| "***");
        f.debug_struct("NatsConfig")
            .field("urls", &self.describe())
            .field("user", &self.user)
            .field("password", &secret(&self.password))
            .field("token", &secret(&self.token))
            .field("credentials_file", &self.credentials_file)
            .field("nkey_seed", &secret(&self.nkey_seed))
            .field("ca_roots_file", &self.ca_roots_file)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_private_key_file", &self.client_private_key_file)
            .field("tls", &self.tls)
            .field("connection_name", &self.connection_name)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// `url` as it may be shown: `scheme://host:port`, without credentials
/// (`host:port` alone means `nats://`).
pub fn display_url(url: &str) -> String {
    match url.parse::<async_nats::ServerAddr>() {
        Ok(addr) if addr.host().contains(':') => {
            format!("{}://[{}]:{}", addr.scheme(), addr.host(), addr.port())
        }
        Ok(addr) => format!("{}://{}:{}", addr.scheme(), addr.host(), addr.port()),
        // Not a URL async-nats takes: still drop anything before an `@`.
        Err(_) => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("nats", url));
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let host = match rest[..authority_end].rfind('@') {
                Some(at) => &rest[at + 1..],
                None => rest,
            };
            format!("{scheme}://{host}")
        }
    }
}

impl NatsConfig {
    /// Parses the [`CONNECTION_KEYS`] of the section `section_key` (e.g.
    /// `message_broker.events`); relative paths are resolved against
    /// `base_dir`, the runtime config file's directory. Errors name the
    /// full key and never hold a secret.
    pub fn from_section(
        section_key: &str,
        section: &toml::Table,
        base_dir: &Path,
    ) -> Result<NatsConfig, InvalidKey> {
        let invalid = |name: &str, message: String| InvalidKey {
            key: format!("{section_key}.{name}"),
            message,
        };
        let string = |name: &str| -> Result<Option<String>, InvalidKey> {
            match section.get(name) {
                None => Ok(None),
                Some(toml::Value::String(s)) if s.is_empty() => {
                    Err(invalid(name, "must not be empty".to_string()))
                }
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid(
                    name,
                    format!("expected a string, found {}", other.type_str()),
                )),
            }
        };
        let path = |name: &str| -> Result<Option<PathBuf>, InvalidKey> {
            Ok(string(name)?.map(|p| base_dir.join(p)))
        };

        let urls = match section.get("url") {
            None => {
                return Err(invalid(
                    "url",
                    "missing; expected \"nats://HOST:PORT\" or an array of them".to_string(),
                ));
            }
            Some(toml::Value::String(url)) => vec![url.clone()],
            Some(toml::Value::Array(items)) if items.is_empty() => {
                return Err(invalid("url", "expected at least one URL".to_string()));
            }
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(url) => Ok(url.clone()),
                    other => Err(invalid(
                        "url",
                        format!(
                            "expected an array of strings, found {} in it",
                            other.type_str()
                        ),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(invalid(
                    "url",
                    format!(
                        "expected a string or an array of strings, found {}",
                        other.type_str()
                    ),
                ));
            }
        };
        for url in &urls {
            check_url(url).map_err(|message| invalid("url", message))?;
        }

        let connect_timeout = match section.get("connect_timeout") {
            None => DEFAULT_CONNECT_TIMEOUT,
            Some(toml::Value::String(text)) => {
                let timeout = skiff_manifest::parse_duration(text)
                    .map_err(|message| invalid("connect_timeout", message))?;
                if timeout.is_zero() {
                    return Err(invalid(
                        "connect_timeout",
                        "must be more than zero".to_string(),
                    ));
                }
                timeout
            }
            Some(other) => {
                return Err(invalid(
                    "connect_timeout",
                    format!(
                        "expected a duration string like \"5s\" or \"500ms\", found {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let tls = match section.get("tls") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(other) => {
                return Err(invalid(
                    "tls",
                    format!("expected true or false, found {}", other.type_str()),
                ));
            }
        };

        let config = NatsConfig {
            urls,
            user: string("user")?,
            password: string("password")?,
            token: string("token")?,
            credentials_file: path("credentials_file")?,
            nkey_seed: string("nkey_seed")?,
            ca_roots_file: path("ca_roots_file")?,
            client_cert_file: path("client_cert_file")?,
            client_private_key_file: path("client_private_key_file")?,
            tls,
            connection_name: string("connection_name")?,
            connect_timeout,
        };
        // Name the key that is missing from a pair, or the section when the
        // ways to authenticate clash.
        if config.user.is_some() && config.password.is_none() {
            return Err(invalid(
                "password",
                "missing; `user` needs a `password`".to_string(),
            ));
        }
        if config.password.is_some() && config.user.is_none() {
            return Err(invalid(
                "user",
                "missing; `password` needs a `user`".to_string(),
            ));
        }
        if config.client_cert_file.is_some() && config.client_private_key_file.is_none() {
            return Err(invalid(
                "client_private_key_file",
                "missing; `client_cert_file` needs a `client_private_key_file`".to_string(),
            ));
        }
        if config.client_private_key_file.is_some() && config.client_cert_file.is_none() {
            return Err(invalid(
                "client_cert_file",
                "missing; `client_private_key_file` needs a `client_cert_file`".to_string(),
            ));
        }
        config.check().map_err(|message| InvalidKey {
            key: section_key.to_string(),
            message,
        })?;
        Ok(config)
    }
}

/// Accepts `nats://`, `tls://` and bare `host:port` URLs without
/// credentials (those go in `user`/`password`, `token`, …, so that URLs can
/// be logged).
fn check_url(url: &str) -> Result<(), String> {
    if let Some((scheme, _)) = url.split_once("://")
        && scheme != "nats"
        && scheme != "tls"
    {
        return Err(format!(
            "unsupported scheme `{scheme}://`; expected \"nats://HOST:PORT\", \
             \"tls://HOST:PORT\" or \"HOST:PORT\""
        ));
    }
    let addr = url
        .parse::<async_nats::ServerAddr>()
        .map_err(|err| format!("`{}` is not a NATS server URL: {err}", display_url(url)))?;
    if addr.host().is_empty() {
        return Err(format!("`{}` names no host", display_url(url)));
    }
    if addr.has_user_pass() || addr.username().is_some() {
        return Err(format!(
            "`{}` has credentials in it; put them in `user`/`password` or `token` instead \
             (URLs show in logs)",
            display_url(url)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let mut config = NatsConfig::new("nats://h:4222").with_user_and_password("app", "pw-9f3k");
        config.token = Some("tok-7q2z".into());
        config.nkey_seed = Some("SUA-seed-1x8".into());
        let debug = format!("{config:?}");
        for secret in ["pw-9f3k", "tok-7q2z", "SUA-seed-1x8"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("***"), "{debug}");
        assert!(debug.contains("app"), "{debug}");
    }

    #[test]
    fn describe_drops_credentials() {
        let config = NatsConfig::new("nats://user:pw-4k2@example.com:4222");
        assert_eq!(config.describe(), "nats://example.com:4222");
        assert_eq!(display_url("localhost"), "nats://localhost:4222");
        assert_eq!(display_url("nats://[::1]:4222"), "nats://[::1]:4222");
        assert_eq!(display_url("bogus://u:p@h:1/x"), "bogus://h:1/x");
    }

    #[test]
    fn check_catches_code_made_mistakes() {
        let mut config = NatsConfig::new("h:1").with_token("t");
        config.credentials_file = Some("x.creds".into());
        assert!(config.check().unwrap_err().contains("more than one way"));
        let mut config = NatsConfig::new("h:1");
        config.urls.clear();
        assert!(config.check().is_err());
        assert_eq!(NatsConfig::new("h:1").check(), Ok(()));
    }
}
