//! Where a component wants to connect: `scheme://host:port`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::default_port;
use crate::error::TargetError;
use crate::host::Host;

/// A connection a component asks for: scheme, normalised host and port.
///
/// The port is always known: either written in the URL or the scheme's default (see
/// [`default_port`]). `Display` writes `scheme://host:port`.
///
/// ```
/// use skiff_outbound_networking::OutboundTarget;
/// let target = OutboundTarget::from_url("https://API.example.com/v1?x=1").unwrap();
/// assert_eq!(target.to_string(), "https://api.example.com:443");
/// let target = OutboundTarget::from_url("postgres://user:p#ss@[::1]/db").unwrap();
/// assert_eq!(target.to_string(), "postgres://[::1]:5432");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutboundTarget {
    scheme: String,
    host: Host,
    port: u16,
}

impl OutboundTarget {
    /// A target from its parts. `host` is a name, an IPv4 address, or an IPv6 address with or
    /// without brackets; names are lower-cased.
    pub fn new(scheme: &str, host: &str, port: u16) -> Result<Self, TargetError> {
        let url = || format!("{scheme}://{host}:{port}");
        let scheme = parse_scheme(scheme).ok_or_else(|| TargetError::InvalidScheme {
            url: url(),
            scheme: scheme.to_string(),
        })?;
        let host = Host::parse(host.trim(), true)
            .map_err(|reason| TargetError::InvalidHost { url: url(), reason })?;
        Ok(Self { scheme, host, port })
    }

    /// The target of a URL such as `https://api.example.com/path` or
    /// `redis://user:pass@cache:6380/0`. Without a port, the scheme's default port is used;
    /// a scheme without one is an error (use [`from_url_or_port`](Self::from_url_or_port)).
    ///
    /// As in Spin, the host is what follows the last `@` before the first `/`, so passwords
    /// may contain `#` or `?` unencoded. When you hold the authority the request will really
    /// be sent to (wasi:http's `authority`), prefer [`from_authority`](Self::from_authority).
    pub fn from_url(url: &str) -> Result<Self, TargetError> {
        Self::parse_url(url, None)
    }

    /// Like [`from_url`](Self::from_url), but a URL without a port whose scheme has no
    /// default port gets `fallback_port` (the default of the client library that will make the
    /// connection, e.g. 6379 for `rediss://`).
    pub fn from_url_or_port(url: &str, fallback_port: u16) -> Result<Self, TargetError> {
        Self::parse_url(url, Some(fallback_port))
    }

    /// The target of a scheme and an authority (`host[:port]`, optionally with `userinfo@`),
    /// as wasi:http hands them over.
    pub fn from_authority(scheme: &str, authority: &str) -> Result<Self, TargetError> {
        let url = format!("{scheme}://{authority}");
        parse_authority(&url, scheme, authority, None)
    }

    /// The target of a socket connection (`tcp` or `udp` for wasi:sockets).
    pub fn from_socket_addr(scheme: &str, addr: SocketAddr) -> Result<Self, TargetError> {
        parse_scheme(scheme)
            .map(|_| Self::for_socket(scheme, addr))
            .ok_or_else(|| TargetError::InvalidScheme {
                url: format!("{scheme}://{addr}"),
                scheme: scheme.to_string(),
            })
    }

    /// A socket target without validating the scheme (an odd scheme just matches nothing but
    /// `*://` entries).
    pub(crate) fn for_socket(scheme: &str, addr: SocketAddr) -> Self {
        Self {
            scheme: scheme.to_ascii_lowercase(),
            host: Host::Ip(addr.ip()),
            port: addr.port(),
        }
    }

    /// The scheme, lower-cased.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The normalised host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address, if the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.ip()
    }

    /// The shortest `allowed_outbound_hosts` entry that allows exactly this target:
    /// `scheme://host`, plus `:port` when the port is not the scheme's default.
    pub fn as_pattern(&self) -> String {
        if default_port(&self.scheme) == Some(self.port) {
            format!("{}://{}", self.scheme, self.host)
        } else {
            self.to_string()
        }
    }

    fn parse_url(url: &str, fallback_port: Option<u16>) -> Result<Self, TargetError> {
        let text = url.trim();
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(TargetError::MissingScheme {
                url: url.to_string(),
            });
        };
        // The authority ends at the first `/`; any `?` or `#` before it belongs to a password
        // when an `@` follows, and otherwise ends the authority.
        let authority = rest.split('/').next().unwrap_or(rest);
        let host_port = match authority.rsplit_once('@') {
            Some((_userinfo, host_port)) => host_port,
            None => authority,
        };
        let host_port = host_port.split(['?', '#']).next().unwrap_or(host_port);
        parse_authority(url, scheme, host_port, fallback_port)
    }
}

fn parse_authority(
    url: &str,
    scheme: &str,
    authority: &str,
    fallback_port: Option<u16>,
) -> Result<OutboundTarget, TargetError> {
    let scheme_name = parse_scheme(scheme).ok_or_else(|| TargetError::InvalidScheme {
        url: url.to_string(),
        scheme: scheme.to_string(),
    })?;
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host_port)| host_port);
    let (host, port) = if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(close) => {
                let (host, tail) = host_port.split_at(close + 1);
                match tail.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None if tail.is_empty() => (host, None),
                    None => (host_port, None),
                }
            }
            None => (host_port, None),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let host = Host::parse(host, false).map_err(|reason| TargetError::InvalidHost {
        url: url.to_string(),
        reason,
    })?;
    let port = match port.filter(|p| !p.is_empty()) {
        Some(port) => port.parse().map_err(|_| TargetError::InvalidPort {
            url: url.to_string(),
            port: port.to_string(),
        })?,
        None => default_port(&scheme_name)
            .or(fallback_port)
            .ok_or_else(|| TargetError::PortRequired {
                url: url.to_string(),
                scheme: scheme_name.clone(),
            })?,
    };
    Ok(OutboundTarget {
        scheme: scheme_name,
        host,
        port,
    })
}

/// A URL scheme per RFC 3986, lower-cased.
fn parse_scheme(scheme: &str) -> Option<String> {
    let mut bytes = scheme.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

impl fmt::Display for OutboundTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}
