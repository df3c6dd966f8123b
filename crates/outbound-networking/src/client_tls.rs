//! Whom an outbound HTTPS request trusts, and what it presents: the TLS client
//! configuration per component and destination (Spin's `[[client_tls]]` in the
//! runtime config).
//!
//! With no entry for a request, the server's certificate must chain to the
//! Mozilla roots built into Skiff or to the system's (`SSL_CERT_FILE` or
//! `SSL_CERT_DIR` name others), and no client certificate is presented. An
//! entry naming the component and the destination replaces that with its own
//! roots (a private CA, with or without the Mozilla roots) and may present a
//! client certificate (mutual TLS).
//!
//! ```
//! use skiff_outbound_networking::{ClientTls, ClientTlsEntry};
//! let entry = ClientTlsEntry {
//!     components: vec!["api".into()],
//!     hosts: vec!["internal.example:8443".parse()?],
//!     use_webpki_roots: true,
//!     roots: Vec::new(),
//!     identity: None,
//! };
//! let tls = ClientTls::new(vec![entry])?;
//! assert!(tls.entry_for("api", "internal.example", 8443).is_some());
//! assert!(tls.entry_for("api", "internal.example", 443).is_none());
//! assert!(tls.entry_for("other", "internal.example", 8443).is_none());
//! # Ok::<(), String>(())
//! ```

use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// One `[[client_tls]]` entry, its files read.
#[derive(Debug)]
pub struct ClientTlsEntry {
    /// The components (ids) it applies to.
    pub components: Vec<String>,
    /// The destinations it applies to.
    pub hosts: Vec<TlsDestination>,
    /// Whether the Mozilla roots are trusted beside [`roots`](Self::roots).
    pub use_webpki_roots: bool,
    /// CA certificates trusted (`ca_roots_file`).
    pub roots: Vec<CertificateDer<'static>>,
    /// The certificate chain and private key presented to the server
    /// (`client_cert_file`, `client_private_key_file`).
    pub identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

/// A destination of a [`ClientTlsEntry`]: `host` (any port) or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDestination {
    host: String,
    port: Option<u16>,
}

impl TlsDestination {
    /// Whether a request to `host:port` goes to this destination.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.host.eq_ignore_ascii_case(host) && self.port.is_none_or(|p| p == port)
    }
}

impl FromStr for TlsDestination {
    type Err = String;

    /// Parses `host`, `host:port`, an IP address or `[v6]:port`; no scheme or path.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| Err(format!("`{s}` is not a host or host:port: {why}"));
        if s.contains("://") || s.contains('/') {
            return bad("write the host without a scheme or path");
        }
        if let Ok(ip) = s.parse::<std::net::IpAddr>() {
            return Ok(TlsDestination {
                host: ip.to_string(),
                port: None,
            });
        }
        if let Ok(addr) = s.parse::<std::net::SocketAddr>() {
            return Ok(TlsDestination {
                host: addr.ip().to_string(),
                port: Some(addr.port()),
            });
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((host, port)) => match port.parse::<u16>() {
                Ok(port) => (host, Some(port)),
                Err(_) => return bad("the port is not a number from 0 to 65535"),
            },
            None => (s, None),
        };
        let valid = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return bad("expected a DNS name such as `api.example.com`");
        }
        Ok(TlsDestination {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl std::fmt::Display for TlsDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.clone(),
        };
        match self.port {
            Some(port) => write!(f, "{host}:{port}"),
            None => f.write_str(&host),
        }
    }
}

/// The TLS client configurations of an app's outbound HTTPS requests: its
/// `[[client_tls]]` entries, each made into a rustls configuration once.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    rules: Vec<Rule>,
}

/// An entry, ready to connect with.
#[derive(Debug, Clone)]
struct Rule {
    components: Vec<String>,
    hosts: Vec<TlsDestination>,
    entry: MatchedEntry,
}

/// What the entry a request matched connects with.
#[derive(Debug, Clone)]
pub struct MatchedEntry {
    /// The rustls configuration to connect with.
    pub config: Arc<ClientConfig>,
    /// Which entry it is, and what it trusts (for error messages).
    pub summary: Arc<str>,
}

