//! `allowed_outbound_hosts`: which hosts a component may connect to.
//!
//! This crate parses the `allowed_outbound_hosts` entries of a component (and
//! `skiff run --allow-outbound PATTERN`) with Spin's semantics, and answers the questions the
//! capabilities ask before they connect: wasi:http's `outgoing-handler`, wasi:sockets TCP/UDP,
//! and the Redis, PostgreSQL, MySQL and MQTT clients. It implements no WIT interface itself.
//!
//! An entry is `scheme://host[:port]`:
//!
//! | part | forms |
//! |---|---|
//! | scheme | a name (`https`, `redis`, `tcp`) or `*` |
//! | host | a name (`api.example.com`), `*`, `*.example.com` (subdomains only, not `example.com` itself), an IPv4 address, an IPv6 address in brackets, a CIDR range (`10.0.0.0/8`, `[fd00::]/8`), `self` / `self.alt` (the application itself), `<component>.spin.internal` / `*.spin.internal` (service chaining) |
//! | port | a number, `*`, a range `8000-8010` (inclusive) or Spin's half-open `8000..8011`; omitted means the scheme's default ([`default_port`]), and a scheme without a default needs one |
//!
//! `*://*:*` allows everything. `{{ variable }}` templates are expanded first.
//!
//! On top of Spin's rules Skiff adds an SSRF guard ([`AllowedHosts::allows_resolved`]): an
//! address that is loopback, private, link-local, unspecified or unique-local is reached only
//! through an entry that names the host, the IP or a CIDR range containing it, never through
//! `*` or `*.domain`.
//!
//! ```
//! use skiff_outbound_networking::{AllowedHosts, OutboundTarget};
//!
//! let vars = |name: &str| (name == "db_host").then(|| "db.internal".to_string());
//! let hosts = AllowedHosts::parse(
//!     &["https://*.example.com", "postgres://{{ db_host }}", "redis://*:6379"],
//!     &vars,
//! )?;
//!
//! let api = OutboundTarget::from_url("https://api.example.com/v1/users")?;
//! assert!(hosts.allows(&api));
//! let apex = OutboundTarget::from_url("https://example.com")?;
//! assert!(!hosts.allows(&apex));
//! assert_eq!(
//!     hosts.check(&apex).to_string(),
//!     "`https://example.com:443` is not allowed: add `https://example.com` to `allowed_outbound_hosts`"
//! );
//!
//! // Named explicitly: a private address is fine. Through a wildcard: it is not.
//! let db = OutboundTarget::from_url("postgres://db.internal/todo")?;
//! assert!(hosts.allows_resolved(&db, "10.0.0.7".parse()?).is_allowed());
//! let cache = OutboundTarget::from_url("redis://cache.internal")?;
//! assert!(hosts.allows(&cache));
//! assert!(!hosts.allows_resolved(&cache, "10.0.0.8".parse()?).is_allowed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod address;
mod blocked;
mod client_tls;
mod decision;
mod error;
mod h2c;
mod host;
mod http_limits;
mod legacy;
mod pattern;
mod target;
mod template;

use std::net::{IpAddr, SocketAddr};

pub use address::{PrivateAddressKind, private_address_kind};
pub use blocked::{BlockedBy, BlockedNetworks, SharedBlockedNetworks};
pub use client_tls::{
    ClientTls, ClientTlsEntry, MatchedEntry, TlsDestination, https_client_config,
};
pub use decision::{Decision, Denial, DenialReason};
pub use error::{PatternError, PatternErrorKind, TargetError};
pub use h2c::{H2cError, H2cPriorKnowledge, SKIFF_H2C_ENV, SPIN_H2C_ENV};
pub use host::Host;
pub use http_limits::{OutboundHttpLimits, SharedHttpLimits};
pub use legacy::convert_allowed_http_hosts;
pub use pattern::{AllowedHost, HostPattern, PortPattern, SchemePattern};
/// rustls's certificate and key types ([`ClientTlsEntry`] holds them).
pub use rustls::pki_types;
pub use target::OutboundTarget;

/// The domain of service-chaining hosts: `<component>.spin.internal`.
pub const SERVICE_CHAINING_DOMAIN: &str = "spin.internal";

/// The host SDKs use for self requests when they cannot send a relative URL
/// (`http://self.alt/path`); such requests are checked with [`AllowedHosts::allows_self`].
pub const SELF_ALT_HOST: &str = "self.alt";

/// The schemes a self request may use.
const SELF_SCHEMES: [&str; 2] = ["http", "https"];

