//! Clear-text HTTP/2 with prior knowledge ("h2c"): the `http://` authorities
//! outbound requests to which are sent as HTTP/2 from their first byte (for
//! gRPC to clear-text backends), from Spin's `SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE`,
//! Skiff's `SKIFF_OUTBOUND_H2C_PRIOR_KNOWLEDGE` and the runtime config's
//! `[outbound_http] h2c_prior_knowledge`.

use std::sync::OnceLock;

use crate::OutboundTarget;

/// Spin's environment variable: a `host:port` (Skiff also takes a
/// comma-separated list).
pub const SPIN_H2C_ENV: &str = "SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE";
/// Skiff's name for [`SPIN_H2C_ENV`], same format; both apply.
pub const SKIFF_H2C_ENV: &str = "SKIFF_OUTBOUND_H2C_PRIOR_KNOWLEDGE";

/// The authorities (`host:port`) outbound `http://` requests to which are
/// sent as clear-text HTTP/2 with prior knowledge. The default holds none.
///
/// A request matches when its scheme is `http` and its host and port (`80`
/// when its URL has none) are an entry's; host names compare without regard
/// to case. `https://` requests never match: ALPN chooses their protocol.
///
/// ```
/// use skiff_outbound_networking::{H2cPriorKnowledge, OutboundTarget};
///
/// let h2c = H2cPriorKnowledge::parse("`h2c_prior_knowledge`", ["grpc.internal:50051", "web:80"])?;
/// assert!(h2c.matches(&OutboundTarget::from_url("http://GRPC.internal:50051/svc")?));
/// assert!(h2c.matches(&OutboundTarget::from_url("http://web/")?));
/// assert!(!h2c.matches(&OutboundTarget::from_url("https://grpc.internal:50051/")?));
/// assert!(!h2c.matches(&OutboundTarget::from_url("http://grpc.internal:50052/")?));
///
/// let err = H2cPriorKnowledge::parse("`h2c_prior_knowledge`", ["grpc.internal"]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "`h2c_prior_knowledge`: `grpc.internal` is not `host:port`: the port is missing"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2cPriorKnowledge {
    authorities: Vec<OutboundTarget>,
}

