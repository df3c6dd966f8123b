//! One `allowed_outbound_hosts` entry: `scheme://host[:port]`, parsed and matched.

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use ipnet::IpNet;

use crate::address::canonical;
use crate::error::{PatternError, PatternErrorKind as Kind};
use crate::host::Host;
use crate::target::OutboundTarget;
use crate::{SERVICE_CHAINING_DOMAIN, default_port};

/// One parsed `allowed_outbound_hosts` entry.
///
/// Two entries are equal when they allow the same things, whatever their spelling.
#[derive(Debug, Clone)]
pub struct AllowedHost {
    text: String,
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

/// The scheme part of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SchemePattern {
    /// `*://`: any scheme.
    Any,
    /// One scheme, lower-cased (`https`).
    Named(String),
}

/// The host part of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostPattern {
    /// `*`: any host.
    Any,
    /// `*.example.com`: any subdomain of the domain (held without the `*.`), not the domain
    /// itself.
    Subdomains(String),
    /// `self` or `self.alt`: requests from an HTTP component to its own application.
    ToSelf,
    /// One name or IP address.
    Literal(Host),
    /// An IP range such as `10.0.0.0/8` (host bits are cleared: `127.0.0.1/24` is
    /// `127.0.0.0/24`).
    Cidr(IpNet),
}

/// The port part of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortPattern {
    /// `:*`: any port.
    Any,
    /// One port, written or implied by the scheme's default.
    Port(u16),
    /// A range of ports, held inclusively.
    Range(RangeInclusive<u16>),
}

impl AllowedHost {
    /// Parses one entry. Templates must already be expanded (see
    /// [`AllowedHosts::parse`](crate::AllowedHosts::parse)); a `{{ variable }}` left in the
    /// entry is reported as [`UnresolvedVariable`](crate::PatternErrorKind::UnresolvedVariable).
    ///
    /// ```
    /// use skiff_outbound_networking::{AllowedHost, PortPattern};
    /// let entry = AllowedHost::parse("redis://cache.internal").unwrap();
    /// assert_eq!(entry.port(), &PortPattern::Port(6379));
    /// assert!(AllowedHost::parse("cache.internal:6379").is_err());
    /// ```
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        // A template here has had no resolver: report its first variable as unresolved.
        crate::template::expand(pattern, &|_| None)
            .and_then(|_| parse(pattern))
            .map_err(|kind| PatternError::new(pattern, kind))
    }

    /// The entry as written (after template expansion), trimmed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The scheme part.
    pub fn scheme(&self) -> &SchemePattern {
        &self.scheme
    }

    /// The host part.
    pub fn host(&self) -> &HostPattern {
        &self.host
    }

    /// The port part (a scheme's default port when none was written).
    pub fn port(&self) -> &PortPattern {
        &self.port
    }

    /// Whether this entry grants service chaining: `*.spin.internal` or
    /// `<component>.spin.internal`.
    pub fn is_for_service_chaining(&self) -> bool {
        match &self.host {
            HostPattern::Subdomains(domain) => domain == SERVICE_CHAINING_DOMAIN,
            HostPattern::Literal(Host::Domain(name)) => name
                .strip_suffix(SERVICE_CHAINING_DOMAIN)
                .is_some_and(|label| label.ends_with('.')),
            _ => false,
        }
    }

    /// Whether this entry allows `target` (Spin's matching).
    pub fn allows(&self, target: &OutboundTarget) -> bool {
        self.scheme.allows(target.scheme())
            && self.host.allows(target.host())
            && self.port.allows(target.port())
    }

    /// Whether this entry allows self requests (relative URLs, `self.alt`) with one of
    /// `schemes`.
    pub(crate) fn allows_self(&self, schemes: &[&str]) -> bool {
        schemes.iter().any(|s| self.scheme.allows(s))
            && matches!(self.host, HostPattern::Any | HostPattern::ToSelf)
    }

    /// Whether this entry's scheme and port allow `target` and its host names `target`'s host
    /// or `ip` without a wildcard: the SSRF guard's notion of an explicit grant.
    pub(crate) fn names_explicitly(&self, target: &OutboundTarget, ip: IpAddr) -> bool {
        if !(self.scheme.allows(target.scheme()) && self.port.allows(target.port())) {
            return false;
        }
        let ips = [ip, canonical(ip)];
        match &self.host {
            HostPattern::Literal(host) => {
                host == target.host() || ips.iter().any(|ip| host.ip() == Some(*ip))
            }
            HostPattern::Cidr(net) => ips.iter().any(|ip| net.contains(ip)),
            HostPattern::Any | HostPattern::Subdomains(_) | HostPattern::ToSelf => false,
        }
    }
}

impl PartialEq for AllowedHost {
    fn eq(&self, other: &Self) -> bool {
        (&self.scheme, &self.host, &self.port) == (&other.scheme, &other.host, &other.port)
    }
}

impl Eq for AllowedHost {}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl SchemePattern {
    fn allows(&self, scheme: &str) -> bool {
        match self {
            SchemePattern::Any => true,
            SchemePattern::Named(name) => name.eq_ignore_ascii_case(scheme),
        }
    }
}