/// The port an entry or URL without one implies: Spin's list, nothing more (`rediss`, `mqtts`
/// and unknown schemes have none, so entries for them need a port).
///
/// ```
/// assert_eq!(skiff_outbound_networking::default_port("redis"), Some(6379));
/// assert_eq!(skiff_outbound_networking::default_port("rediss"), None);
/// ```
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

/// The component a service-chaining host names: `Some("authz")` for `authz.spin.internal`
/// (a `:port` suffix is ignored), `None` for other hosts.
///
/// ```
/// use skiff_outbound_networking::service_chaining_target;
/// assert_eq!(service_chaining_target("authz.spin.internal:80"), Some("authz"));
/// assert_eq!(service_chaining_target("a.b.spin.internal"), None);
/// ```
pub fn service_chaining_target(host: &str) -> Option<&str> {
    let host = host.rsplit_once(':').map_or(host, |(host, _port)| host);
    let (component, domain) = host.split_once('.')?;
    domain
        .eq_ignore_ascii_case(SERVICE_CHAINING_DOMAIN)
        .then_some(component)
}

/// A component's parsed `allowed_outbound_hosts`. The default allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    hosts: Vec<AllowedHost>,
    blocked: Blocklist,
}

/// The operator's blocked networks an [`AllowedHosts`] also applies (none by default).
#[derive(Debug, Clone, Default)]
struct Blocklist(Option<std::sync::Arc<SharedBlockedNetworks>>);

impl PartialEq for Blocklist {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for Blocklist {}

impl AllowedHosts {
    /// Parses entries, expanding `{{ variable }}` templates with `resolve` first. The first
    /// invalid entry is the error, naming the entry and what is wrong with it.
    pub fn parse<S: AsRef<str>>(
        patterns: &[S],
        resolve: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, PatternError> {
        let hosts = patterns
            .iter()
            .map(|p| parse_entry(p.as_ref(), resolve))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            hosts,
            blocked: Blocklist::default(),
        })
    }

    /// These entries, with no connection allowed to the networks `blocked`
    /// holds (the operator's `block_networks`, whatever it is at the time of
    /// each check).
    pub fn with_blocked(mut self, blocked: std::sync::Arc<SharedBlockedNetworks>) -> Self {
        self.blocked = Blocklist(Some(blocked));
        self
    }

