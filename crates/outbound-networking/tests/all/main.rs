//! Behaviour of `allowed_outbound_hosts` parsing and matching, through the public API.

mod errors;
mod matching;
mod parsing;
mod ssrf;
mod targets;
mod templates;

use skiff_outbound_networking::{AllowedHosts, OutboundTarget};

/// A resolver for templates: `host`, `port` and `bad_host` are defined.
pub fn vars(name: &str) -> Option<String> {
    match name {
        "host" => Some("api.example.com".into()),
        "port" => Some("8443".into()),
        "bad_host" => Some("api.example.com/v1".into()),
        _ => None,
    }
}

/// A resolver that knows no variables.
pub fn no_vars(_: &str) -> Option<String> {
    None
}

/// Parses entries that must be valid.
pub fn hosts(patterns: &[&str]) -> AllowedHosts {
    AllowedHosts::parse(patterns, &vars)
        .unwrap_or_else(|e| panic!("{patterns:?} should parse: {e}"))
}

/// Parses a URL that must be a valid target.
pub fn target(url: &str) -> OutboundTarget {
    OutboundTarget::from_url(url).unwrap_or_else(|e| panic!("{url} should parse: {e}"))
}
