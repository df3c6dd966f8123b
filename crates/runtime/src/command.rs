//! Running a WASI command to completion.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use skiff_engine::{DeadlineExceeded, EngineOptions, SkiffEngine, WasmKind};
use skiff_host::InstanceConfig;
use wasmtime_wasi::I32Exit;

/// Exit code for a guest that trapped (as `wasmtime run`: 128 + SIGABRT).
pub const TRAP_EXIT: u8 = 134;

/// How to run a command.
pub struct CommandConfig {
    /// A component exporting `wasi:cli/run`, or a WASI preview1 core module.
    pub file: PathBuf,
    /// Grants, stdio, args and limits of the instance.
    pub instance: InstanceConfig,
    /// Wall-clock limit.
    pub timeout: Option<Duration>,
    /// The AOT cache directory (`None`: compile without a cache).
    pub cache_dir: Option<PathBuf>,
}

/// How a command ended.
#[derive(Debug)]
pub struct CommandExit {
    /// The process exit code: the guest's own, 1 for `wasi:cli/run` returning
    /// an error, or [`TRAP_EXIT`] when it was stopped.
    pub code: u8,
    /// Why the guest was stopped (trap, deadline, fuel, memory limit), for the
    /// caller to print; `None` when the guest exited on its own.
    pub stopped: Option<anyhow::Error>,
}

impl CommandExit {
    fn code(code: u8) -> Self {
        Self {
            code,
            stopped: None,
        }
    }
}

/// Runs the command on a fresh runtime and returns how it ended. An `Err` is a
/// host-side failure (unreadable file, missing export or import).
pub fn run_command(config: CommandConfig) -> Result<CommandExit> {
    skiff_outbound_networking::install_tls_provider();
    let CommandConfig {
        file,
        instance,
        timeout,
        cache_dir,
    } = config;
    let instance = Arc::new(instance);
    let bytes =
        std::fs::read(&file).with_context(|| format!("could not read `{}`", file.display()))?;
    let kind = skiff_engine::detect_kind(&bytes)
        .with_context(|| format!("`{}` is not a WebAssembly file", file.display()))?;
    let engine = SkiffEngine::new(EngineOptions {
        pooling: false,
        fuel: instance.fuel.is_some(),
        cache_dir,
        ..EngineOptions::default()
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let name = file.display().to_string();
    let outcome = runtime.block_on(async {
        match kind {
            WasmKind::Component => run_component(&engine, &bytes, &instance, timeout).await,
            WasmKind::Module => run_module(&engine, &bytes, &instance, timeout).await,
        }
    });
    // Don't wait for blocking stdin readers the guest may have left behind.
    runtime.shutdown_background();
    let err = match outcome {
        Ok(code) => return Ok(CommandExit::code(code)),
        Err(err) => err,
    };
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return Ok(CommandExit::code(exit.0.clamp(0, 255) as u8));
    }
    let why = if let Some(DeadlineExceeded(limit)) = err.downcast_ref::<DeadlineExceeded>() {
        Some(format!("it exceeded its time limit of {limit:?}"))
    } else if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
        Some(match trap {
            wasmtime::Trap::OutOfFuel => "its fuel budget ran out".to_string(),
            trap => format!("it trapped: {trap}"),
        })
    } else if format!("{err:#}").contains("forcing trap when growing memory") {
        Some("it reached its memory limit".to_string())
    } else {
        None
    };
    match why {
        Some(why) => Ok(CommandExit {
            code: TRAP_EXIT,
            stopped: Some(err.context(format!("`{name}` stopped: {why}"))),
        }),
        None => Err(err.context(format!("failed to run `{name}`"))),
    }
}

async fn run_component(
    engine: &SkiffEngine,
    bytes: &[u8],
    config: &Arc<InstanceConfig>,
    timeout: Option<Duration>,
) -> Result<u8> {
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
        Ok(()) => Ok(0),
        Err(()) => Ok(1),
    }
}

async fn run_module(
    engine: &SkiffEngine,
    bytes: &[u8],
    config: &InstanceConfig,
    timeout: Option<Duration>,
) -> Result<u8> {
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
    Ok(0)
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
