//! The `skiff` command: run WASI commands and serve WebAssembly component apps.
//!
//! Glue only: argument parsing, logging set-up and terminal output; the work lives in
//! the library crates (`skiff-runtime` serves apps and runs commands for `up` and `run`).

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc malloc: each request allocates and frees about a
/// hundred small objects (store, WASI context, resource table, hyper buffers),
/// and under callgrind glibc's `malloc`/`free` were ~12% of a request's
/// instructions (see BENCHMARKS.md and [`skiff_runtime::Allocator`]).
#[global_allocator]
static GLOBAL: skiff_runtime::Allocator = skiff_runtime::Allocator;

/// Skiff: a host for server-side WebAssembly components.
#[derive(Parser)]
#[command(name = "skiff", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a WASI command (a component exporting `wasi:cli/run`, or a preview1 module).
    Run(commands::run::RunArgs),
    /// Serve an app from a skiff.toml (or spin.toml).
    Up(Box<commands::up::UpArgs>),
    /// Run each component's build command.
    Build(commands::build::BuildArgs),
    /// Create a new app (or command) from a template.
    New(commands::new::NewArgs),
    /// Add a component from a template to an app.
    Add(commands::new::AddArgs),
    /// Precompile a component into the AOT cache.
    Compile(commands::compile::CompileArgs),
    /// Push a component or an app to an OCI registry.
    Push(commands::push::PushArgs),
    /// Pull a component or an app from an OCI registry into the local cache.
    Pull(commands::pull::PullArgs),
    /// Log in to (or out of) an OCI registry.
    Registry(commands::registry::RegistryArgs),
}

fn main() -> ExitCode {
    skiff_engine::disable_transparent_huge_pages();
    quiet_library_backtraces();
    let telemetry = match init_logging() {
        Ok(telemetry) => telemetry,
        Err(err) => {
            print_error(&err);
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Up(args) => commands::up::up(*args),
        Command::Build(args) => commands::build::build(args).map(|()| ExitCode::SUCCESS),
        Command::New(args) => commands::new::new(args).map(|()| ExitCode::SUCCESS),
        Command::Add(args) => commands::new::add(args).map(|()| ExitCode::SUCCESS),
        Command::Compile(args) => commands::compile::compile(args).map(|()| ExitCode::SUCCESS),
        Command::Push(args) => commands::push::push(args).map(|()| ExitCode::SUCCESS),
        Command::Pull(args) => commands::pull::pull(args).map(|()| ExitCode::SUCCESS),
        Command::Registry(args) => commands::registry::registry(args).map(|()| ExitCode::SUCCESS),
    };
    // Spans still queued go out before the process ends.
    if let Some(telemetry) = telemetry
        && !telemetry.shutdown(std::time::Duration::from_secs(5))
    {
        tracing::warn!("OpenTelemetry: not every span was exported before exit");
    }
    match result {
        Ok(code) => code,
        Err(err) => {
            print_error(&err);
            ExitCode::FAILURE
        }
    }
}

/// Routine errors on the request path (a guest closing a stream, a denied
/// grant) must not pay for a host stack capture: unless the user asked for
/// library backtraces explicitly, turn them off. Panics still honour
/// `RUST_BACKTRACE`.
fn quiet_library_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

/// Prints an error and its whole cause chain.
pub(crate) fn print_error(err: &anyhow::Error) {
    eprintln!("Error: {err}");
    let causes: Vec<_> = err.chain().skip(1).collect();
    if !causes.is_empty() {
        eprintln!("\nCaused by:");
        for (i, cause) in causes.iter().enumerate() {
            let text = cause.to_string();
            let mut lines = text.lines();
            if let Some(first) = lines.next() {
                eprintln!("  {i}: {first}");
            }
            for line in lines {
                eprintln!("     {line}");
            }
        }
    }
}

/// Logs to stderr (`SKIFF_LOG`/`RUST_LOG` filter), and OpenTelemetry traces
/// when the standard `OTEL_*` variables ask for them (an export endpoint set).
fn init_logging() -> anyhow::Result<Option<skiff_telemetry::Telemetry>> {
    skiff_telemetry::init_logging(
        "warn,skiff=info,skiff_runtime=info,skiff_engine=info,skiff_trigger_http=info,\
         skiff_trigger_redis=info,skiff_trigger_messaging=info,skiff_trigger_cron=info,\
         skiff_trigger_mqtt=info,guest=info",
    )
    .map_err(anyhow::Error::msg)
}
