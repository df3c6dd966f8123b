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
use std::path::Path;

pub use skiff_nats::NatsConfig;

/// The name of the runtime-config table holding the broker sections.
pub const SECTION: &str = "message_broker";

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

/// A NATS section's keys: `type` and the connection's.
static NATS_KEYS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    std::iter::once("type")
        .chain(skiff_nats::CONNECTION_KEYS.iter().copied())
        .collect()
});

fn parse_section(
    label: &str,
    section: &toml::Table,
    base_dir: &Path,
) -> Result<BrokerConfig, String> {
    let key = |name: &str| format!("{SECTION}.{label}.{name}");
    let invalid = |name: &str, message: String| format!("`{}`: {message}", key(name));
    // The connection keys are `skiff-nats`'s to read; `type` is ours.
    let ty = match section.get("type") {
        None => return Err(invalid("type", format!("missing; expected one of {TYPES}"))),
        Some(toml::Value::String(ty)) => ty.clone(),
        Some(other) => {
            return Err(invalid(
                "type",
                format!("expected a string, found {}", other.type_str()),
            ));
        }
    };
    let allowed: &[&str] = match ty.as_str() {
        "memory" | "embedded" => &["type"],
        "nats" => &NATS_KEYS,
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

    NatsConfig::from_section(&format!("{SECTION}.{label}"), section, base_dir)
        .map(BrokerConfig::Nats)
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

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
}