impl HostPattern {
    fn allows(&self, host: &Host) -> bool {
        match (self, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Subdomains(domain), Host::Domain(name)) => name
                .strip_suffix(domain.as_str())
                .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
            (HostPattern::Literal(literal), host) => literal == host,
            (HostPattern::Cidr(net), Host::Ip(ip)) => net.contains(ip),
            // `self` is only for relative requests; wildcards and ranges only match their kind.
            (HostPattern::ToSelf, _)
            | (HostPattern::Subdomains(_), Host::Ip(_))
            | (HostPattern::Cidr(_), Host::Domain(_)) => false,
        }
    }
}

impl PortPattern {
    fn allows(&self, port: u16) -> bool {
        match self {
            PortPattern::Any => true,
            PortPattern::Port(p) => *p == port,
            PortPattern::Range(range) => range.contains(&port),
        }
    }
}

fn parse(pattern: &str) -> Result<AllowedHost, Kind> {
    let text = pattern.trim();
    if text == "insecure:allow-all" {
        return Err(Kind::InsecureAllowAll);
    }
    let Some((scheme_text, rest)) = text.split_once("://") else {
        return Err(match text {
            "*" | "" | ":" | "?" | "*:*" => Kind::NotAPattern,
            "self" | "self.alt" => Kind::MissingScheme {
                suggestion: format!("http://{text}"),
            },
            _ => Kind::MissingScheme {
                suggestion: format!("https://{text}"),
            },
        });
    };
    let scheme = parse_scheme(scheme_text)?;
    let (host_text, port_text) = split_host_port(scheme_text, rest)?;
    let host = parse_host(scheme_text, host_text)?;
    let port = parse_port(port_text, &scheme, scheme_text, host_text)?;
    Ok(AllowedHost {
        text: text.to_string(),
        scheme,
        host,
        port,
    })
}

fn parse_scheme(scheme: &str) -> Result<SchemePattern, Kind> {
    if scheme == "*" {
        Ok(SchemePattern::Any)
    } else if scheme.starts_with('{') {
        Err(Kind::SchemeList)
    } else if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(SchemePattern::Named(scheme.to_ascii_lowercase()))
    } else {
        Err(Kind::InvalidScheme {
            scheme: scheme.to_string(),
        })
    }
}

/// Splits what follows `://` into host and port text, rejecting paths. Like Spin, the port is
/// whatever follows the last `:`, so unbracketed IPv6 ranges work when a port follows
/// (`*://ff00::/8:80`); bracketed IPv6 (`[::1]`, `[fd00::]/8`) is accepted with or without one.
fn split_host_port<'a>(scheme: &str, rest: &'a str) -> Result<(&'a str, &'a str), Kind> {
    let (host, port_and_path) = if rest.starts_with('[') {
        let close = rest.find(']').ok_or_else(|| Kind::InvalidHost {
            host: rest.to_string(),
            reason: "`[` has no matching `]`".into(),
        })?;
        // A CIDR prefix may follow the bracket: `[fd00::]/8`.
        let digits = rest[close + 1..]
            .strip_prefix('/')
            .map_or(0, |p| p.bytes().take_while(u8::is_ascii_digit).count());
        let (host, tail) = rest.split_at(close + 1 + if digits > 0 { digits + 1 } else { 0 });
        if let Some(port_and_path) = tail.strip_prefix(':') {
            (host, Some(port_and_path))
        } else if tail.is_empty() || tail == "/" {
            (host, None)
        } else if tail.starts_with('/') {
            return Err(has_path(scheme, host, "", tail));
        } else {
            return Err(Kind::InvalidHost {
                host: rest.to_string(),
                reason: format!("unexpected `{tail}` after `]`"),
            });
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port_and_path)) => (host, Some(port_and_path)),
            None => (rest, None),
        }
    };
    if !host.starts_with('[') && host.contains(':') && parse_cidr(host.trim())?.is_none() {
        // Two or more colons (`::1`, `fd00::/8`) can only be IPv6 without brackets.
        return Err(if rest.contains("::") || host.matches(':').count() > 1 {
            Kind::UnbracketedIpv6
        } else {
            Kind::InvalidHost {
                host: host.trim().to_string(),
                reason: "`:` may appear only once, before the port".into(),
            }
        });
    }
    let Some(port_and_path) = port_and_path else {
        return Ok((host, ""));
    };
    match port_and_path.split_once('/') {
        Some((port, path)) if !path.is_empty() => {
            Err(has_path(scheme, host, port, &format!("/{path}")))
        }
        Some((port, _)) => Ok((host, port)),
        None => Ok((host, port_and_path)),
    }
}

fn has_path(scheme: &str, host: &str, port: &str, path: &str) -> Kind {
    let port = if port.is_empty() {
        String::new()
    } else {
        format!(":{port}")
    };
    Kind::HasPath {
        path: path.to_string(),
        suggestion: format!("{scheme}://{}{port}", host.trim()),
    }
}