/// A malformed h2c prior-knowledge entry, naming where it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: `{entry}` is not `host:port`: {reason}")]
#[non_exhaustive]
pub struct H2cError {
    /// Where the entry comes from: an environment variable, or a runtime
    /// config key.
    pub source_name: String,
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

impl H2cPriorKnowledge {
    /// Parses `entries` (`host:port` each, surrounding blanks ignored), which
    /// come from `source_name` (named by errors). The first malformed entry is
    /// the error.
    pub fn parse<S: AsRef<str>>(
        source_name: &str,
        entries: impl IntoIterator<Item = S>,
    ) -> Result<Self, H2cError> {
        let authorities = entries
            .into_iter()
            .map(|entry| {
                parse_entry(entry.as_ref().trim()).map_err(|reason| H2cError {
                    source_name: source_name.to_string(),
                    entry: entry.as_ref().trim().to_string(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(H2cPriorKnowledge { authorities })
    }

    /// Parses the value of the environment variable `name`: a comma-separated
    /// list of `host:port` (Spin's single `host:port` is a list of one); empty
    /// items are ignored.
    pub fn parse_env(name: &str, value: &str) -> Result<Self, H2cError> {
        let entries = value.split(',').filter(|item| !item.trim().is_empty());
        Self::parse(&format!("environment variable `{name}`"), entries)
    }

    /// The union of [`SPIN_H2C_ENV`] and [`SKIFF_H2C_ENV`], read from the
    /// environment once per process (later calls return the first answer).
    pub fn from_env() -> Result<&'static H2cPriorKnowledge, H2cError> {
        static FROM_ENV: OnceLock<Result<H2cPriorKnowledge, H2cError>> = OnceLock::new();
        FROM_ENV
            .get_or_init(|| {
                let mut all = H2cPriorKnowledge::default();
                for name in [SPIN_H2C_ENV, SKIFF_H2C_ENV] {
                    if let Some(value) = std::env::var_os(name) {
                        let value = value.into_string().map_err(|value| H2cError {
                            source_name: format!("environment variable `{name}`"),
                            entry: value.to_string_lossy().into_owned(),
                            reason: "it is not UTF-8".into(),
                        })?;
                        all.extend(&Self::parse_env(name, &value)?);
                    }
                }
                Ok(all)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Adds the authorities of `other`.
    pub fn extend(&mut self, other: &H2cPriorKnowledge) {
        for authority in &other.authorities {
            if !self.authorities.contains(authority) {
                self.authorities.push(authority.clone());
            }
        }
    }

    /// Whether there are no authorities.
    pub fn is_empty(&self) -> bool {
        self.authorities.is_empty()
    }

    /// The authorities, as `http://host:port` targets.
    pub fn iter(&self) -> impl Iterator<Item = &OutboundTarget> {
        self.authorities.iter()
    }

    /// Whether a request to `target` is sent as clear-text HTTP/2.
    pub fn matches(&self, target: &OutboundTarget) -> bool {
        self.authorities.contains(target)
    }
}

/// An `http://host:port` target from `entry`, or why it is not one.
fn parse_entry(entry: &str) -> Result<OutboundTarget, String> {
    if entry.is_empty() {
        return Err("it is empty".into());
    }
    if entry.contains("://") {
        return Err("write the host and port without a scheme".into());
    }
    if entry.contains(['/', '?', '#', '@']) || entry.contains(char::is_whitespace) {
        return Err("expected a host and a port only".into());
    }
    let port = match entry.rsplit_once(':') {
        // `[::1]` alone, or `::1` without brackets: no port of its own.
        Some((host, port)) if !port.contains(']') && !host.is_empty() => port,
        _ => return Err("the port is missing".into()),
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) || !matches!(port.parse::<u16>(), Ok(1..)) {
        return Err(format!("`{port}` is not a port number (1 to 65535)"));
    }
    if entry.matches(':').count() > 1 && !entry.starts_with('[') {
        return Err("write an IPv6 address in brackets: `[::1]:8080`".into());
    }
    OutboundTarget::from_authority("http", entry).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> OutboundTarget {
        OutboundTarget::from_url(url).unwrap()
    }

    #[test]
    fn entries_match_http_requests_to_their_host_and_port() {
        let h2c = H2cPriorKnowledge::parse(
            "test",
            [
                "grpc:50051",
                " Mesh.Local:80 ",
                "10.0.0.7:8080",
                "[::1]:9000",
            ],
        )
        .unwrap();
        assert!(h2c.matches(&target("http://grpc:50051/pkg.Svc/Call")));
        assert!(h2c.matches(&target("http://mesh.local/")));
        assert!(h2c.matches(&target("http://mesh.local:80/")));
        assert!(h2c.matches(&target("http://10.0.0.7:8080")));
        assert!(h2c.matches(&target("http://[::1]:9000/")));
        assert!(
            !h2c.matches(&target("http://grpc/")),
            "port 80 is not 50051"
        );
        assert!(!h2c.matches(&target("https://grpc:50051/")), "ALPN decides");
        assert!(!h2c.matches(&target("http://10.0.0.8:8080")));
        assert!(!H2cPriorKnowledge::default().matches(&target("http://grpc:50051")));
    }

    #[test]
    fn malformed_entries_are_errors_naming_their_source() {
        let cases = [
            ("grpc", "the port is missing"),
            ("", "it is empty"),
            (
                "http://grpc:50051",
                "write the host and port without a scheme",
            ),
            ("grpc:50051/path", "expected a host and a port only"),
            ("grpc:port", "`port` is not a port number"),
            ("grpc:", "`` is not a port number"),
            (":80", "the port is missing"),
            ("[::1]", "the port is missing"),
            ("::1:80", "write an IPv6 address in brackets: `[::1]:8080`"),
            ("grpc:99999", "`99999` is not a port number"),
        ];
        for (entry, reason) in cases {
            let err = H2cPriorKnowledge::parse("`outbound_http.h2c_prior_knowledge`", [entry])
                .unwrap_err();
            assert_eq!(err.source_name, "`outbound_http.h2c_prior_knowledge`");
            assert_eq!(err.entry, entry);
            assert!(err.reason.contains(reason), "{entry}: {}", err.reason);
        }
    }

    #[test]
    fn environment_values_are_comma_separated_lists() {
        let h2c = H2cPriorKnowledge::parse_env(SPIN_H2C_ENV, "a:1, b:2,,").unwrap();
        assert!(h2c.matches(&target("http://a:1")));
        assert!(h2c.matches(&target("http://b:2")));
        assert!(
            H2cPriorKnowledge::parse_env(SPIN_H2C_ENV, "")
                .unwrap()
                .is_empty()
        );
        let err = H2cPriorKnowledge::parse_env(SKIFF_H2C_ENV, "a:1,b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable `SKIFF_OUTBOUND_H2C_PRIOR_KNOWLEDGE`: `b` is not `host:port`: the port is missing"
        );
    }

    #[test]
    fn extend_is_a_union() {
        let mut a = H2cPriorKnowledge::parse("a", ["x:1", "y:2"]).unwrap();
        a.extend(&H2cPriorKnowledge::parse("b", ["y:2", "z:3"]).unwrap());
        let all: Vec<String> = a.iter().map(ToString::to_string).collect();
        assert_eq!(all, ["http://x:1", "http://y:2", "http://z:3"]);
    }
}
