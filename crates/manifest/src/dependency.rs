//! `[component.ID.dependencies]`: components that satisfy some of a
//! component's imports, composed with it at load (Spin 3's component
//! dependencies, same keys).
//!
//! ```toml
//! [component.api.dependencies]
//! "example:markdown/render" = { path = "deps/markdown.wasm" }
//! "example:cache" = { component = "cache" }              # another component of the app
//! "example:auth/verify@1.2.0" = { url = "https://…/auth.wasm", digest = "sha256:…" }
//! "example:geo" = { version = "^0.3", registry = "ghcr.io/acme" }
//! ```
//!
//! Each key names the imports it satisfies: a plain import name
//! (`my-import`), every interface of a package (`ns:pkg`, or `ns:pkg@1.0.0`
//! for one version), or one interface (`ns:pkg/iface`, `ns:pkg/iface@1.0.0`).
//! The dependency's export of the same name satisfies each, unless `export`
//! names another. A dependency gets none of the component's configuration
//! (files, environment, outbound hosts, stores, variables) unless
//! `inherit_configuration = true`, or the component's
//! `dependencies_inherit_configuration = true`.

use std::path::{Path, PathBuf};

use toml::de::DeValue;

use crate::component::normalize;
use crate::raw::{Ctx, Table, Value, join};
use crate::span::Loc;

/// One entry of `[component.ID.dependencies]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The key as written: which imports it satisfies.
    pub name: DependencyName,
    /// Dotted manifest path of the entry, for errors
    /// (`component.api.dependencies."example:markdown/render"`).
    pub key: String,
    /// 1-based line of the entry.
    pub line: usize,
    /// Where the dependency's component comes from.
    pub source: DependencySource,
    /// `export = "…"`: the dependency's export that satisfies the imports,
    /// when not the import's own name.
    pub export: Option<String>,
    /// Whether the dependency gets the component's configuration (`true`) or
    /// none of it (`false`, the default).
    pub inherit_configuration: bool,
}

impl Dependency {
    /// The file holding the dependency's component: its `path`, or the
    /// `source` of the component it names; `None` for one still to be
    /// fetched (`url`, `version`).
    pub fn local_path(&self) -> Option<&Path> {
        match &self.source {
            DependencySource::Path(path) => Some(path),
            DependencySource::Component { source, .. } => Some(source),
            DependencySource::Url { .. } | DependencySource::Registry { .. } => None,
        }
    }
}

/// Which imports a dependency satisfies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyName {
    /// A plain kebab-case import name: that import only.
    Plain(String),
    /// `ns:pkg[/iface][@version]`: interfaces of a package.
    Package {
        /// `ns:pkg`.
        package: String,
        /// The one interface, when named.
        interface: Option<String>,
        /// The one version, when named.
        version: Option<String>,
    },
}

impl DependencyName {
    /// Reads a dependency key; the error says what is wrong with it.
    pub fn parse(name: &str) -> Result<DependencyName, String> {
        if !name.contains([':', '/', '@']) {
            return if is_kebab(name) {
                Ok(DependencyName::Plain(name.to_string()))
            } else {
                Err(format!(
                    "`{name}` is not an import name: a plain name is kebab-case (`my-import`); \
                     an interface is `namespace:package/interface`, optionally `@version`"
                ))
            };
        }
        let bad = |why: &str| {
            Err(format!(
                "`{name}` is not a dependency name ({why}): write `namespace:package`, \
                 `namespace:package/interface`, or either with `@version` (`1.2.0`)"
            ))
        };
        let (rest, version) = match name.split_once('@') {
            Some((rest, version)) => {
                if !is_semver(version) {
                    return bad("the version is not a semantic version");
                }
                (rest, Some(version.to_string()))
            }
            None => (name, None),
        };
        let (package, interface) = match rest.split_once('/') {
            Some((package, interface)) => (package, Some(interface)),
            None => (rest, None),
        };
        let Some((namespace, pkg)) = package.split_once(':') else {
            return bad("no `namespace:` before the package");
        };
        if !is_kebab(namespace) || !is_kebab(pkg) {
            return bad("namespace and package are kebab-case");
        }
        if let Some(interface) = interface
            && !is_kebab(interface)
        {
            return bad("the interface is kebab-case");
        }
        Ok(DependencyName::Package {
            package: package.to_string(),
            interface: interface.map(str::to_string),
            version,
        })
    }

