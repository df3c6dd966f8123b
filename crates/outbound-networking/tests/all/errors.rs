//! Rejected entries: each error names the entry, says what is wrong, and hints at the fix.

use skiff_outbound_networking::{AllowedHosts, PatternErrorKind};

use crate::no_vars;

fn error(pattern: &str) -> (PatternErrorKind, String) {
    match AllowedHosts::parse(&[pattern], &no_vars) {
        Ok(_) => panic!("{pattern:?} should be rejected"),
        Err(e) => {
            assert_eq!(e.pattern(), pattern);
            (e.kind().clone(), e.to_string())
        }
    }
}

#[test]
fn messages() {
    #[rustfmt::skip]
    let table: &[(&str, &str)] = &[
        ("example.com",
         "it has no scheme; entries look like `<scheme>://<host>[:<port>]`: write `https://example.com`"),
        ("localhost:3001",
         "it has no scheme; entries look like `<scheme>://<host>[:<port>]`: write `https://localhost:3001`"),
        ("self",
         "it has no scheme; entries look like `<scheme>://<host>[:<port>]`: write `http://self`"),
        ("*",
         "this is not a host pattern; entries look like `<scheme>://<host>[:<port>]` with `*` allowed \
          in each part: `*://*:*` allows all outbound networking (and so disables network sandboxing)"),
        ("insecure:allow-all",
         "`insecure:allow-all` is no longer supported: use `*://*:*` if you really want to allow all \
          outbound networking"),
        ("https://a.com/x",
         "it has a path (`/x`); entries name a scheme, host and port only: write `https://a.com`"),
        ("http://spin.fermyon.dev:6666/a/b",
         "it has a path (`/a/b`); entries name a scheme, host and port only: write \
          `http://spin.fermyon.dev:6666`"),
        ("http://*.fermyon.dev/a",
         "it has a path (`/a`); entries name a scheme, host and port only: write `http://*.fermyon.dev`"),
        ("http://[::1]/a",
         "it has a path (`/a`); entries name a scheme, host and port only: write `http://[::1]`"),
        ("tcp://example.com",
         "no port was given and the scheme `tcp` has no default port: add one, e.g. \
          `tcp://example.com:PORT`, or `:*` for any port"),
        ("rediss://cache",
         "no port was given and the scheme `rediss` has no default port: add one, e.g. \
          `rediss://cache:6379`, or `:*` for any port"),
        ("*://127.0.0.0/24",
         "no port was given and the scheme `*` has no default port: add one, e.g. \
          `*://127.0.0.0/24:PORT`, or `:*` for any port"),
        ("h2c://example.com:80",
         "the scheme `h2c` may contain only letters, or be `*` for any scheme"),
        ("{http,https}://example.com",
         "scheme lists such as `{http,https}` are not supported: write one entry per scheme"),
        ("http://",
         "the host is empty: name a host, or use `*` for any host"),
        ("http://{a.com,b.com}",
         "host lists such as `{a.com,b.com}` are not supported: write one entry per host"),
        ("http://foo*.com",
         "`foo*.com` has a misplaced `*`: a wildcard may only be the whole host (`*`) or a leading \
          `*.` meaning any subdomain (`*.example.com`)"),
        ("http://a.com:{80,443}",
         "port lists such as `{80,443}` are not supported: write one entry per port, or a range"),
        ("http://a.com:http",
         "`http` is not a valid port: use a number (0-65535), a range (`8000-8010`, or Spin's \
          half-open `8000..8011`), or `*` for any port"),
        ("http://a.com:8010-8000",
         "the port range `8010-8000` contains no ports: write the lower port first: `8000-8010`"),
        ("http://a.com:80..80",
         "the port range `80..80` contains no ports: `a..b` excludes `b`; to allow 80 to 80 write \
          `80-80` or `80..81`"),
        ("http://::1",
         "IPv6 addresses must be written in brackets, e.g. `http://[::1]:8080` or `*://[fd00::]/8:*`"),
        ("*://10.0.0.0/33:*",
         "`10.0.0.0/33` is not a valid CIDR range: the prefix length 33 is longer than 32 bits"),
        ("http://bücher.de",
         "`bücher.de` is not a valid host: non-ASCII host names must be written in their punycode \
          (`xn--…`) form"),
        ("http://a b.com",
         "`a b.com` is not a valid host: ` ` is not allowed in a host name"),
        ("http://user@a.com",
         "`user@a.com` is not a valid host: `@` is not allowed in a host name"),
    ];
    let mut failures = Vec::new();
    for (pattern, reason) in table {
        let (_, message) = error(pattern);
        let expected = format!("invalid `allowed_outbound_hosts` entry `{pattern}`: {reason}");
        if message != expected {
            failures.push(format!("{pattern}:\n  got  {message}\n  want {expected}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Recognises one kind of error.
type IsKind = fn(&PatternErrorKind) -> bool;

#[test]
fn kinds() {
    use PatternErrorKind as K;
    #[rustfmt::skip]
    let table: &[(&str, IsKind)] = &[
        ("",                       |k| matches!(k, K::NotAPattern)),
        (":",                      |k| matches!(k, K::NotAPattern)),
        ("?",                      |k| matches!(k, K::NotAPattern)),
        ("spin.fermyon.dev:80",    |k| matches!(k, K::MissingScheme { .. })),
        ("http://:80",             |k| matches!(k, K::EmptyHost)),
        ("*://*",                  |k| matches!(k, K::PortRequired { .. })),
        ("https://fd00::/8",       |k| matches!(k, K::UnbracketedIpv6)),
        ("http://*.*.example.com", |k| matches!(k, K::MisplacedWildcard { .. })),
        ("http://*example.com",    |k| matches!(k, K::MisplacedWildcard { .. })),
        ("http://*.10.0.0.1",      |k| matches!(k, K::InvalidHost { .. })),
        ("http://[::1",            |k| matches!(k, K::InvalidHost { .. })),
        ("http://[::1]x",          |k| matches!(k, K::InvalidHost { .. })),
        ("http://256.0.0.1",       |k| matches!(k, K::InvalidHost { .. })),
        ("http://a..com",          |k| matches!(k, K::InvalidHost { .. })),
        ("http://a.com:70000",     |k| matches!(k, K::InvalidPort { .. })),
        ("http://a.com: 80",       |k| matches!(k, K::InvalidPort { .. })),
        ("http://a.com:1..x",      |k| matches!(k, K::InvalidPort { .. })),
        ("https://10.0.0.0/8/x",   |k| matches!(k, K::HasPath { .. })),
        ("*://[fd00::]/129:*",     |k| matches!(k, K::InvalidCidr { .. })),
        ("http://a.com:80:90",     |k| matches!(k, K::InvalidHost { .. })),
        ("http://fe80::1:80",      |k| matches!(k, K::UnbracketedIpv6)),
    ];
    for (pattern, is_expected) in table {
        let (kind, message) = error(pattern);
        assert!(is_expected(&kind), "{pattern:?} gave {kind:?}: {message}");
    }
}

#[test]
fn the_first_invalid_entry_is_reported() {
    let err = AllowedHosts::parse(&["https://ok.example", "nope", "also nope"], &no_vars)
        .expect_err("`nope` is invalid");
    assert_eq!(err.pattern(), "nope");
}
