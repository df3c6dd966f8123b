//! Errors for patterns that do not parse and URLs that are not connection targets.

use std::fmt;

/// An `allowed_outbound_hosts` entry that could not be parsed.
///
/// Its `Display` names the entry (and, for templates, what it expanded to), says what is
/// wrong and how to fix it:
///
/// ```text
/// invalid `allowed_outbound_hosts` entry `https://example.com/api`: it has a path (`/api`); entries name a scheme, host and port only: write `https://example.com`
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct PatternError {
    pattern: String,
    expanded: Option<String>,
    kind: PatternErrorKind,
}

impl PatternError {
    pub(crate) fn new(pattern: &str, kind: PatternErrorKind) -> Self {
        Self {
            pattern: pattern.to_string(),
            expanded: None,
            kind,
        }
    }

    /// Records that the failing text came from expanding the template `template`.
    pub(crate) fn in_template(mut self, template: &str) -> Self {
        self.expanded = Some(std::mem::replace(&mut self.pattern, template.to_string()));
        self
    }

    /// The entry as written (for templates: before expansion).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// For a templated entry, the text it expanded to.
    pub fn expanded(&self) -> Option<&str> {
        self.expanded.as_deref()
    }

    /// What is wrong with the entry.
    pub fn kind(&self) -> &PatternErrorKind {
        &self.kind
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid `allowed_outbound_hosts` entry `{}`",
            self.pattern
        )?;
        if let Some(expanded) = &self.expanded {
            write!(f, " (expanded to `{expanded}`)")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// What is wrong with an `allowed_outbound_hosts` entry. Each message ends with a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternErrorKind {
    /// `*`, `""`, `:` or `?` on its own.
    #[error(
        "this is not a host pattern; entries look like `<scheme>://<host>[:<port>]` with `*` \
         allowed in each part: `*://*:*` allows all outbound networking (and so disables network \
         sandboxing)"
    )]
    NotAPattern,
    /// Spin 1's `insecure:allow-all`, which Spin 2+ rejects in `allowed_outbound_hosts`.
    #[error(
        "`insecure:allow-all` is no longer supported: use `*://*:*` if you really want to allow \
         all outbound networking"
    )]
    InsecureAllowAll,
    /// No `://`.
    #[error(
        "it has no scheme; entries look like `<scheme>://<host>[:<port>]`: write `{suggestion}`"
    )]
    MissingScheme {
        /// The entry with a scheme added.
        suggestion: String,
    },
    /// A scheme with characters other than letters.
    #[error("the scheme `{scheme}` may contain only letters, or be `*` for any scheme")]
    InvalidScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// `{http,https}://…`.
    #[error("scheme lists such as `{{http,https}}` are not supported: write one entry per scheme")]
    SchemeList,
    /// `http://`, `http://:80`.
    #[error("the host is empty: name a host, or use `*` for any host")]
    EmptyHost,
    /// `http://{a,b}`.
    #[error("host lists such as `{{a.com,b.com}}` are not supported: write one entry per host")]
    HostList,
    /// A host that is not a valid name or IP address.
    #[error("`{host}` is not a valid host: {reason}")]
    InvalidHost {
        /// The host as written.
        host: String,
        /// Why it is invalid.
        reason: String,
    },
    /// `*` anywhere but as the whole host or a leading `*.`.
    #[error(
        "`{host}` has a misplaced `*`: a wildcard may only be the whole host (`*`) or a leading \
         `*.` meaning any subdomain (`*.example.com`)"
    )]
    MisplacedWildcard {
        /// The host as written.
        host: String,
    },
    /// An IPv6 address or range written without brackets.
    #[error(
        "IPv6 addresses must be written in brackets, e.g. `http://[::1]:8080` or \
         `*://[fd00::]/8:*`"
    )]
    UnbracketedIpv6,
    /// `10.0.0.0/33` and the like.
    #[error("`{cidr}` is not a valid CIDR range: {reason}")]
    InvalidCidr {
        /// The range as written.
        cidr: String,
        /// Why it is invalid.
        reason: String,
    },
    /// `https://example.com/api`.
    #[error(
        "it has a path (`{path}`); entries name a scheme, host and port only: write `{suggestion}`"
    )]
    HasPath {
        /// The path as written.
        path: String,
        /// The entry without the path.
        suggestion: String,
    },
    /// No port, and the scheme has no default port (or is `*`).
    #[error(
        "no port was given and the scheme `{scheme}` has no default port: add one, e.g. \
         `{example}`, or `:*` for any port"
    )]
    PortRequired {
        /// The scheme.
        scheme: String,
        /// The entry with a port added.
        example: String,
    },
    /// A port that is not a number, range or `*`.
    #[error(
        "`{port}` is not a valid port: use a number (0-65535), a range (`8000-8010`, or Spin's \
         half-open `8000..8011`), or `*` for any port"
    )]
    InvalidPort {
        /// The port as written.
        port: String,
    },
    /// A port range with no ports in it.
    #[error("the port range `{range}` contains no ports: {hint}")]
    EmptyPortRange {
        /// The range as written.
        range: String,
        /// How to write it.
        hint: String,
    },
    /// `http://a.com:{80,443}`.
    #[error(
        "port lists such as `{{80,443}}` are not supported: write one entry per port, or a range"
    )]
    PortList,
    /// `{{` without `}}`.
    #[error("`{{{{` has no matching `}}}}`: variables are written `{{{{ name }}}}`")]
    UnclosedTemplate,
    /// `{{ }}`.
    #[error("`{{{{ }}}}` names no variable: write `{{{{ name }}}}`")]
    EmptyVariable,
    /// A template variable the resolver does not know.
    #[error(
        "the variable `{name}` has no value: declare it in the application's `[variables]` with \
         a default, or give it a value at run time"
    )]
    UnresolvedVariable {
        /// The variable name.
        name: String,
    },
}

/// A URL or address that cannot be checked against `allowed_outbound_hosts`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// No `scheme://`.
    #[error("`{url}` has no scheme (e.g. `https://`)")]
    MissingScheme {
        /// The URL as given.
        url: String,
    },
    /// A scheme that is not `letter *( letter / digit / "+" / "-" / "." )`.
    #[error("`{url}` has an invalid scheme `{scheme}`")]
    InvalidScheme {
        /// The URL as given.
        url: String,
        /// The scheme.
        scheme: String,
    },
    /// An invalid or empty host.
    #[error("`{url}` has an invalid host: {reason}")]
    InvalidHost {
        /// The URL as given.
        url: String,
        /// Why the host is invalid.
        reason: String,
    },
    /// A port that is not a number in 0-65535.
    #[error("`{url}` has an invalid port `{port}`")]
    InvalidPort {
        /// The URL as given.
        url: String,
        /// The port as written.
        port: String,
    },
    /// No port, and the scheme has no default port.
    #[error("`{url}` has no port and the scheme `{scheme}` has no default port")]
    PortRequired {
        /// The URL as given.
        url: String,
        /// The scheme.
        scheme: String,
    },
}
