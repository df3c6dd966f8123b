//! Skiff's SSRF guard: private addresses are reached only through entries that name them.

use std::net::IpAddr;

use skiff_outbound_networking::{
    Decision, DenialReason, PrivateAddressKind as Kind, private_address_kind,
};

use crate::{hosts, target};

#[derive(Debug, PartialEq)]
enum Want {
    Allowed,
    NotGranted,
    Private(Kind),
}

#[test]
fn resolved_addresses() {
    use Want::{Allowed, NotGranted, Private};
    #[rustfmt::skip]
    let table: &[(&[&str], &str, &str, Want)] = &[
        // Through wildcards, private addresses are refused.
        (&["https://*"],             "https://evil.example.com",     "127.0.0.1",       Private(Kind::Loopback)),
        (&["https://*.example.com"], "https://internal.example.com", "10.1.2.3",        Private(Kind::Private)),
        (&["https://*.example.com"], "https://internal.example.com", "172.16.0.1",      Private(Kind::Private)),
        (&["https://*.example.com"], "https://internal.example.com", "192.168.0.1",     Private(Kind::Private)),
        (&["*://*:*"],               "http://metadata.example",      "169.254.169.254", Private(Kind::LinkLocal)),
        (&["*://*:*"],               "http://x.example",             "::1",             Private(Kind::Loopback)),
        (&["*://*:*"],               "http://x.example",             "fc00::1",         Private(Kind::UniqueLocal)),
        (&["*://*:*"],               "http://x.example",             "fd12:3456::1",    Private(Kind::UniqueLocal)),
        (&["*://*:*"],               "http://x.example",             "fe80::1",         Private(Kind::LinkLocal)),
        (&["*://*:*"],               "http://x.example",             "::ffff:127.0.0.1", Private(Kind::Loopback)),
        (&["*://*:*"],               "http://x.example",             "::ffff:10.0.0.1", Private(Kind::Private)),
        (&["*://*:*"],               "http://x.example",             "64:ff9b::a00:1",  Private(Kind::Private)),
        (&["*://*:*"],               "http://x.example",             "0.0.0.0",         Private(Kind::Unspecified)),
        (&["*://*:*"],               "http://x.example",             "::",              Private(Kind::Unspecified)),
        (&["*://*:*"],               "http://x.example",             "100.64.0.1",      Private(Kind::SharedAddressSpace)),
        (&["*://*:*"],               "http://127.0.0.1",             "127.0.0.1",       Private(Kind::Loopback)),
        (&["http://*:*"],            "http://x.example",             "93.184.215.14",   Allowed),
        (&["*://*:*"],               "http://x.example",             "2606:2800:21f::1", Allowed),
        // Named explicitly (host, IP or CIDR), private addresses are fine.
        (&["http://localhost:3000"],  "http://localhost:3000",        "127.0.0.1",       Allowed),
        (&["http://localhost:3000"],  "http://localhost:3000",        "::1",             Allowed),
        (&["redis://127.0.0.1"],      "redis://127.0.0.1",            "127.0.0.1",       Allowed),
        (&["*://127.0.0.0/24:6379"],  "redis://127.0.0.1:6379",       "127.0.0.1",       Allowed),
        (&["https://api.corp.lan"],   "https://api.corp.lan",         "10.0.0.5",        Allowed),
        (&["*://10.0.0.0/8:*"],       "tcp://10.9.9.9:5432",          "10.9.9.9",        Allowed),
        (&["http://[::1]:8080"],      "http://[::1]:8080",            "::1",             Allowed),
        (&["*://[fc00::]/7:*"],       "tcp://[fc00::1]:1",            "fc00::1",         Allowed),
        (&["http://169.254.169.254"], "http://169.254.169.254",       "169.254.169.254", Allowed),
        // A wildcard grants the name; a separate entry names the address for the same scheme
        // and port.
        (&["redis://*:6379", "redis://127.0.0.1:6379"], "redis://localhost", "127.0.0.1", Allowed),
        (&["redis://*:6379", "*://127.0.0.0/8:*"],      "redis://localhost", "127.0.0.1", Allowed),
        // ...but an entry for another port or scheme does not name it.
        (&["redis://*:*", "redis://127.0.0.1:6380"],    "redis://localhost", "127.0.0.1", Private(Kind::Loopback)),
        (&["redis://*:*", "http://127.0.0.1:6379"],     "redis://localhost", "127.0.0.1", Private(Kind::Loopback)),
        // Not granted at all: the grant is checked first.
        (&["https://example.com"],    "https://other.com",            "127.0.0.1",       NotGranted),
        (&["https://example.com"],    "https://other.com",            "93.184.215.14",   NotGranted),
        (&[],                         "https://example.com",          "93.184.215.14",   NotGranted),
    ];
    let mut failures = Vec::new();
    for (patterns, url, ip, want) in table {
        let ip: IpAddr = ip.parse().unwrap();
        let got = match hosts(patterns).allows_resolved(&target(url), ip) {
            Decision::Allowed => Allowed,
            Decision::Denied(denial) => match denial.reason() {
                DenialReason::NotGranted => NotGranted,
                DenialReason::PrivateAddress {
                    ip: denied_ip,
                    kind,
                } => {
                    assert_eq!(denied_ip, ip);
                    Private(kind)
                }
                other => panic!("unexpected reason {other:?}"),
            },
        };
        if got != *want {
            failures.push(format!(
                "{patterns:?} {url} → {ip}: got {got:?}, want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn denial_messages() {
    let wildcard = hosts(&["https://*"]);
    let evil = target("https://evil.example.com/steal");

    let decision = hosts(&["https://example.com"]).check(&evil);
    assert_eq!(
        decision.to_string(),
        "`https://evil.example.com:443` is not allowed: add `https://evil.example.com` to \
         `allowed_outbound_hosts`"
    );
    let denial = decision.into_result().expect_err("denied");
    assert_eq!(denial.suggestion(), "https://evil.example.com");
    assert_eq!(denial.target(), &evil);

    assert_eq!(
        wildcard
            .allows_resolved(&evil, "127.0.0.1".parse().unwrap())
            .to_string(),
        "`https://evil.example.com:443` is not allowed: it resolved to 127.0.0.1, a loopback \
         address, and wildcard entries (`*`, `*.domain`) do not reach private addresses: add \
         `https://evil.example.com` to `allowed_outbound_hosts` to allow it explicitly"
    );

    let odd_port = target("http://intranet.example:8080");
    assert_eq!(
        hosts(&["http://*:*"])
            .allows_resolved(&odd_port, "fd00::5".parse().unwrap())
            .to_string(),
        "`http://intranet.example:8080` is not allowed: it resolved to fd00::5, a unique-local \
         address, and wildcard entries (`*`, `*.domain`) do not reach private addresses: add \
         `http://intranet.example:8080` to `allowed_outbound_hosts` to allow it explicitly"
    );

    assert!(wildcard.check(&evil).into_result().is_ok());
    assert_eq!(Decision::Allowed.to_string(), "allowed");
}

#[test]
fn address_classification() {
    #[rustfmt::skip]
    let table: &[(&str, Option<Kind>)] = &[
        ("127.0.0.1",       Some(Kind::Loopback)),
        ("127.255.255.254", Some(Kind::Loopback)),
        ("10.0.0.1",        Some(Kind::Private)),
        ("172.31.255.255",  Some(Kind::Private)),
        ("172.32.0.1",      None),
        ("192.168.1.1",     Some(Kind::Private)),
        ("169.254.169.254", Some(Kind::LinkLocal)),
        ("100.64.0.1",      Some(Kind::SharedAddressSpace)),
        ("100.128.0.1",     None),
        ("0.0.0.0",         Some(Kind::Unspecified)),
        ("0.1.2.3",         Some(Kind::ThisNetwork)),
        ("255.255.255.255", Some(Kind::Broadcast)),
        ("240.0.0.1",       Some(Kind::Reserved)),
        ("8.8.8.8",         None),
        ("::1",             Some(Kind::Loopback)),
        ("::",              Some(Kind::Unspecified)),
        ("fc00::",          Some(Kind::UniqueLocal)),
        ("fdff::1",         Some(Kind::UniqueLocal)),
        ("fe80::1",         Some(Kind::LinkLocal)),
        ("fec0::1",         Some(Kind::SiteLocal)),
        ("::ffff:169.254.1.1", Some(Kind::LinkLocal)),
        ("::ffff:8.8.8.8",  None),
        ("::127.0.0.1",     Some(Kind::Loopback)),
        ("2001:4860::8888", None),
    ];
    for (ip, kind) in table {
        assert_eq!(private_address_kind(ip.parse().unwrap()), *kind, "{ip}");
    }
}

/// The operator's `block_networks` refuses its networks to every grant, even
/// one naming the address, and to sockets; a reload's new list applies at once.
#[test]
fn blocked_networks_override_grants() {
    use std::sync::Arc;

    use skiff_outbound_networking::{BlockedBy, BlockedNetworks, SharedBlockedNetworks};

    let shared = Arc::new(SharedBlockedNetworks::new(
        BlockedNetworks::parse(&["203.0.113.0/24"]).unwrap(),
    ));
    let allowed =
        hosts(&["*://*:*", "http://10.0.0.5", "tcp://10.0.0.5:5432"]).with_blocked(shared.clone());
    let blocked = |decision: Decision| match decision {
        Decision::Denied(denial) => match denial.reason() {
            DenialReason::Blocked { by, .. } => Some((by, denial.to_string())),
            _ => None,
        },
        Decision::Allowed => None,
    };
    let public: IpAddr = "203.0.113.7".parse().unwrap();
    let (by, message) =
        blocked(allowed.allows_resolved(&target("https://api.example.com"), public))
            .expect("a blocked network");
    assert_eq!(by, BlockedBy::Network("203.0.113.0/24".parse().unwrap()));
    assert!(
        message.contains("resolved to 203.0.113.7, in `203.0.113.0/24`")
            && message.contains("`[outbound_networking] block_networks`"),
        "{message}"
    );
    let named: IpAddr = "10.0.0.5".parse().unwrap();
    assert!(
        allowed
            .allows_resolved(&target("http://10.0.0.5"), named)
            .is_allowed()
    );
    assert!(allowed.allows_socket("tcp", "10.0.0.5:5432".parse().unwrap()));

    shared.set(BlockedNetworks::parse(&["private"]).unwrap());
    let (by, _) = blocked(allowed.allows_resolved(&target("http://10.0.0.5"), named))
        .expect("`private` blocks even a named private address");
    assert_eq!(by, BlockedBy::Private);
    assert!(blocked(allowed.check_socket("tcp", "10.0.0.5:5432".parse().unwrap())).is_some());
    assert!(
        allowed
            .allows_resolved(&target("https://api.example.com"), public)
            .is_allowed()
    );
    // Not granted stays the first answer.
    assert!(matches!(
        hosts(&["http://a.example"]).with_blocked(shared).allows_resolved(&target("http://b.example"), named),
        Decision::Denied(d) if d.reason() == DenialReason::NotGranted
    ));
}
