//! `skiff run FILE.wasm [-- ARGS…]`: run a WASI command with explicit grants.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use skiff_engine::{DeadlineExceeded, EngineOptions, SkiffEngine, WasmKind};
use skiff_host::{InstanceConfig, Preopen, Stdio};
use skiff_outbound_networking::AllowedHosts;
use wasmtime_wasi::I32Exit;

/// Exit code for a guest that trapped (as `wasmtime run`: 128 + SIGABRT).
const TRAP_EXIT: u8 = 134;

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
    let config = instance_config(&args)?;
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("could not read `{}`", args.file.display()))?;
    let kind = skiff_engine::detect_kind(&bytes)
        .with_context(|| format!("`{}` is not a WebAssembly file", args.file.display()))?;
    let engine = SkiffEngine::new(EngineOptions {
        pooling: false,
        fuel: args.fuel.is_some(),
        cache_dir: super::cache_dir(args.no_cache),
        ..EngineOptions::default()
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let file = args.file.display().to_string();
    let outcome = runtime.block_on(async {
        match kind {
            WasmKind::Component => run_component(&engine, &bytes, &config, args.timeout).await,
            WasmKind::Module => run_module(&engine, &bytes, &config, args.timeout).await,
        }
    });
    // Don't wait for blocking stdin readers the guest may have left behind.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => Ok(code),
        Err(err) => {
            if let Some(exit) = err.downcast_ref::<I32Exit>() {
                return Ok(ExitCode::from(exit.0.clamp(0, 255) as u8));
            }
            let why = if let Some(DeadlineExceeded(limit)) = err.downcast_ref::<DeadlineExceeded>()
            {
                Some(format!(
                    "it exceeded its time limit of {limit:?} (--timeout)"
                ))
            } else if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
                Some(match trap {
                    wasmtime::Trap::OutOfFuel => "its --fuel budget ran out".to_string(),
                    trap => format!("it trapped: {trap}"),
                })
            } else if format!("{err:#}").contains("forcing trap when growing memory") {
                Some("it reached its memory limit (--memory)".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                crate::print_error(&err.context(format!("`{file}` stopped: {why}")));
                return Ok(ExitCode::from(TRAP_EXIT));
            }
            Err(err.context(format!("failed to run `{file}`")))
        }
    }
}

async fn run_component(
    engine: &SkiffEngine,
    bytes: &[u8],
    config: &InstanceConfig,
    timeout: Option<Duration>,
) -> Result<ExitCode> {
    let loaded = engine.load_component_bytes(bytes)?;
    let linker = skiff_host::component_linker(engine.engine())?;
    let pre = linker
        .instantiate_pre(&loaded.component)
        .map_err(anyhow::Error::from)
        .context("the component imports an interface Skiff does not provide")?;
    let pre = wasmtime_wasi::p2::bindings::CommandPre::new(pre)
        .map_err(anyhow::Error::from)
        .context("the component does not export `wasi:cli/run@0.2.x`; it is not a WASI command (an HTTP component is served with `skiff up`)")?;
    let mut store = config.new_store(engine.engine(), timeout)?;
    let command = pre
        .instantiate_async(&mut store)
        .await
        .map_err(wasm_error)?;
    match command
        .wasi_cli_run()
        .call_run(&mut store)
        .await
        .map_err(wasm_error)?
    {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(()) => Ok(ExitCode::FAILURE),
    }
}

async fn run_module(
    engine: &SkiffEngine,
    bytes: &[u8],
    config: &InstanceConfig,
    timeout: Option<Duration>,
) -> Result<ExitCode> {
    let module = engine.load_module_bytes(bytes)?;
    let linker = skiff_host::p1_linker(engine.engine())?;
    let mut store = config.new_p1_store(engine.engine(), timeout)?;
    let instance = linker
        .instantiate_async(&mut store, &module)
        .await
        .map_err(wasm_error)?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(anyhow::Error::from)
        .context("the module has no `_start` export; it is not a WASI command")?;
    start.call_async(&mut store, ()).await.map_err(wasm_error)?;
    Ok(ExitCode::SUCCESS)
}

/// Converts a wasmtime error, keeping `I32Exit`, traps and deadlines downcastable.
fn wasm_error(err: wasmtime::Error) -> anyhow::Error {
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return anyhow::Error::new(I32Exit(exit.0));
    }
    if let Some(deadline) = err.downcast_ref::<DeadlineExceeded>() {
        return anyhow::Error::new(*deadline);
    }
    anyhow::Error::from(err)
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
    for env in &args.envs {
        match env.split_once('=') {
            Some((key, value)) => config.env.push((key.to_string(), value.to_string())),
            None => match std::env::var(env) {
                Ok(value) => config.env.push((env.clone(), value)),
                Err(_) => bail!(
                    "--env {env}: the host has no environment variable `{env}` to pass through"
                ),
            },
        }
    }
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
