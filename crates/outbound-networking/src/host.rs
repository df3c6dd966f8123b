//! Host names and IP literals, normalised the way URL parsers normalise them.
//!
//! Spin compares hosts after `url::Host::parse`: names are lower-cased, IPv4 addresses may be
//! written in any WHATWG form (`127.1`, `0x7f.0.0.1`), IPv6 addresses are bracketed. This module
//! does the same for ASCII hosts without pulling in an IDNA implementation; non-ASCII names are
//! rejected with a hint to write their punycode form.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A normalised host: a DNS name or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name: ASCII, lower-case, without a trailing dot.
    Domain(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl Host {
    /// Parses a host as it appears in a URL authority: a name, an IPv4 address, or an IPv6
    /// address in brackets. With `allow_bare_ipv6` an unbracketed IPv6 address is accepted too
    /// (for hosts that arrive separately from a port, e.g. `SocketAddr::ip`).
    pub(crate) fn parse(s: &str, allow_bare_ipv6: bool) -> Result<Self, String> {
        if s.is_empty() {
            return Err("the host is empty".into());
        }
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| "`[` has no matching `]`".to_string())?;
            return inner
                .parse::<Ipv6Addr>()
                .map(|ip| Host::Ip(IpAddr::V6(ip)))
                .map_err(|_| format!("`{inner}` is not an IPv6 address"));
        }
        if s.contains(':') {
            return match s.parse::<Ipv6Addr>() {
                Ok(ip) if allow_bare_ipv6 => Ok(Host::Ip(IpAddr::V6(ip))),
                Ok(_) => Err(format!(
                    "IPv6 addresses must be written in brackets, e.g. `[{s}]`"
                )),
                Err(_) => Err("`:` is not allowed in a host name".into()),
            };
        }
        if !s.is_ascii() {
            return Err(
                "non-ASCII host names must be written in their punycode (`xn--…`) form".into(),
            );
        }
        let lower = s.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if let Some(ipv4) = parse_ipv4(name) {
            return ipv4
                .map(|ip| Host::Ip(IpAddr::V4(ip)))
                .map_err(|()| format!("`{s}` ends in a number but is not a valid IPv4 address"));
        }
        validate_domain(name)?;
        Ok(Host::Domain(name.to_string()))
    }

    /// The address, if this host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ip(ip) => Some(*ip),
            Host::Domain(_) => None,
        }
    }
}

impl fmt::Display for Host {
    /// Writes the host as it appears in a URL (IPv6 in brackets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// Checks the labels of an already lower-cased name: letters, digits, `-` and `_`, no empty
/// labels.
fn validate_domain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the host is empty".into());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!(
                "`{name}` has an empty label (`..` or a leading `.`)"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!("`{c}` is not allowed in a host name"));
        }
    }
    Ok(())
}

/// The WHATWG IPv4 parser: `None` when the host does not end in a number (so it is a name),
/// `Some(Err)` when it does but is not a valid address.
fn parse_ipv4(name: &str) -> Option<Result<Ipv4Addr, ()>> {
    let parts: Vec<&str> = name.split('.').collect();
    let last = *parts.last()?;
    let last_is_number = (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
        || last
            .strip_prefix("0x")
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if !last_is_number {
        return None;
    }
    Some(ipv4_from_parts(&parts))
}

fn ipv4_from_parts(parts: &[&str]) -> Result<Ipv4Addr, ()> {
    if parts.len() > 4 {
        return Err(());
    }
    let numbers = parts
        .iter()
        .map(|part| parse_ipv4_number(part))
        .collect::<Result<Vec<u64>, ()>>()?;
    let (last, init) = numbers.split_last().ok_or(())?;
    if init.iter().any(|n| *n > 255) || *last >= 256u64.pow(5 - numbers.len() as u32) {
        return Err(());
    }
    let mut value = *last;
    for (i, n) in init.iter().enumerate() {
        value += n << (8 * (3 - i));
    }
    u32::try_from(value).map(Ipv4Addr::from).map_err(|_| ())
}

fn parse_ipv4_number(part: &str) -> Result<u64, ()> {
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x") {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        // `0x` alone is zero; an empty part (`1..2`) is invalid.
        return if radix == 16 { Ok(0) } else { Err(()) };
    }
    // Cap the length so the parse cannot overflow; anything this long is out of range anyway.
    if digits.len() > 16 {
        return Err(());
    }
    u64::from_str_radix(digits, radix).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatwg_ipv4_forms() {
        for (text, expected) in [
            ("127.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("0x7f.0.0.1", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("10.0.0.1.", "10.0.0.1"),
        ] {
            let host = Host::parse(text, false).unwrap();
            assert_eq!(host, Host::Ip(expected.parse().unwrap()), "{text}");
        }
        for bad in [
            "256.0.0.1",
            "1.2.3.4.5",
            "example.123",
            "1..2",
            "4294967296",
        ] {
            assert!(Host::parse(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_lower_cased_and_checked() {
        assert_eq!(
            Host::parse("API.Example.COM.", false).unwrap(),
            Host::Domain("api.example.com".into())
        );
        assert!(Host::parse("a b.com", false).is_err());
        assert!(Host::parse("bücher.de", false).is_err());
        assert!(Host::parse("::1", false).is_err());
        assert!(Host::parse("::1", true).is_ok());
        assert!(Host::parse("[::1]", false).is_ok());
    }
}
