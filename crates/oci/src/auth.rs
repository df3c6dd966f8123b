//! Registry credentials in Docker's `config.json`: read for every registry
//! operation, written by `skiff registry login`, removed by `logout`.
//!
//! The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`;
//! entries are `auths.<host>.auth = base64("user:password")`, so `docker login`,
//! `wkg`, `oras` and Skiff share credentials. Reading also honours
//! `credsStore` / `credHelpers` (through the `docker_credential` crate).
//! Credentials are never logged or put in an error.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use oci_client::secrets::RegistryAuth;

/// The key Docker uses for Docker Hub in `auths`.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Where Docker's config file is: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("cannot find Docker's config.json: neither DOCKER_CONFIG nor HOME is set")?;
    Ok(PathBuf::from(home).join(".docker").join("config.json"))
}

/// The `auths` key for a registry host.
fn auth_key(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY,
        other => other,
    }
}

/// The credentials stored for `registry` (a host, with port if any), or
/// anonymous access when there are none.
pub fn credentials_for(registry: &str) -> RegistryAuth {
    match docker_credential::get_credential(auth_key(registry)) {
        Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
            RegistryAuth::Basic(user, password)
        }
        Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
            RegistryAuth::Bearer(token)
        }
        Err(err) => {
            tracing::debug!("no stored credentials for registry `{registry}`: {err}");
            RegistryAuth::Anonymous
        }
    }
}

/// Stores `user`/`password` for `registry` in Docker's config file, keeping
/// everything else in it. The caller has checked them against the registry.
pub fn store_credentials(registry: &str, user: &str, password: &str) -> Result<PathBuf> {
    let path = docker_config_path()?;
    let mut config = read_config(&path)?;
    let auths = config
        .entry("auths")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    let Some(auths) = auths.as_object_mut() else {
        bail!("`auths` in `{}` is not an object", path.display());
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    auths.insert(
        auth_key(registry).to_string(),
        serde_json::json!({ "auth": encoded }),
    );
    write_config(&path, &config)?;
    Ok(path)
}

/// Removes the stored credentials for `registry`; returns whether there were any.
pub fn remove_credentials(registry: &str) -> Result<bool> {
    let path = docker_config_path()?;
    if !path.exists() {
        return Ok(false);
    }
    let mut config = read_config(&path)?;
    let key = auth_key(registry);
    let removed = config
        .get_mut("auths")
        .and_then(|a| a.as_object_mut())
        .map(|auths| {
            let keys: Vec<String> = auths
                .keys()
                .filter(|k| k.as_str() == key || normalize(k) == normalize(key))
                .cloned()
                .collect();
            for k in &keys {
                auths.remove(k);
            }
            !keys.is_empty()
        })
        .unwrap_or(false);
    if removed {
        write_config(&path, &config)?;
    }
    Ok(removed)
}

/// `https://host/v1/` → `host`.
fn normalize(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn read_config(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(e).with_context(|| format!("could not read `{}`", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(Default::default());
    }
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => bail!("`{}` is not a JSON object", path.display()),
        Err(e) => Err(e).with_context(|| format!("`{}` is not valid JSON", path.display())),
    }
}

/// Writes the config through a temporary file (mode 0600) renamed into place.
fn write_config(path: &Path, config: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("`{}` has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create directory `{}`", dir.display()))?;
    let mut text = serde_json::to_string_pretty(config)?;
    text.push('\n');
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("could not write to `{}`", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .with_context(|| format!("could not write `{}`", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("could not write `{}`", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_keys() {
        assert_eq!(normalize("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(normalize("localhost:5000"), "localhost:5000");
        assert_eq!(normalize("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(auth_key("docker.io"), DOCKER_HUB_KEY);
    }
}
