//! Which addresses count as private for Skiff's SSRF guard.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not a public internet address.
///
/// Addresses of these kinds reach the host itself or its private networks. Skiff only connects
/// to them when an `allowed_outbound_hosts` entry names the host, the IP or a CIDR range
/// explicitly; `*` and `*.domain` wildcards never reach them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrivateAddressKind {
    /// `0.0.0.0` or `::`.
    Unspecified,
    /// `0.0.0.0/8`, "this network".
    ThisNetwork,
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918).
    Private,
    /// `100.64.0.0/10`, shared address space for carrier-grade NAT (RFC 6598).
    SharedAddressSpace,
    /// `169.254.0.0/16` or `fe80::/10`; includes cloud metadata endpoints.
    LinkLocal,
    /// `255.255.255.255`.
    Broadcast,
    /// `240.0.0.0/4`, reserved for future use.
    Reserved,
    /// `fc00::/7` (RFC 4193).
    UniqueLocal,
    /// `fec0::/10`, deprecated site-local addresses.
    SiteLocal,
}

impl fmt::Display for PrivateAddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "unspecified",
            Self::ThisNetwork => "\"this network\"",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::SharedAddressSpace => "shared (carrier-grade NAT)",
            Self::LinkLocal => "link-local",
            Self::Broadcast => "broadcast",
            Self::Reserved => "reserved",
            Self::UniqueLocal => "unique-local",
            Self::SiteLocal => "site-local",
        })
    }
}

/// Classifies `ip`: `None` for public addresses, otherwise the kind of private address.
///
/// IPv4 addresses embedded in IPv6 (`::ffff:10.0.0.1`, `::10.0.0.1`, `64:ff9b::10.0.0.1`) are
/// classified by the embedded address, so they cannot be used to slip past the guard.
///
/// ```
/// use skiff_outbound_networking::{private_address_kind, PrivateAddressKind};
/// assert_eq!(private_address_kind("127.0.0.1".parse().unwrap()), Some(PrivateAddressKind::Loopback));
/// assert_eq!(private_address_kind("::ffff:10.1.2.3".parse().unwrap()), Some(PrivateAddressKind::Private));
/// assert_eq!(private_address_kind("93.184.215.14".parse().unwrap()), None);
/// ```
pub fn private_address_kind(ip: IpAddr) -> Option<PrivateAddressKind> {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<PrivateAddressKind> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_unspecified() {
        PrivateAddressKind::Unspecified
    } else if a == 0 {
        PrivateAddressKind::ThisNetwork
    } else if ip.is_loopback() {
        PrivateAddressKind::Loopback
    } else if ip.is_private() {
        PrivateAddressKind::Private
    } else if a == 100 && (b & 0xc0) == 64 {
        PrivateAddressKind::SharedAddressSpace
    } else if ip.is_link_local() {
        PrivateAddressKind::LinkLocal
    } else if ip.is_broadcast() {
        PrivateAddressKind::Broadcast
    } else if a >= 240 {
        PrivateAddressKind::Reserved
    } else {
        return None;
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<PrivateAddressKind> {
    if ip.is_unspecified() {
        return Some(PrivateAddressKind::Unspecified);
    }
    if ip.is_loopback() {
        return Some(PrivateAddressKind::Loopback);
    }
    if let Some(v4) = embedded_ipv4(ip) {
        return classify_v4(v4);
    }
    let first = ip.segments()[0];
    if first & 0xfe00 == 0xfc00 {
        Some(PrivateAddressKind::UniqueLocal)
    } else if first & 0xffc0 == 0xfe80 {
        Some(PrivateAddressKind::LinkLocal)
    } else if first & 0xffc0 == 0xfec0 {
        Some(PrivateAddressKind::SiteLocal)
    } else {
        None
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`) or
/// NAT64 well-known-prefix (`64:ff9b::a.b.c.d`) address.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] | [0, 0, 0, 0, 0, 0, ..] | [0x64, 0xff9b, 0, 0, 0, 0, ..] => {
            Some(low)
        }
        _ => None,
    }
}

/// `ip` with IPv4-mapped IPv6 addresses turned into IPv4 (`::ffff:127.0.0.1` → `127.0.0.1`).
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}
