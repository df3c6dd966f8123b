//! Runtime config for message brokers:
//!
//! ```toml
//! [message_broker.events]
//! type = "nats"
//! url = "nats://127.0.0.1:4222"        # or ["nats://a:4222", "nats://b:4222"]; "tls://…"; "host:port"
//! user = "app"                          # with `password`; or `token`, `credentials_file`, `nkey_seed`
//! password = "s3cret"
//! ca_roots_file = "certs/ca.pem"        # relative to the runtime config's directory
//! client_cert_file = "certs/app.pem"    # with `client_private_key_file`, for mutual TLS
//! client_private_key_file = "certs/app.key"
//! tls = true                            # require TLS
//! connection_name = "shop"
//! connect_timeout = "5s"                # the default
//!
//! [message_broker.local]
//! type = "memory"                       # or "embedded": the in-process broker
//! ```
//!
//! A label without a section gets an embedded broker of its own (see
//! [`MessagingManager`](crate::MessagingManager)).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The name of the runtime-config table holding the broker sections.
pub const SECTION: &str = "message_broker";

/// The connect timeout when `connect_timeout` is not set.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Every configured broker, by label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessagingConfig {
    /// The `[message_broker.LABEL]` sections, by label.
    pub brokers: BTreeMap<String, BrokerConfig>,
}

/// Which backend serves a label.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// Parsed once per app, a few per app: the size of `Memory` does not matter,
// and `Nats(NatsConfig)` reads better in matches than a box.
#[allow(clippy::large_enum_variant)]
pub enum BrokerConfig {
    /// `type = "memory"` or `"embedded"`: the in-process broker.
    Memory,
    /// `type = "nats"`: a NATS server (or cluster).
    Nats(NatsConfig),
}

