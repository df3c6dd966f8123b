//! What each accepted form of entry parses to.

use skiff_outbound_networking::{
    AllowedHost, Host, HostPattern, PortPattern, SchemePattern, convert_allowed_http_hosts,
    default_port, service_chaining_target,
};

fn named(s: &str) -> SchemePattern {
    SchemePattern::Named(s.into())
}

fn domain(s: &str) -> HostPattern {
    HostPattern::Literal(Host::Domain(s.into()))
}

fn ip(s: &str) -> HostPattern {
    HostPattern::Literal(Host::Ip(s.parse().unwrap()))
}

fn cidr(s: &str) -> HostPattern {
    HostPattern::Cidr(s.parse().unwrap())
}

#[test]
fn accepted_forms() {
    use PortPattern::{Any as AnyPort, Port, Range};
    #[rustfmt::skip]
    let table: Vec<(&str, SchemePattern, HostPattern, PortPattern)> = vec![
        ("http://spin.fermyon.dev",          named("http"),  domain("spin.fermyon.dev"), Port(80)),
        ("http://spin.fermyon.dev/",         named("http"),  domain("spin.fermyon.dev"), Port(80)),
        ("https://spin.fermyon.dev",         named("https"), domain("spin.fermyon.dev"), Port(443)),
        ("http://spin.fermyon.dev:4444",     named("http"),  domain("spin.fermyon.dev"), Port(4444)),
        ("http://spin.fermyon.dev:4444/",    named("http"),  domain("spin.fermyon.dev"), Port(4444)),
        ("http://example.com:",              named("http"),  domain("example.com"),      Port(80)),
        ("HTTP://Example.COM",               named("http"),  domain("example.com"),      Port(80)),
        ("\thttps://example.com \n",         named("https"), domain("example.com"),      Port(443)),
        ("redis://cache",                    named("redis"), domain("cache"),            Port(6379)),
        ("postgres://db",                    named("postgres"), domain("db"),            Port(5432)),
        ("mysql://db",                       named("mysql"), domain("db"),               Port(3306)),
        ("mqtt://broker",                    named("mqtt"),  domain("broker"),           Port(1883)),
        ("rediss://cache:6380",              named("rediss"), domain("cache"),           Port(6380)),
        ("*://spin.fermyon.dev:7777",        SchemePattern::Any, domain("spin.fermyon.dev"), Port(7777)),
        ("*://*:*",                          SchemePattern::Any, HostPattern::Any,       AnyPort),
        ("https://*",                        named("https"), HostPattern::Any,           Port(443)),
        ("http://*.example.com",             named("http"),  HostPattern::Subdomains("example.com".into()), Port(80)),
        ("http://*.Example.com.",            named("http"),  HostPattern::Subdomains("example.com".into()), Port(80)),
        ("http://self",                      named("http"),  HostPattern::ToSelf,        Port(80)),
        ("https://self.alt",                 named("https"), HostPattern::ToSelf,        Port(443)),
        ("http://localhost:3001",            named("http"),  domain("localhost"),        Port(3001)),
        ("http://my_service:80",             named("http"),  domain("my_service"),       Port(80)),
        ("http://192.168.1.1",               named("http"),  ip("192.168.1.1"),          Port(80)),
        ("http://0x7f.1:8080",               named("http"),  ip("127.0.0.1"),            Port(8080)),
        ("http://[::1]:8001",                named("http"),  ip("::1"),                  Port(8001)),
        ("http://[::1]",                     named("http"),  ip("::1"),                  Port(80)),
        ("*://127.0.0.0/24:80",              SchemePattern::Any, cidr("127.0.0.0/24"),   Port(80)),
        ("*://127.0.0.1/24:63551",           SchemePattern::Any, cidr("127.0.0.0/24"),   Port(63551)),
        ("https://192.168.1.0/24",           named("https"), cidr("192.168.1.0/24"),     Port(443)),
        ("https://10.0.0.0/8/",              named("https"), cidr("10.0.0.0/8"),         Port(443)),
        ("*://ff00::/8:80",                  SchemePattern::Any, cidr("ff00::/8"),       Port(80)),
        ("*://[fd00::]/8:*",                 SchemePattern::Any, cidr("fd00::/8"),       AnyPort),
        ("https://[fd00::1/8]",              named("https"), cidr("fd00::/8"),           Port(443)),
        ("http://h:8000-8010",               named("http"),  domain("h"),                Range(8000..=8010)),
        ("http://h:4444..5555",              named("http"),  domain("h"),                Range(4444..=5554)),
        ("http://h:7-7",                     named("http"),  domain("h"),                Range(7..=7)),
        ("tcp://h:0",                        named("tcp"),   domain("h"),                Port(0)),
        ("http://*.spin.internal",           named("http"),  HostPattern::Subdomains("spin.internal".into()), Port(80)),
    ];
    for (text, scheme, host, port) in table {
        let entry = AllowedHost::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            (entry.scheme(), entry.host(), entry.port()),
            (&scheme, &host, &port),
            "{text}"
        );
        assert_eq!(entry.as_str(), text.trim());
    }
}

