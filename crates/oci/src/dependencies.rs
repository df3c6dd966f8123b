//! Fetching component dependencies that are not on disk: `url` ones
//! (downloaded once and checked against their `digest`) and `version` ones
//! (a package from an OCI registry). Both land in the cache's blob store,
//! addressed by digest, and each dependency is then pointed at its file.
//!
//! A registry dependency names `registry = "host[:port][/prefix]"` and a
//! package `ns:name` (its `package`, else the dependency name's package); it is
//! pulled from `host[:port]/[prefix/]ns/name:TAG` as the CNCF Wasm OCI artifact
//! that `skiff push` and `wkg oci push` write, the layout wasm-pkg-tools' OCI
//! backend reads. An exact `version` is that tag; a requirement (`^0.3`,
//! `>=1.2, <2`) takes the highest tag that satisfies it. A registry on a
//! loopback address is spoken to in plain HTTP, as Docker does.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use skiff_manifest::{App, Dependency, DependencyName, DependencySource};

use crate::cache::{Cache, sha256_reader};
use crate::pull::ArtifactKind;
use crate::{Registry, RegistryOptions, parse_reference};

/// Fetches every `url` and `version` dependency of `app`'s components into
/// `cache` (what is cached already is not fetched again) and points each at
/// its file ([`DependencySource::Path`]). Errors name the dependency's
/// manifest key.
pub fn fetch_dependencies(app: &mut App, cache: &Cache) -> Result<()> {
    let pending = app
        .components
        .values()
        .flat_map(|c| &c.dependencies)
        .any(|d| d.local_path().is_none());
    if !pending {
        return Ok(());
    }
    // The caller may be on a runtime's thread or none: fetch on a thread of
    // our own, with a runtime of its own.
    std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("could not start a runtime to fetch dependencies")?;
            rt.block_on(async {
                for component in app.components.values_mut() {
                    for dependency in &mut component.dependencies {
                        let fetched = fetch(dependency, cache).await.with_context(|| {
                            format!(
                                "could not fetch dependency `{}` (`{}`, line {}) of component \
                                 `{}`",
                                dependency.name, dependency.key, dependency.line, component.id
                            )
                        })?;
                        if let Some(path) = fetched {
                            dependency.source = DependencySource::Path(path);
                        }
                    }
                }
                Ok(())
            })
        })
        .join()
        .unwrap_or_else(|_| bail!("fetching dependencies panicked"))
    })
}

/// The file `dependency` was fetched into; `None` for one on disk already.
async fn fetch(dependency: &Dependency, cache: &Cache) -> Result<Option<PathBuf>> {
    match &dependency.source {
        DependencySource::Url { url, digest } => fetch_url(url, digest, cache).await.map(Some),
        DependencySource::Registry {
            version,
            registry,
            package,
        } => {
            let registry = registry
                .as_deref()
                .context("the dependency names no registry")?;
            let package = match (package, &dependency.name) {
                (Some(package), _) => package.clone(),
                (None, DependencyName::Package { package, .. }) => package.clone(),
                (None, DependencyName::Plain(_)) => bail!("the dependency names no package"),
            };
            fetch_package(registry, &package, version, cache)
                .await
                .map(Some)
        }
        DependencySource::Path(_) | DependencySource::Component { .. } => Ok(None),
    }
}

async fn fetch_url(url: &str, digest: &str, cache: &Cache) -> Result<PathBuf> {
    if cache.has_verified(digest) {
        return Ok(cache.blob_path(digest));
    }
    let response = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .with_context(|| format!("could not download `{url}`"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("`{url}` answered {status}");
    }
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("could not download `{url}`"))?;
    let actual = sha256_reader(&bytes[..]).context("could not hash the download")?;
    if actual != digest {
        bail!(
            "`{url}` holds `{actual}`, not the `digest` the manifest gives (`{digest}`); it was \
             not used"
        );
    }
    let tmp = tempfile::NamedTempFile::new_in(cache.tmp_dir()?)
        .context("could not write the download to the cache")?;
    std::fs::write(tmp.path(), &bytes).context("could not write the download to the cache")?;
    let (_, path) = tmp
        .keep()
        .context("could not write the download to the cache")?;
    Ok(cache.commit_blob(digest, &path)?)
}

async fn fetch_package(
    registry: &str,
    package: &str,
    version: &str,
    cache: &Cache,
) -> Result<PathBuf> {
    let (namespace, name) = package
        .split_once(':')
        .with_context(|| format!("`{package}` is not a package name (`namespace:name`)"))?;
    let repository = format!("{}/{namespace}/{name}", registry.trim_end_matches('/'));
    let options = RegistryOptions {
        insecure: is_loopback(registry),
        progress: false,
    };
    let tag = match semver::Version::parse(version) {
        Ok(_) => version.to_string(),
        Err(_) => {
            let requirement = semver::VersionReq::parse(version).with_context(|| {
                format!("`version = \"{version}\"` is neither a version nor a requirement")
            })?;
            let reference = parse_reference(&format!("{repository}:latest"))?;
            let client = Registry::new(&reference, &options)?;
            let mut tags = client.list_tags(&reference).await?;
            tags.sort_by_cached_key(|t| semver::Version::parse(t).ok());
            tags.iter()
                .filter_map(|t| semver::Version::parse(t).ok().map(|v| (v, t)))
                .filter(|(v, _)| requirement.matches(v))
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, t)| t.clone())
                .with_context(|| {
                    format!(
                        "`{repository}` has no version that satisfies `{version}` (its tags: {})",
                        if tags.is_empty() {
                            "none".to_string()
                        } else {
                            tags.join(", ")
                        }
                    )
                })?
        }
    };
    let reference = parse_reference(&format!("{repository}:{tag}"))?;
    let client = Registry::new(&reference, &options)?;
    let pulled = client.pull(&reference, cache).await?;
    match (pulled.kind, pulled.component) {
        (ArtifactKind::Component, Some(path)) => Ok(path),
        _ => bail!("`{repository}:{tag}` is a Skiff app, not a component"),
    }
}

/// Whether `registry`'s host is a loopback address (`127.0.0.1`, `[::1]`, `localhost`).
fn is_loopback(registry: &str) -> bool {
    let host = registry.split('/').next().unwrap_or(registry);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_recognised() {
        for r in [
            "127.0.0.1:5000",
            "localhost:5000/team",
            "[::1]:5000",
            "127.0.0.1",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["ghcr.io/acme", "10.0.0.1:5000", "registry.example.com"] {
            assert!(!is_loopback(r), "{r}");
        }
    }
}