/// How to reach a NATS server: one `[message_broker.LABEL]` section of
/// `type = "nats"`.
///
/// Its `Debug` shows `***` in place of the password, token and nkey seed,
/// and [`NatsConfig::describe`] names the servers without credentials.
#[derive(Clone, PartialEq, Eq)]
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
    pub(crate) fn check(&self) -> Result<(), String> {
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
pub(crate) fn display_url(url: &str) -> String {
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

impl MessagingConfig {
    /// Parses the value of the runtime config's `message_broker` table (one
    /// sub-table per label). Relative paths are resolved against
    /// `base_dir`, the runtime config file's directory. Errors name the
    /// full key, e.g. `` `message_broker.events.url`: … ``.
    pub fn from_toml(table: &toml::Table, base_dir: &Path) -> Result<Self, String> {
        let mut config = MessagingConfig::default();
        for (label, value) in table {
            let section = value
                .as_table()
                .ok_or_else(|| format!("`{SECTION}.{label}`: expected a table"))?;
            let broker = parse_section(label, section, base_dir)?;
            config.brokers.insert(label.clone(), broker);
        }
        Ok(config)
    }
}

const TYPES: &str = "\"memory\", \"embedded\", \"nats\"";

const NATS_KEYS: &[&str] = &[
    "type",
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

fn parse_section(
    label: &str,
    section: &toml::Table,
    base_dir: &Path,
) -> Result<BrokerConfig, String> {
    let key = |name: &str| format!("{SECTION}.{label}.{name}");
    let invalid = |name: &str, message: String| format!("`{}`: {message}", key(name));
    let string = |name: &str| -> Result<Option<String>, String> {
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
    let path = |name: &str| -> Result<Option<PathBuf>, String> {
        Ok(string(name)?.map(|p| base_dir.join(p)))
    };

    let ty = string("type")?
        .ok_or_else(|| invalid("type", format!("missing; expected one of {TYPES}")))?;
    let allowed: &[&str] = match ty.as_str() {
        "memory" | "embedded" => &["type"],
        "nats" => NATS_KEYS,
        other => {
            return Err(invalid(
                "type",
                format!("unsupported message broker type \"{other}\"; expected one of {TYPES}"),
            ));
        }
    };
    for name in section.keys() {
        if !allowed.contains(&name.as_str()) {
            let expected = allowed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(invalid(
                name,
                format!(
                    "unknown key for a message broker of type \"{ty}\"; expected one of {expected}"
                ),
            ));
        }
    }
    if ty != "nats" {
        return Ok(BrokerConfig::Memory);
    }

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
    config
        .check()
        .map_err(|message| format!("`{SECTION}.{label}`: {message}"))?;
    Ok(BrokerConfig::Nats(config))
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

    fn parse(text: &str) -> Result<MessagingConfig, String> {
        let table: toml::Table = toml::from_str(text).expect("valid TOML");
        MessagingConfig::from_toml(&table, Path::new("/etc/skiff"))
    }

    fn nats(text: &str) -> NatsConfig {
        match parse(&format!("[events]\ntype = \"nats\"\n{text}")) {
            Ok(config) => match &config.brokers["events"] {
                BrokerConfig::Nats(nats) => nats.clone(),
                other => panic!("expected nats, got {other:?}"),
            },
            Err(err) => panic!("{err}"),
        }
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("invalid")
    }

    #[test]
    fn memory_and_embedded() {
        let config = parse("[a]\ntype = \"memory\"\n[b]\ntype = \"embedded\"").unwrap();
        assert_eq!(config.brokers["a"], BrokerConfig::Memory);
        assert_eq!(config.brokers["b"], BrokerConfig::Memory);
        assert_eq!(parse("").unwrap(), MessagingConfig::default());
    }

    #[test]
    fn nats_minimal() {
        let config = nats("url = \"nats://127.0.0.1:4222\"");
        assert_eq!(config, NatsConfig::new("nats://127.0.0.1:4222"));
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.describe(), "nats://127.0.0.1:4222");
    }

    #[test]
    fn nats_everything() {
        let config = nats(
            r#"
            url = ["nats://a:4222", "tls://b:4443", "c:4222"]
            user = "app"
            password = "s3cret"
            ca_roots_file = "certs/ca.pem"
            client_cert_file = "/abs/app.pem"
            client_private_key_file = "certs/app.key"
            tls = true
            connection_name = "shop"
            connect_timeout = "500ms"
            "#,
        );
        assert_eq!(config.urls, ["nats://a:4222", "tls://b:4443", "c:4222"]);
        assert_eq!(config.user.as_deref(), Some("app"));
        assert_eq!(config.password.as_deref(), Some("s3cret"));
        assert_eq!(
            config.ca_roots_file.as_deref(),
            Some(Path::new("/etc/skiff/certs/ca.pem"))
        );
        assert_eq!(
            config.client_cert_file.as_deref(),
            Some(Path::new("/abs/app.pem"))
        );
        assert_eq!(
            config.client_private_key_file.as_deref(),
            Some(Path::new("/etc/skiff/certs/app.key"))
        );
        assert!(config.tls);
        assert_eq!(config.connection_name.as_deref(), Some("shop"));
        assert_eq!(config.connect_timeout, Duration::from_millis(500));
        assert_eq!(
            config.describe(),
            "nats://a:4222, tls://b:4443, nats://c:4222"
        );
    }

    #[test]
    fn nats_other_auth_methods() {
        assert_eq!(
            nats("url = \"h:1\"\ntoken = \"t0k\"").token.as_deref(),
            Some("t0k")
        );
        assert_eq!(
            nats("url = \"h:1\"\ncredentials_file = \"app.creds\"").credentials_file,
            Some(PathBuf::from("/etc/skiff/app.creds"))
        );
        assert_eq!(
            nats("url = \"h:1\"\nnkey_seed = \"SUAXX\"")
                .nkey_seed
                .as_deref(),
            Some("SUAXX")
        );
    }

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
    fn errors_name_the_key() {
        let cases = [
            ("[e]\nurl = \"h:1\"", "`message_broker.e.type`: missing"),
            ("e = 1", "`message_broker.e`: expected a table"),
            (
                "[e]\ntype = \"kafka\"",
                "`message_broker.e.type`: unsupported message broker type \"kafka\"",
            ),
            (
                "[e]\ntype = 3",
                "`message_broker.e.type`: expected a string",
            ),
            (
                "[e]\ntype = \"memory\"\nurl = \"h:1\"",
                "`message_broker.e.url`: unknown key for a message broker of type \"memory\"; \
                 expected one of `type`",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\npasword = \"x\"",
                "`message_broker.e.pasword`: unknown key",
            ),
            ("[e]\ntype = \"nats\"", "`message_broker.e.url`: missing"),
            (
                "[e]\ntype = \"nats\"\nurl = []",
                "`message_broker.e.url`: expected at least one",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = [1]",
                "`message_broker.e.url`: expected an array of strings",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = 4222",
                "`message_broker.e.url`: expected a string",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"redis://h:1\"",
                "`message_broker.e.url`: unsupported scheme `redis://`",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"nats://bob:pw-5r@h:1\"",
                "`message_broker.e.url`: `nats://h:1` has credentials in it",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\nuser = \"bob\"",
                "`message_broker.e.password`: missing",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\npassword = \"pw\"",
                "`message_broker.e.user`: missing",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\nclient_cert_file = \"c.pem\"",
                "`message_broker.e.client_private_key_file`: missing",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\nclient_private_key_file = \"c.key\"",
                "`message_broker.e.client_cert_file`: missing",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\ntoken = \"t\"\nnkey_seed = \"s\"",
                "`message_broker.e`: more than one way to authenticate is configured \
                 (`token`, `nkey_seed`)",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\ntls = \"yes\"",
                "`message_broker.e.tls`: expected true or false",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\nconnect_timeout = 5",
                "`message_broker.e.connect_timeout`: expected a duration string",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\nconnect_timeout = \"5\"",
                "`message_broker.e.connect_timeout`: invalid duration `5`: missing unit",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\nconnect_timeout = \"0s\"",
                "`message_broker.e.connect_timeout`: must be more than zero",
            ),
            (
                "[e]\ntype = \"nats\"\nurl = \"h:1\"\ntoken = \"\"",
                "`message_broker.e.token`: must not be empty",
            ),
        ];
        for (text, expected) in cases {
            let err = error(text);
            assert!(
                err.starts_with(expected),
                "{text:?}:\n  got {err}\n  want {expected}"
            );
        }
        // Secrets never appear in errors.
        let err = error("[e]\ntype = \"nats\"\nurl = \"nats://bob:pw-5r@h:1\"");
        assert!(!err.contains("pw-5r"), "{err}");
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
