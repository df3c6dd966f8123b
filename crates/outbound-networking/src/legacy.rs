//! Spin 1's `allowed_http_hosts`, converted to `allowed_outbound_hosts` entries as Spin does.

use crate::error::{PatternError, PatternErrorKind as Kind};
use crate::host::Host;

/// Converts a Spin 1 (manifest version 1) `allowed_http_hosts` list to
/// `allowed_outbound_hosts` entries, the way Spin's manifest compatibility layer does:
///
/// - `insecure:allow-all` anywhere in the list → `http://*:*`, `https://*:*`, `http://self`;
/// - `self` → `http://self`;
/// - `host[:port]` or `http(s)://host[:port]` → both `http://host[:port]` and
///   `https://host[:port]` (a port equal to the written scheme's default is dropped, as
///   `url::Url::port` drops it in Spin).
///
/// ```
/// use skiff_outbound_networking::convert_allowed_http_hosts;
/// assert_eq!(
///     convert_allowed_http_hosts(&["api.example.com:8080"]).unwrap(),
///     ["http://api.example.com:8080", "https://api.example.com:8080"],
/// );
/// assert_eq!(
///     convert_allowed_http_hosts(&["insecure:allow-all"]).unwrap(),
///     ["http://*:*", "https://*:*", "http://self"],
/// );
/// ```
pub fn convert_allowed_http_hosts<S: AsRef<str>>(hosts: &[S]) -> Result<Vec<String>, PatternError> {
    if hosts.iter().any(|h| h.as_ref() == "insecure:allow-all") {
        return Ok(vec![
            "http://*:*".into(),
            "https://*:*".into(),
            "http://self".into(),
        ]);
    }
    let mut converted = Vec::with_capacity(hosts.len() * 2);
    for entry in hosts {
        let entry = entry.as_ref();
        let (host, port) = parse_legacy(entry).map_err(|kind| PatternError::new(entry, kind))?;
        if host == Host::Domain("self".into()) {
            converted.push("http://self".into());
            continue;
        }
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        converted.push(format!("http://{host}{port}"));
        converted.push(format!("https://{host}{port}"));
    }
    Ok(converted)
}

fn parse_legacy(entry: &str) -> Result<(Host, Option<u16>), Kind> {
    let (scheme, rest) = match entry.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => ("http", rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => ("https", rest),
        Some((scheme, _)) => {
            return Err(Kind::InvalidScheme {
                scheme: scheme.to_string(),
            });
        }
        None => ("http", entry),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() {
        return Err(Kind::HasPath {
            path: format!("/{path}"),
            suggestion: authority.to_string(),
        });
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host = Host::parse(host, false).map_err(|reason| Kind::InvalidHost {
        host: host.to_string(),
        reason,
    })?;
    let default = if scheme == "https" { 443 } else { 80 };
    let port = match port.filter(|p| !p.is_empty()) {
        Some(port) => Some(port.parse::<u16>().map_err(|_| Kind::InvalidPort {
            port: port.to_string(),
        })?),
        None => None,
    };
    Ok((host, port.filter(|p| *p != default)))
}
