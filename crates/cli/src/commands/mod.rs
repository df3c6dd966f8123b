//! One module per subcommand.

pub mod build;
pub mod compile;
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