    /// Whether this names the component import `import` (an import name as
    /// the component model writes it: `my-import`, `ns:pkg/iface@1.0.0`).
    pub fn matches(&self, import: &str) -> bool {
        match self {
            DependencyName::Plain(name) => name == import,
            DependencyName::Package {
                package,
                interface,
                version,
            } => {
                let (path, import_version) = match import.split_once('@') {
                    Some((path, v)) => (path, Some(v)),
                    None => (import, None),
                };
                let Some((import_package, import_interface)) = path.split_once('/') else {
                    return false;
                };
                import_package == package
                    && interface.as_deref().is_none_or(|i| i == import_interface)
                    && version.as_deref().is_none_or(|v| Some(v) == import_version)
            }
        }
    }
}

impl std::fmt::Display for DependencyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DependencyName::Plain(name) => f.write_str(name),
            DependencyName::Package {
                package,
                interface,
                version,
            } => {
                f.write_str(package)?;
                if let Some(interface) = interface {
                    write!(f, "/{interface}")?;
                }
                if let Some(version) = version {
                    write!(f, "@{version}")?;
                }
                Ok(())
            }
        }
    }
}

/// Where a dependency's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencySource {
    /// `path = "…"`: a component file (absolute, resolved against the manifest dir).
    Path(PathBuf),
    /// `component = "ID"`: the code of another component of the app (only its
    /// `source`; its own configuration does not apply).
    Component {
        /// The component's id.
        id: String,
        /// Its `source`, once the manifest is read.
        source: PathBuf,
    },
    /// `url = "…"`, `digest = "sha256:…"`: downloaded once, checked against the digest.
    Url {
        /// `http://` or `https://` address of the component.
        url: String,
        /// `sha256:` and 64 lowercase hex digits.
        digest: String,
    },
    /// `version = "…"` (a semantic version or requirement such as `^1.2`),
    /// `registry`, `package`: a package from an OCI registry.
    Registry {
        /// The version requirement.
        version: String,
        /// `registry = "host[:port][/prefix]"`; `None` when not given.
        registry: Option<String>,
        /// `package = "ns:name"`; `None` means the dependency name's package.
        package: Option<String>,
    },
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(c) if c.is_ascii_lowercase() => {
                    chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                }
                Some(c) if c.is_ascii_uppercase() => {
                    chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                }
                _ => false,
            }
        })
}

/// `MAJOR.MINOR.PATCH`, optionally `-pre` and `+build`.
fn is_semver(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or_default();
    let rest = &s[core.len()..];
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
}

/// Whether `digest` is `sha256:` and 64 lowercase hex digits.
fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// A dependency as read, before `component = "ID"` is resolved.
pub(crate) struct DraftDependency {
    pub dependency: Dependency,
    /// Where `component = "ID"` was written, when it was.
    pub component_loc: Option<Loc>,
}

/// Reads `[component.ID.dependencies]`; `inherit_default` is the
/// component's `dependencies_inherit_configuration`.
pub(crate) fn parse_dependencies(
    ctx: &mut Ctx<'_>,
    base_dir: &Path,
    value: &Value<'_>,
    key: &str,
    inherit_default: bool,
) -> Vec<DraftDependency> {
    let Some(table) = ctx.table(value, key, "a table of dependencies") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, value) in table.iter() {
        let entry_key = join(key, name.get_ref());
        let loc = ctx.loc(&name.span());
        let parsed = match DependencyName::parse(name.get_ref()) {
            Ok(parsed) => parsed,
            Err(msg) => {
                let error = ctx.error_at(loc, &entry_key, msg);
                ctx.push(error);
                continue;
            }
        };
        if let Some(draft) = parse_entry(
            ctx,
            base_dir,
            value,
            &entry_key,
            parsed,
            loc,
            inherit_default,
        ) {
            out.push(draft);
        }
    }
    out
}

