//! Turning URLs, authorities and socket addresses into targets.

use skiff_outbound_networking::{Host, OutboundTarget, TargetError};

#[test]
fn urls() {
    #[rustfmt::skip]
    let table: &[(&str, &str)] = &[
        ("https://example.com",                              "https://example.com:443"),
        ("HTTPS://Example.COM:8443/a/b?c#d",                 "https://example.com:8443"),
        ("https://example.com/file@0.1.0.json",              "https://example.com:443"),
        ("https://user:password@example.com/file@0.1.0.json", "https://example.com:443"),
        ("https://user:pass#word@example.com/x",             "https://example.com:443"),
        ("mysql://user:pass#word@xyz.com",                   "mysql://xyz.com:3306"),
        ("mysql://user%3Apass%23word@xyz.com",               "mysql://xyz.com:3306"),
        ("https://example.com?q=1",                          "https://example.com:443"),
        ("https://example.com#frag",                         "https://example.com:443"),
        ("http://[::1]:8080/",                               "http://[::1]:8080"),
        ("postgres://[fd00::1]/db",                          "postgres://[fd00::1]:5432"),
        ("http://127.1",                                     "http://127.0.0.1:80"),
        ("redis://cache:6380/0",                             "redis://cache:6380"),
        ("mqtt://broker",                                    "mqtt://broker:1883"),
        ("tcp://10.0.0.1:5432",                              "tcp://10.0.0.1:5432"),
        ("http://authz.spin.internal/x",                     "http://authz.spin.internal:80"),
    ];
    for (url, expected) in table {
        let target = OutboundTarget::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(target.to_string(), *expected, "{url}");
    }
}

#[test]
fn url_errors() {
    #[rustfmt::skip]
    let table: &[(&str, &str)] = &[
        ("example.com",         "`example.com` has no scheme (e.g. `https://`)"),
        ("rediss://cache",      "`rediss://cache` has no port and the scheme `rediss` has no default port"),
        ("https://",            "`https://` has an invalid host: the host is empty"),
        ("https://a.com:99999", "`https://a.com:99999` has an invalid port `99999`"),
        ("1http://a.com",       "`1http://a.com` has an invalid scheme `1http`"),
        ("http://::1/",         "`http://::1/` has an invalid host: `:` is not allowed in a host name"),
    ];
    for (url, message) in table {
        let err = OutboundTarget::from_url(url).expect_err(url);
        assert_eq!(err.to_string(), *message, "{url}");
    }
    assert!(matches!(
        OutboundTarget::from_url("rediss://cache"),
        Err(TargetError::PortRequired { .. })
    ));
}

#[test]
fn other_constructors() {
    let fallback = OutboundTarget::from_url_or_port("rediss://cache", 6379).unwrap();
    assert_eq!(fallback.to_string(), "rediss://cache:6379");
    // An explicit port or a known default wins over the fallback.
    let known = OutboundTarget::from_url_or_port("redis://cache", 1).unwrap();
    assert_eq!(known.port(), 6379);

    let from_authority = OutboundTarget::from_authority("https", "API.example.com:8443").unwrap();
    assert_eq!(from_authority.to_string(), "https://api.example.com:8443");
    assert_eq!(
        from_authority.host(),
        &Host::Domain("api.example.com".into())
    );
    assert_eq!(from_authority.scheme(), "https");
    assert_eq!(from_authority.as_pattern(), "https://api.example.com:8443");
    let v6 = OutboundTarget::from_authority("http", "[::1]").unwrap();
    assert_eq!((v6.port(), v6.ip()), (80, Some("::1".parse().unwrap())));
    assert_eq!(v6.as_pattern(), "http://[::1]");

    let parts = OutboundTarget::new("TCP", "::1", 9).unwrap();
    assert_eq!(parts.to_string(), "tcp://[::1]:9");
    assert!(OutboundTarget::new("tcp", "a b", 9).is_err());
    assert!(OutboundTarget::new("t p", "a", 9).is_err());
    assert!(OutboundTarget::from_socket_addr("not a scheme", "[::1]:1".parse().unwrap()).is_err());
}