fn parse_host(scheme: &str, text: &str) -> Result<HostPattern, Kind> {
    let host = text.trim();
    if host.is_empty() {
        return Err(Kind::EmptyHost);
    }
    let lower = host.to_ascii_lowercase();
    match lower.as_str() {
        "*" => return Ok(HostPattern::Any),
        "self" | "self.alt" => return Ok(HostPattern::ToSelf),
        _ if host.starts_with('{') => return Err(Kind::HostList),
        _ => {}
    }
    let host = host.trim_end_matches('/');
    if let Some(net) = parse_cidr(host)? {
        return Ok(HostPattern::Cidr(net));
    }
    if let Some(slash) = host.find('/') {
        return Err(has_path(scheme, &host[..slash], "", &host[slash..]));
    }
    if let Some(domain) = lower.trim_end_matches('/').strip_prefix("*.") {
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if domain.contains('*') {
            return Err(Kind::MisplacedWildcard {
                host: host.to_string(),
            });
        }
        return match Host::parse(domain, false) {
            Ok(Host::Domain(domain)) => Ok(HostPattern::Subdomains(domain)),
            Ok(Host::Ip(_)) => Err(Kind::InvalidHost {
                host: host.to_string(),
                reason: "`*.` must be followed by a domain name, not an IP address".into(),
            }),
            Err(reason) => Err(Kind::InvalidHost {
                host: host.to_string(),
                reason,
            }),
        };
    }
    if host.contains('*') {
        return Err(Kind::MisplacedWildcard {
            host: host.to_string(),
        });
    }
    Host::parse(host, false)
        .map(HostPattern::Literal)
        .map_err(|reason| Kind::InvalidHost {
            host: host.to_string(),
            reason,
        })
}

/// `Ok(None)` when `host` is not shaped like `<ip>/<digits>`; an error when it is but the
/// prefix length does not fit the address.
fn parse_cidr(host: &str) -> Result<Option<IpNet>, Kind> {
    let Some((addr, prefix)) = host.split_once('/') else {
        return Ok(None);
    };
    let addr = addr.strip_prefix('[').unwrap_or(addr);
    // Both `[fd00::]/8` and `[fd00::/8]` are accepted.
    let (addr, prefix) = match prefix.strip_suffix(']') {
        Some(prefix) => (addr, prefix),
        None => (addr.strip_suffix(']').unwrap_or(addr), prefix),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return Ok(None);
    };
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let invalid = |reason: String| Kind::InvalidCidr {
        cidr: host.to_string(),
        reason,
    };
    let len: u8 = prefix
        .parse()
        .map_err(|_| invalid(format!("the prefix length `{prefix}` is too long")))?;
    IpNet::new(ip, len)
        .map(|net| Some(net.trunc()))
        .map_err(|_| {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            invalid(format!("the prefix length {len} is longer than {max} bits"))
        })
}

fn parse_port(
    text: &str,
    scheme: &SchemePattern,
    scheme_text: &str,
    host_text: &str,
) -> Result<PortPattern, Kind> {
    let invalid = || Kind::InvalidPort {
        port: text.to_string(),
    };
    let number = |s: &str| s.parse::<u16>().map_err(|_| invalid());
    if text.is_empty() {
        let default = match scheme {
            SchemePattern::Named(name) => default_port(name),
            SchemePattern::Any => None,
        };
        return default
            .map(PortPattern::Port)
            .ok_or_else(|| Kind::PortRequired {
                scheme: scheme_text.to_string(),
                example: format!(
                    "{scheme_text}://{}:{}",
                    host_text.trim().trim_end_matches('/'),
                    conventional_port(scheme_text).map_or("PORT".to_string(), |p| p.to_string())
                ),
            });
    }
    if text == "*" {
        return Ok(PortPattern::Any);
    }
    if text.starts_with('{') {
        return Err(Kind::PortList);
    }
    if let Some((start, end)) = text.split_once("..") {
        // Spin's form: a half-open Rust range, `end` excluded.
        let (start, end) = (number(start)?, number(end)?);
        return match end.checked_sub(1) {
            Some(last) if start <= last => Ok(PortPattern::Range(start..=last)),
            _ => Err(Kind::EmptyPortRange {
                range: text.to_string(),
                hint: format!(
                    "`a..b` excludes `b`; to allow {start} to {end} write `{start}-{end}` or \
                     `{start}..{}`",
                    u32::from(end) + 1
                ),
            }),
        };
    }
    if let Some((start, end)) = text.split_once('-') {
        let (start, end) = (number(start)?, number(end)?);
        return if start <= end {
            Ok(PortPattern::Range(start..=end))
        } else {
            Err(Kind::EmptyPortRange {
                range: text.to_string(),
                hint: format!("write the lower port first: `{end}-{start}`"),
            })
        };
    }
    number(text).map(PortPattern::Port)
}

/// Ports worth suggesting for schemes that have no default in `allowed_outbound_hosts`.
fn conventional_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "rediss" => Some(6379),
        "mqtts" => Some(8883),
        "postgresql" => Some(5432),
        "ws" => Some(80),
        "wss" => Some(443),
        "nats" => Some(4222),
        "amqp" => Some(5672),
        _ => None,
    }
}