impl ClientTls {
    /// Builds each entry's configuration; fails (naming the entry, counted
    /// from 1) when its roots or its client certificate and key are unusable.
    pub fn new(entries: Vec<ClientTlsEntry>) -> Result<Self, String> {
        let rules = entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                let n = i + 1;
                let mut roots = RootCertStore::empty();
                if entry.use_webpki_roots {
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
                let own = entry.roots.len();
                for cert in entry.roots {
                    roots.add(cert).map_err(|err| {
                        format!("`[[client_tls]]` entry {n}: `ca_roots_file` holds an unusable CA certificate: {err}")
                    })?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "`[[client_tls]]` entry {n} trusts no certificate authority: give \
                         `ca_roots_file` or leave `ca_use_webpki_roots` on"
                    ));
                }
                let builder = crate::tls_builder().with_root_certificates(roots);
                let presents = entry.identity.is_some();
                let config = match entry.identity {
                    None => builder.with_no_client_auth(),
                    Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|err| {
                        format!("`[[client_tls]]` entry {n}: the client certificate and private key cannot be used together: {err}")
                    })?,
                };
                let trusts = match (entry.use_webpki_roots, own) {
                    (true, 0) => "the Mozilla roots".to_string(),
                    (true, own) => format!("the Mozilla roots and {own} CA certificate(s) from `ca_roots_file`"),
                    (false, own) => format!("{own} CA certificate(s) from `ca_roots_file`"),
                };
                let presents = match presents {
                    true => ", presenting its client certificate",
                    false => "",
                };
                let mut config = config;
                config.alpn_protocols = http_alpn();
                Ok(Rule {
                    components: entry.components,
                    hosts: entry.hosts,
                    entry: MatchedEntry {
                        config: Arc::new(config),
                        summary: format!("`[[client_tls]]` entry {n} (trusting {trusts}{presents})")
                            .into(),
                    },
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(ClientTls { rules })
    }

    /// The components the entries name, each once, in order.
    pub fn components(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for rule in &self.rules {
            for id in &rule.components {
                if !seen.contains(&id.as_str()) {
                    seen.push(id);
                }
            }
        }
        seen
    }

    /// The first entry for `component` and `host:port`, if any (with no
    /// entry, a request uses [`https_client_config`]).
    pub fn entry_for(&self, component: &str, host: &str, port: u16) -> Option<&MatchedEntry> {
        self.rules
            .iter()
            .find(|rule| {
                rule.components.iter().any(|id| id == component)
                    && rule.hosts.iter().any(|dest| dest.matches(host, port))
            })
            .map(|rule| &rule.entry)
    }
}

/// The configuration of an outbound HTTPS request no `[[client_tls]]` entry
/// names: the Mozilla roots built in and the system's (`SSL_CERT_FILE` or
/// `SSL_CERT_DIR` name others), no client certificate; HTTP/2 or HTTP/1.1 by
/// ALPN. Built once per process.
pub fn https_client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Ok(system) = crate::system_roots() {
                roots.roots.extend(system.roots.iter().cloned());
            }
            let mut config = Arc::unwrap_or_clone(crate::client_config(roots));
            config.alpn_protocols = http_alpn();
            Arc::new(config)
        })
        .clone()
}

/// What outbound HTTPS offers by ALPN: HTTP/2, then HTTP/1.1 (a server
/// without ALPN gets HTTP/1.1).
fn http_alpn() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_and_match() {
        let any: TlsDestination = "API.example.com".parse().unwrap();
        assert!(any.matches("api.example.com", 443));
        assert!(any.matches("api.EXAMPLE.com", 8443));
        assert!(!any.matches("example.com", 443));
        let one: TlsDestination = "api.example.com:8443".parse().unwrap();
        assert!(one.matches("api.example.com", 8443));
        assert!(!one.matches("api.example.com", 443));
        let v6: TlsDestination = "[::1]:9443".parse().unwrap();
        assert!(v6.matches("[::1]", 9443));
        assert_eq!(v6.to_string(), "[::1]:9443");
        let ip: TlsDestination = "127.0.0.1".parse().unwrap();
        assert!(ip.matches("127.0.0.1", 1));
        for bad in [
            "https://api.example.com",
            "api.example.com/x",
            "api:port",
            "",
            "a..b",
            "*.example.com",
        ] {
            assert!(bad.parse::<TlsDestination>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_entry_must_trust_something() {
        let entry = ClientTlsEntry {
            components: vec!["c".into()],
            hosts: vec!["h".parse().unwrap()],
            use_webpki_roots: false,
            roots: Vec::new(),
            identity: None,
        };
        let err = ClientTls::new(vec![entry]).unwrap_err();
        assert!(
            err.contains("entry 1 trusts no certificate authority"),
            "{err}"
        );
    }
}
