//! `skiff run FILE.wasm [-- ARGS…]`: run a WASI command with explicit grants.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use skiff_host::{InstanceConfig, Preopen, Stdio};
use skiff_outbound_networking::AllowedHosts;
use skiff_runtime::CommandConfig;

/// Arguments of `skiff run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The command: a component exporting `wasi:cli/run`, or a WASI preview1 core module.
    pub file: PathBuf,
    /// Arguments passed to the guest (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
    /// Grant a host directory read-write: `HOST[::GUEST]` (GUEST defaults to HOST).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    pub dirs: Vec<String>,
    /// Grant a host directory read-only: `HOST[::GUEST]`.
    #[arg(long = "dir-ro", value_name = "HOST[::GUEST]")]
    pub dirs_ro: Vec<String>,
    /// Set a guest environment variable (`KEY=VALUE`), or pass one host variable through (`KEY`).
    #[arg(long = "env", value_name = "KEY[=VALUE]")]
    pub envs: Vec<String>,
    /// Allow outbound connections matching a pattern (as `allowed_outbound_hosts`), e.g. `https://api.example.com`.
    #[arg(long = "allow-outbound", value_name = "PATTERN")]
    pub allow_outbound: Vec<String>,
    /// Linear-memory limit, e.g. `64MiB`.
    #[arg(long, value_parser = super::parse_size)]
    pub memory: Option<u64>,
    /// Wall-clock limit, e.g. `5s`.
    #[arg(long, value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
    /// Fuel budget (instructions, roughly); the guest traps when it runs out.
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Compile without reading or writing the AOT cache.
    #[arg(long)]
    pub no_cache: bool,
}

/// Runs the command and returns the guest's exit code.
pub fn run(args: RunArgs) -> Result<ExitCode> {
    let exit = skiff_runtime::run_command(CommandConfig {
        instance: instance_config(&args)?,
        file: args.file,
        timeout: args.timeout,
        cache_dir: super::cache_dir(args.no_cache),
    })?;
    if let Some(stopped) = &exit.stopped {
        crate::print_error(stopped);
        eprintln!("(limits are set with --timeout, --memory and --fuel)");
    }
    Ok(ExitCode::from(exit.code))
}

fn instance_config(args: &RunArgs) -> Result<InstanceConfig> {
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "guest".into());
    let mut config = InstanceConfig::new(&name);
    config.stdio = Stdio::Inherit;
    config.args = std::iter::once(name)
        .chain(args.args.iter().cloned())
        .collect();
    config.env.extend(super::envs(&args.envs)?);
    for (spec, read_only) in args
        .dirs
        .iter()
        .map(|d| (d, false))
        .chain(args.dirs_ro.iter().map(|d| (d, true)))
    {
        let (host, guest) = match spec.split_once("::") {
            Some((host, guest)) => (host, guest),
            None => (spec.as_str(), spec.as_str()),
        };
        let flag = if read_only { "--dir-ro" } else { "--dir" };
        let meta = std::fs::metadata(host)
            .with_context(|| format!("{flag} {spec}: cannot open host directory `{host}`"))?;
        if !meta.is_dir() {
            bail!("{flag} {spec}: `{host}` is not a directory");
        }
        config.preopens.push(Preopen {
            host: PathBuf::from(host),
            guest: guest.to_string(),
            read_only,
        });
    }
    config.allowed_outbound = Arc::new(
        AllowedHosts::parse(&args.allow_outbound, &|_| None)
            .context("invalid --allow-outbound pattern")?,
    );
    config.memory_limit = args.memory;
    config.fuel = args.fuel;
    Ok(config)
}