fn parse_entry(
    ctx: &mut Ctx<'_>,
    base_dir: &Path,
    value: &Value<'_>,
    key: &str,
    name: DependencyName,
    loc: Loc,
    inherit_default: bool,
) -> Option<DraftDependency> {
    let dependency = |source, export, inherit_configuration| Dependency {
        name: name.clone(),
        key: key.to_string(),
        line: loc.line,
        source,
        export,
        inherit_configuration,
    };
    let table: &Table<'_> =
        match value.get_ref() {
            DeValue::String(version) => {
                let error = ctx
                .error(&value.span(), key, format!("`\"{version}\"` names no registry"))
                .with_hint(format!(
                    "Skiff has no default registry: write `{{ version = \"{version}\", registry \
                     = \"REGISTRY\" }}` (an OCI registry, e.g. `ghcr.io/OWNER`), or use `path`, \
                     `url` or `component`"
                ));
                ctx.push(error);
                return None;
            }
            DeValue::Table(t) => t,
            _ => {
                ctx.wrong_type(
                    value,
                    key,
                    "a table (`{ path = \"…\" }`, `{ url = \"…\", digest = \"sha256:…\" }`, \
                 `{ component = \"…\" }` or `{ version = \"…\", registry = \"…\" }`)",
                );
                return None;
            }
        };
    let kinds: Vec<&str> = ["path", "url", "component", "version"]
        .into_iter()
        .filter(|k| table.get(*k).is_some())
        .collect();
    let kind = match kinds.as_slice() {
        [kind] => *kind,
        [] => {
            let error = ctx
                .error(&value.span(), key, "the dependency says nowhere to find it")
                .with_hint(
                    "give one of `path = \"…\"`, `url = \"…\"` (with `digest`), `component = \
                     \"…\"` or `version = \"…\"` (with `registry`)",
                );
            ctx.push(error);
            return None;
        }
        several => {
            let error = ctx.error(
                &value.span(),
                key,
                format!(
                    "the dependency gives {}: only one of them may say where it comes from",
                    several
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            );
            ctx.push(error);
            return None;
        }
    };
    let known: &[&str] = match kind {
        "path" => &["path", "export", "inherit_configuration"],
        "url" => &["url", "digest", "export", "inherit_configuration"],
        "component" => &["component", "export", "inherit_configuration"],
        _ => &[
            "version",
            "registry",
            "package",
            "export",
            "inherit_configuration",
        ],
    };
    ctx.check_keys(table, key, known);
    let k = |name: &str| join(key, name);
    let export = table
        .get("export")
        .and_then(|v| ctx.non_empty_string(v, &k("export")));
    let inherit = match table.get("inherit_configuration") {
        None => inherit_default,
        Some(v) => match v.get_ref() {
            DeValue::Boolean(b) => *b,
            DeValue::Array(a) if a.is_empty() => false,
            DeValue::Array(_) => {
                let error = ctx
                    .error(
                        &v.span(),
                        &k("inherit_configuration"),
                        "a dependency inherits all of its component's configuration or none of it",
                    )
                    .with_hint("write `inherit_configuration = true` or `false`");
                ctx.push(error);
                return None;
            }
            _ => {
                ctx.wrong_type(v, &k("inherit_configuration"), "a boolean");
                return None;
            }
        },
    };
    let mut component_loc = None;
    let source = match kind {
        "path" => {
            let path = ctx.non_empty_string(table.get("path")?, &k("path"))?;
            DependencySource::Path(normalize(&base_dir.join(path)))
        }
        "component" => {
            let v = table.get("component")?;
            component_loc = Some(ctx.loc(&v.span()));
            DependencySource::Component {
                id: ctx.non_empty_string(v, &k("component"))?,
                source: PathBuf::new(),
            }
        }
        "url" => {
            let v = table.get("url")?;
            let url = ctx.non_empty_string(v, &k("url"))?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                let error = ctx.error(
                    &v.span(),
                    &k("url"),
                    "the URL must start with `https://` or `http://`",
                );
                ctx.push(error);
                return None;
            }
            let d = ctx.require(table, &value.span(), key, "digest")?;
            let digest = ctx.string(d, &k("digest"))?;
            if !is_sha256_digest(&digest) {
                let error = ctx
                    .error(
                        &d.span(),
                        &k("digest"),
                        "expected `sha256:` and 64 lowercase hex digits",
                    )
                    .with_hint("`sha256sum FILE.wasm` prints the digits");
                ctx.push(error);
                return None;
            }
            DependencySource::Url { url, digest }
        }
        _ => {
            let version = ctx.non_empty_string(table.get("version")?, &k("version"))?;
            let package = match table.get("package") {
                None => None,
                Some(v) => {
                    let p = ctx.string(v, &k("package"))?;
                    match DependencyName::parse(&p) {
                        Ok(DependencyName::Package {
                            interface: None,
                            version: None,
                            ..
                        }) => Some(p),
                        _ => {
                            let error = ctx.error(
                                &v.span(),
                                &k("package"),
                                format!("`{p}` is not a package name: write `namespace:package`"),
                            );
                            ctx.push(error);
                            return None;
                        }
                    }
                }
            };
            if package.is_none() && matches!(name, DependencyName::Plain(_)) {
                let error = ctx
                    .error(
                        &value.span(),
                        key,
                        "a plain import name names no package to fetch",
                    )
                    .with_hint("add `package = \"namespace:package\"`");
                ctx.push(error);
                return None;
            }
            let Some(r) = table.get("registry") else {
                let error = ctx
                    .error(
                        &value.span(),
                        &k("registry"),
                        "the dependency names no registry",
                    )
                    .with_hint(
                        "Skiff has no default registry: add `registry = \"REGISTRY\"` (an OCI \
                         registry, e.g. `ghcr.io/OWNER`)",
                    );
                ctx.push(error);
                return None;
            };
            let registry = ctx.non_empty_string(r, &k("registry"))?;
            DependencySource::Registry {
                version,
                registry: Some(registry),
                package,
            }
        }
    };
    Some(DraftDependency {
        dependency: dependency(source, export, inherit),
        component_loc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_imports_as_spin_matches_them() {
        for (name, imports) in [
            ("foo:bar/baz@0.1.0", &["foo:bar/baz@0.1.0"][..]),
            ("foo:bar/baz", &["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar", &["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar@0.1.0", &["foo:bar/baz@0.1.0"]),
            ("foo-bar", &["foo-bar"]),
        ] {
            let parsed = DependencyName::parse(name).unwrap();
            assert_eq!(parsed.to_string(), name);
            for import in imports {
                assert!(parsed.matches(import), "{name} should match {import}");
            }
        }
        for (name, imports) in [
            (
                "foo:bar/baz@0.1.0",
                &["foo:bar/baz", "foo:bar/baz@0.1.1"][..],
            ),
            ("foo:bar/baz", &["foo:bar/bub", "foo:bar/bub@0.1.0"]),
            ("foo:bar", &["foo:bub/bib", "foo:barn/baz"]),
            ("foo:bar@0.1.0", &["foo:bar/baz"]),
            ("foo:bar/baz", &["foo:bar/baz-bub", "foo-bar"]),
            ("foo-bar", &["foo:bar/x"]),
        ] {
            let parsed = DependencyName::parse(name).unwrap();
            for import in imports {
                assert!(!parsed.matches(import), "{name} should not match {import}");
            }
        }
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        for (name, why) in [
            ("Foo_bar", "kebab-case"),
            ("foo:bar@1.0", "semantic version"),
            ("bar/baz", "no `namespace:`"),
            ("foo:Bar_x/baz", "kebab-case"),
            ("foo:bar/baz_q", "interface is kebab-case"),
        ] {
            let err = DependencyName::parse(name).unwrap_err();
            assert!(err.contains(why), "{name}: {err}");
        }
        assert!(DependencyName::parse("foo:bar/baz@1.0.0-rc.1").is_ok());
    }

    #[test]
    fn digests_are_sha256_hex() {
        let hex = "a".repeat(64);
        assert!(is_sha256_digest(&format!("sha256:{hex}")));
        assert!(!is_sha256_digest(&hex));
        assert!(!is_sha256_digest(&format!("sha256:{}", "A".repeat(64))));
        assert!(!is_sha256_digest("sha256:abc"));
    }
}