    /// Checks entries when not every variable has a value yet (at manifest load time):
    /// literal entries must parse, and templated ones must parse whenever `resolve` knows all
    /// their variables; templates with unknown variables are skipped.
    pub fn validate<S: AsRef<str>>(
        patterns: &[S],
        resolve: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), PatternError> {
        for pattern in patterns {
            match parse_entry(pattern.as_ref(), resolve) {
                Err(err) if matches!(err.kind(), PatternErrorKind::UnresolvedVariable { .. }) => {}
                Err(err) => return Err(err),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Allows everything, like `*://*:*` (the SSRF guard still applies).
    pub fn allow_all() -> Self {
        Self {
            hosts: vec![AllowedHost::parse("*://*:*").expect("`*://*:*` is a valid entry")],
            blocked: Blocklist::default(),
        }
    }

    /// Whether there are no entries (nothing is allowed).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = &AllowedHost> {
        self.hosts.iter()
    }

    /// Adds the entries of `other` (e.g. `--allow-outbound` on top of the manifest's).
    pub fn extend(&mut self, other: &AllowedHosts) {
        self.hosts.extend(other.hosts.iter().cloned());
    }

    /// Whether an entry allows `target`'s scheme, host and port (Spin's check, before any name
    /// is resolved). `self` entries never match here: see [`allows_self`](Self::allows_self).
    pub fn allows(&self, target: &OutboundTarget) -> bool {
        self.hosts.iter().any(|h| h.allows(target))
    }

    /// [`allows`](Self::allows) with a reason when denied.
    pub fn check(&self, target: &OutboundTarget) -> Decision {
        if self.allows(target) {
            Decision::Allowed
        } else {
            Decision::not_granted(target)
        }
    }

    /// The check to make once `target`'s host has resolved to `ip`, before connecting to it.
    ///
    /// Allowed when an entry allows `target`, no blocked network ([`with_blocked`](Self::with_blocked))
    /// holds `ip`, and either `ip` is a public address, or an entry with a matching scheme and
    /// port names `target`'s host, `ip`, or a CIDR range holding `ip` (the SSRF guard; see
    /// [`private_address_kind`]). Check every address a name resolves to, and connect only to
    /// allowed ones.
    pub fn allows_resolved(&self, target: &OutboundTarget, ip: IpAddr) -> Decision {
        if !self.allows(target) {
            return Decision::not_granted(target);
        }
        if let Some(blocked) = &self.blocked.0
            && let Some(by) = blocked.get().blocks(ip)
        {
            return Decision::blocked(target, ip, by);
        }
        match private_address_kind(ip) {
            None => Decision::Allowed,
            Some(_) if self.hosts.iter().any(|h| h.names_explicitly(target, ip)) => {
                Decision::Allowed
            }
            Some(kind) => Decision::private_address(target, ip, kind),
        }
    }

    /// Whether a wasi:sockets connection to `addr` is allowed. `scheme` is `tcp` for TCP
    /// connects and `udp` for UDP, as in Spin: an entry must allow that scheme (or `*`), so
    /// `postgres://db:5432` does not open raw sockets. The SSRF guard applies.
    pub fn allows_socket(&self, scheme: &str, addr: SocketAddr) -> bool {
        self.check_socket(scheme, addr).is_allowed()
    }

    /// [`allows_socket`](Self::allows_socket) with a reason when denied.
    pub fn check_socket(&self, scheme: &str, addr: SocketAddr) -> Decision {
        let target = OutboundTarget::for_socket(scheme, addr);
        self.allows_resolved(&target, addr.ip())
    }

    /// Whether self requests are allowed: relative URLs (`/api`) or [`SELF_ALT_HOST`] from an
    /// HTTP component to its own application. As in Spin, an `http`, `https` or `*` entry with
    /// host `self`, `self.alt` or `*` allows them, whatever its port.
    pub fn allows_self(&self) -> bool {
        self.hosts.iter().any(|h| h.allows_self(&SELF_SCHEMES))
    }
}

fn parse_entry(
    pattern: &str,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Result<AllowedHost, PatternError> {
    match template::expand(pattern, resolve) {
        Err(kind) => Err(PatternError::new(pattern, kind)),
        Ok(None) => AllowedHost::parse(pattern),
        Ok(Some(expanded)) => AllowedHost::parse(&expanded).map_err(|e| e.in_template(pattern)),
    }
}

/// Makes rustls's aws-lc-rs provider the process's default, once, unless one is
/// installed already. Clients that build their TLS configuration with
/// `rustls::ClientConfig::builder()` — wasmtime's outbound HTTPS, the Redis
/// client for `rediss://` — need one: Skiff links two rustls providers
/// (aws-lc-rs for `wasi:http`, ring for the OCI client), so rustls cannot choose
/// by itself and would panic. `skiff-runtime` calls this as it starts serving or
/// running a command; an embedder using those clients otherwise calls it first.
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err: another default is installed, which serves as well.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// The system's root certificates (`SSL_CERT_FILE` or `SSL_CERT_DIR` name
/// others), loaded once per process; an error says why none could be.
fn system_roots() -> Result<&'static rustls::RootCertStore, String> {
    static ROOTS: std::sync::OnceLock<Result<rustls::RootCertStore, String>> =
        std::sync::OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
            if added == 0 {
                let why = loaded
                    .errors
                    .first()
                    .map(|err| format!(": {err}"))
                    .unwrap_or_default();
                return Err(format!(
                    "no trusted root certificates could be loaded (set SSL_CERT_FILE to a PEM \
                     bundle){why}"
                ));
            }
            Ok(roots)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A client configuration builder with aws-lc-rs and the safe protocol versions.
fn tls_builder() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports TLS 1.2 and 1.3")
}

/// A client configuration over `roots`, with aws-lc-rs.
fn client_config(roots: rustls::RootCertStore) -> std::sync::Arc<rustls::ClientConfig> {
    std::sync::Arc::new(
        tls_builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A rustls client configuration trusting the system's root certificates
/// (`SSL_CERT_FILE` or `SSL_CERT_DIR` name others), with aws-lc-rs: for
/// clients that take a configuration rather than building one (`mqtts://`,
/// PostgreSQL). Built once per process; an error says why no root could be
/// loaded.
pub fn tls_client_config() -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    static CONFIG: std::sync::OnceLock<Result<std::sync::Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| Ok(client_config(system_roots()?.clone())))
        .clone()
}

/// [`tls_client_config`] also trusting the CA certificates in `pem` (a guest's
/// own CA root, e.g. `spin:postgres`'s `set-ca-root`); fails when `pem` holds
/// no certificate.
pub fn tls_client_config_with_ca(
    pem: &str,
) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = system_roots()
        .cloned()
        .unwrap_or_else(|_| rustls::RootCertStore::empty());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|err| format!("the CA root is not PEM: {err}"))?;
    if certs.is_empty() {
        return Err("the CA root holds no PEM certificate".into());
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|err| format!("the CA root is not a usable certificate: {err}"))?;
    }
    Ok(client_config(roots))
}