#[test]
fn single_entries_do_not_expand_templates() {
    let err = AllowedHost::parse("https://{{ host }}").unwrap_err();
    assert_eq!(
        err.kind(),
        &skiff_outbound_networking::PatternErrorKind::UnresolvedVariable {
            name: "host".into()
        }
    );
}

#[test]
fn equality_ignores_spelling() {
    let a = AllowedHost::parse("HTTP://Example.com:80").unwrap();
    let b = AllowedHost::parse("http://example.com").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_string(), "HTTP://Example.com:80");
}

#[test]
fn service_chaining() {
    for (text, chaining) in [
        ("http://*.spin.internal", true),
        ("http://authz.spin.internal", true),
        ("https://authz.spin.internal:8080", true),
        ("http://spin.internal", false),
        ("http://*.example.com", false),
        ("http://self", false),
    ] {
        let entry = AllowedHost::parse(text).unwrap();
        assert_eq!(entry.is_for_service_chaining(), chaining, "{text}");
    }
    assert_eq!(
        service_chaining_target("authz.spin.internal"),
        Some("authz")
    );
    assert_eq!(
        service_chaining_target("authz.Spin.Internal:80"),
        Some("authz")
    );
    assert_eq!(service_chaining_target("a.b.spin.internal"), None);
    assert_eq!(service_chaining_target("spin.internal"), None);
    assert_eq!(service_chaining_target("example.com"), None);
}

#[test]
fn default_ports_are_spins() {
    for (scheme, port) in [
        ("http", Some(80)),
        ("https", Some(443)),
        ("postgres", Some(5432)),
        ("mysql", Some(3306)),
        ("redis", Some(6379)),
        ("mqtt", Some(1883)),
        ("HTTPS", Some(443)),
        ("rediss", None),
        ("mqtts", None),
        ("tcp", None),
        ("*", None),
    ] {
        assert_eq!(default_port(scheme), port, "{scheme}");
    }
}

#[test]
fn legacy_allowed_http_hosts() {
    #[rustfmt::skip]
    let table: &[(&[&str], &[&str])] = &[
        (&["insecure:allow-all"], &["http://*:*", "https://*:*", "http://self"]),
        (&["example.com", "insecure:allow-all"], &["http://*:*", "https://*:*", "http://self"]),
        (&["self"], &["http://self"]),
        (&["Example.com"], &["http://example.com", "https://example.com"]),
        (&["example.com:8080"], &["http://example.com:8080", "https://example.com:8080"]),
        (&["example.com:80"], &["http://example.com", "https://example.com"]),
        (&["https://example.com:443/"], &["http://example.com", "https://example.com"]),
        (&["[::1]:3000"], &["http://[::1]:3000", "https://[::1]:3000"]),
        (&[], &[]),
    ];
    for (legacy, expected) in table {
        let converted = convert_allowed_http_hosts(legacy).unwrap();
        assert_eq!(converted, *expected, "{legacy:?}");
        // Every converted entry is a valid allowed_outbound_hosts entry.
        for entry in &converted {
            AllowedHost::parse(entry).unwrap();
        }
    }
    for bad in [
        "example.com/path",
        "ftp://example.com",
        "exa mple.com",
        "example.com:http",
    ] {
        assert!(convert_allowed_http_hosts(&[bad]).is_err(), "{bad}");
    }
}
