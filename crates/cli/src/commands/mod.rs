//! One module per subcommand.

pub mod build;
pub mod compile;
pub mod new;
pub mod pull;
pub mod push;
pub mod registry;
pub mod run;
pub mod up;

use std::path::PathBuf;

/// Parses a size flag (`64MiB`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    skiff_manifest::parse_size(s)
}

/// Parses a duration flag (`5s`, `250ms`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    skiff_manifest::parse_duration(s)
}

/// The AOT cache directory to use, honouring `--no-cache`.
pub fn cache_dir(no_cache: bool) -> Option<PathBuf> {
    if no_cache {
        None
    } else {
        skiff_engine::default_cache_dir()
    }
}

/// The AOT cache directory a wasmtime cache config file (`skiff up --cache FILE`, Spin's
/// `--cache`) chooses: `[cache] directory` (Skiff's default when absent; wasmtime accepts
/// only absolute paths, Skiff also takes a relative one from the current directory), or
/// none when `enabled = false` (a key of older wasmtime releases; wasmtime 48 has none).
/// Wasmtime's other keys tune its own cache (cleanup, size limits, compression), which
/// Skiff's AOT cache replaces: they are accepted and named in a warning.
pub fn cache_dir_from_config(file: &std::path::Path) -> anyhow::Result<Option<PathBuf>> {
    use anyhow::Context as _;
    let at = format!("--cache {}", file.display());
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{at}: cannot read the cache config"))?;
    let doc: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{at}: not a valid wasmtime cache config: {e}"))?;
    let Some(cache) = doc.get("cache") else {
        anyhow::bail!(
            "{at}: no `[cache]` table; a wasmtime cache config holds its keys under \
             `[cache]`, e.g. `directory = \"/var/cache/skiff\"`"
        );
    };
    let toml::Value::Table(cache) = cache else {
        anyhow::bail!("{at}: `cache` must be a table (`[cache]`)");
    };
    let mut ignored = Vec::new();
    let mut enabled = true;
    let mut directory = None;
    for (key, value) in cache {
        match (key.as_str(), value) {
            ("enabled", toml::Value::Boolean(on)) => enabled = *on,
            ("directory", toml::Value::String(dir)) => directory = Some(PathBuf::from(dir)),
            ("enabled", _) => anyhow::bail!("{at}: `cache.enabled` must be true or false"),
            ("directory", _) => anyhow::bail!("{at}: `cache.directory` must be a string"),
            _ => ignored.push(format!("`cache.{key}`")),
        }
    }
    ignored.extend(
        doc.keys()
            .filter(|k| *k != "cache")
            .map(|k| format!("`{k}`")),
    );
    if !ignored.is_empty() {
        tracing::warn!(
            "{at}: {} ignored: they tune wasmtime's own cache, which Skiff's AOT cache replaces",
            ignored.join(", ")
        );
    }
    if !enabled {
        return Ok(None);
    }
    Ok(directory.or_else(skiff_engine::default_cache_dir))
}

/// Loads the manifest at `path` and fetches the `url` and `version`
/// dependencies of its components into the cache (see
/// [`skiff_oci::fetch_dependencies`]), so every dependency is a file.
pub(crate) fn load_app(path: &std::path::Path) -> anyhow::Result<skiff_manifest::App> {
    let mut app = skiff_manifest::load(path)?;
    let cache_dir = skiff_engine::default_cache_dir()
        .unwrap_or_else(|| app.base_dir.join(".skiff").join("cache"));
    skiff_oci::fetch_dependencies(&mut app, &skiff_oci::Cache::new(cache_dir))?;
    Ok(app)
}

/// `--env KEY=VALUE` and `--env KEY` (the host's value) as pairs, for
/// `skiff run` and `skiff up`.
pub(crate) fn envs(args: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some(("", _)) => anyhow::bail!("--env {arg}: the variable needs a name before `=`"),
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => match std::env::var(arg) {
                Ok(value) => Ok((arg.clone(), value)),
                Err(_) => anyhow::bail!(
                    "--env {arg}: the host has no environment variable `{arg}` to pass through"
                ),
            },
        })
        .collect()
}
