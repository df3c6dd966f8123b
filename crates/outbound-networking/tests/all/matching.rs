//! Patterns × targets: Spin's matching rules, one table.

use std::net::SocketAddr;

use skiff_outbound_networking::{AllowedHosts, OutboundTarget};

use crate::{hosts, target};

#[test]
fn patterns_against_targets() {
    #[rustfmt::skip]
    let table: &[(&str, &str, bool)] = &[
        // Exact hosts and the scheme's default port.
        ("https://example.com",          "https://example.com",              true),
        ("https://example.com",          "https://example.com:443/x?y#z",    true),
        ("https://example.com",          "https://example.com:8443",         false),
        ("https://example.com",          "http://example.com",               false),
        ("https://example.com",          "https://www.example.com",          false),
        ("http://example.com",           "http://example.com:80",            true),
        ("http://example.com:8383",      "http://example.com:8383/foo/bar",  true),
        ("http://example.com:8383",      "http://example.com/",              false),
        ("https://example.com/",         "https://example.com",              true),
        // Case and whitespace: hosts compare case-insensitively, entries are trimmed.
        ("https://Example.COM",          "https://example.com",              true),
        ("https://example.com",          "https://EXAMPLE.com",              true),
        ("HTTPS://example.com",          "https://example.com",              true),
        ("  https://example.com  ",      "https://example.com",              true),
        ("https://example.com",          "https://example.com.",             true),
        // Subdomain wildcards: any depth, never the domain itself.
        ("https://*.example.com",        "https://api.example.com",          true),
        ("https://*.example.com",        "https://a.b.example.com",          true),
        ("https://*.example.com",        "https://example.com",              false),
        ("https://*.example.com",        "https://myexample.com",            false),
        ("https://*.example.com",        "https://example.com.evil.net",     false),
        ("https://*.example.com",        "https://10.0.0.1",                 false),
        ("http://*.example2.com:8383",   "http://a.b.example2.com:8383",     true),
        ("http://*.example2.com:8383",   "http://a.b.example2.com",          false),
        // Any host, any port, any scheme.
        ("https://*",                    "https://anything.net",             true),
        ("https://*",                    "https://anything.net:8443",        false),
        ("https://*:*",                  "https://anything.net:8443",        true),
        ("*://example.com:7777",         "redis://example.com:7777",         true),
        ("*://example.com:7777",         "mqtt://example.com:7778",          false),
        ("*://*:*",                      "tcp://10.1.2.3:5432",              true),
        ("*://*:*",                      "coap+tcp://[::1]:5683",            true),
        // Default ports of Spin's schemes.
        ("redis://cache",                "redis://cache:6379",               true),
        ("redis://cache",                "redis://cache:6380",               false),
        ("postgres://db",                "postgres://db:5432/app",           true),
        ("mysql://db",                   "mysql://user:pass#word@db",        true),
        ("mqtt://broker",                "mqtt://broker:1883",               true),
        // Port ranges: `a-b` inclusive, Spin's `a..b` half-open.
        ("http://example.com:8000-8010", "http://example.com:8000",          true),
        ("http://example.com:8000-8010", "http://example.com:8010",          true),
        ("http://example.com:8000-8010", "http://example.com:8011",          false),
        ("http://example.com:8000-8010", "http://example.com:7999",          false),
        ("http://example.com:4444..5555","http://example.com:4444",          true),
        ("http://example.com:4444..5555","http://example.com:5554",          true),
        ("http://example.com:4444..5555","http://example.com:5555",          false),
        // IP literals.
        ("http://192.168.1.1",           "http://192.168.1.1",               true),
        ("http://192.168.1.1:3002",      "http://192.168.1.1:3002",          true),
        ("http://192.168.1.1",           "http://192.168.1.2",               false),
        ("http://[::1]:8001",            "http://[::1]:8001",                true),
        ("http://[::1]",                 "http://[::1]",                     true),
        ("http://[0:0::1]",              "http://[::1]",                     true),
        ("http://127.0.0.1",             "http://127.1",                     true),
        ("http://127.0.0.1",             "http://localhost",                 false),
        ("http://localhost",             "http://127.0.0.1",                 false),
        ("http://localhost:3001",        "http://localhost:3001",            true),
        // CIDR ranges match addresses, never names.
        ("*://127.0.0.0/24:6379",        "redis://127.0.0.9:6379",           true),
        ("*://127.0.0.0/24:6379",        "redis://127.0.1.1:6379",           false),
        ("*://127.0.0.0/24:6379",        "redis://localhost:6379",           false),
        ("*://127.0.0.1/24:63551",       "tcp://127.0.0.1:63551",            true),
        ("https://10.0.0.0/8",           "https://10.200.3.4",               true),
        ("https://192.168.1.0/24",       "https://192.168.1.77/x",           true),
        ("*://ff00::/8:80",              "http://[ff01::1]",                 true),
        ("*://[fd00::]/8:*",             "tcp://[fd12::1]:9",                true),
        ("*://[fd00::/8]:*",             "tcp://[fd12::1]:9",                true),
        ("*://[fd00::]/8:*",             "tcp://[fe80::1]:9",                false),
        ("*://10.0.0.0/8:*",             "tcp://[::ffff:10.0.0.1]:9",        false),
        // `self` is for relative requests only; it never matches a host.
        ("http://self",                  "http://self",                      false),
        ("http://self.alt",              "http://self.alt",                  false),
        // Service chaining hosts are ordinary hosts to the matcher: scheme and port count.
        ("http://*.spin.internal",       "http://authz.spin.internal/x",     true),
        ("http://authz.spin.internal",   "http://authz.spin.internal",       true),
        ("http://authz.spin.internal",   "http://other.spin.internal",       false),
        ("http://authz.spin.internal",   "https://authz.spin.internal",      false),
    ];
    let mut failures = Vec::new();
    for (pattern, url, expected) in table {
        let allowed = hosts(&[pattern]).allows(&target(url));
        if allowed != *expected {
            failures.push(format!(
                "{pattern} vs {url}: got {allowed}, want {expected}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn any_entry_may_allow() {
    let allowed = hosts(&["*://spin.fermyon.dev:443", "http://example.com:8383"]);
    assert!(allowed.allows(&target("https://spin.fermyon.dev/")));
    assert!(allowed.allows(&target("http://example.com:8383/a")));
    assert!(!allowed.allows(&target("http://google.com")));
}

#[test]
fn default_denies_everything_and_allow_all_allows_everything() {
    let none = AllowedHosts::default();
    assert!(none.is_empty());
    assert!(!none.allows(&target("https://example.com")));
    assert!(!none.allows_self());

    let all = AllowedHosts::allow_all();
    assert!(!all.is_empty());
    assert_eq!(all, hosts(&["*://*:*"]));
    assert!(all.allows(&target("gopher://example.com:70")));
    assert!(all.allows_self());

    let mut extended = hosts(&["https://a.example"]);
    extended.extend(&hosts(&["https://b.example"]));
    assert!(extended.allows(&target("https://b.example")));
    assert_eq!(extended.iter().count(), 2);
}

#[test]
fn self_requests() {
    #[rustfmt::skip]
    let table: &[(&[&str], bool)] = &[
        (&["http://self"],           true),
        (&["https://self"],          true),
        (&["https://self.alt"],      true),
        (&["http://self:3000"],      true),
        (&["*://self:*"],            true),
        (&["http://*"],              true),
        (&["*://*:*"],               true),
        (&["redis://self"],          false),
        (&["https://example.com"],   false),
        (&["http://*.spin.internal"], false),
        (&[],                        false),
    ];
    for (patterns, expected) in table {
        assert_eq!(hosts(patterns).allows_self(), *expected, "{patterns:?}");
    }
}

#[test]
fn sockets() {
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    #[rustfmt::skip]
    let table: &[(&str, &str, &str, bool)] = &[
        ("tcp://10.0.0.0/8:5432",   "tcp", "10.1.1.1:5432",     true),
        ("tcp://10.0.0.0/8:5432",   "tcp", "10.1.1.1:5433",     false),
        ("tcp://10.0.0.0/8:5432",   "udp", "10.1.1.1:5432",     false),
        ("tcp://10.0.0.0/8:5432",   "TCP", "10.1.1.1:5432",     true),
        ("*://10.0.0.0/8:5000-5999","udp", "10.1.1.1:5353",     true),
        ("tcp://[::1]:6379",        "tcp", "[::1]:6379",        true),
        ("tcp://127.0.0.1:*",       "tcp", "127.0.0.1:1",       true),
        // A database entry is not a raw-socket grant.
        ("postgres://10.0.0.1",     "tcp", "10.0.0.1:5432",     false),
        // Names never match sockets, which only see addresses.
        ("tcp://localhost:6379",    "tcp", "127.0.0.1:6379",    false),
        // Wildcards reach public addresses only (the SSRF guard).
        ("*://*:*",                 "tcp", "93.184.215.14:443", true),
        ("*://*:*",                 "tcp", "127.0.0.1:6379",    false),
        ("tcp://*:6379",            "tcp", "[fd00::1]:6379",    false),
    ];
    for (pattern, scheme, socket, expected) in table {
        let allowed = hosts(&[pattern]).allows_socket(scheme, addr(socket));
        assert_eq!(allowed, *expected, "{pattern} vs {scheme} {socket}");
    }
    let denial = hosts(&["*://*:*"]).check_socket("tcp", addr("10.0.0.1:5432"));
    assert_eq!(
        denial.to_string(),
        "`tcp://10.0.0.1:5432` is not allowed: 10.0.0.1 is a private address, and wildcard \
         entries (`*`, `*.domain`) do not reach private addresses: add `tcp://10.0.0.1:5432` to \
         `allowed_outbound_hosts` to allow it explicitly"
    );
    let target = OutboundTarget::from_socket_addr("tcp", addr("[::1]:80")).unwrap();
    assert_eq!(target.to_string(), "tcp://[::1]:80");
}
