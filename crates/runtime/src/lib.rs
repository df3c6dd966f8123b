//! Loads and runs Skiff apps and WASI commands.
//!
//! This is the part of `skiff up` and `skiff run` that every front end shares — the
//! `skiff` CLI and the containerd shim call the same functions, so an app behaves
//! the same under both:
//!
//! - [`serve`]: open the app's capability backends (key-value, SQLite, variables)
//!   from its runtime config, load and pre-instantiate every component, then serve
//!   HTTP until a shutdown future resolves, draining in-flight requests.
//! - [`run_command`]: run a WASI command (a `wasi:cli/run` component or a preview1
//!   module) to completion and report its exit code.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! let app = skiff_manifest::load("examples/hello".as_ref())?;
//! let config = skiff_runtime::ServeConfig::new(app, "127.0.0.1:3000".parse()?);
//! skiff_runtime::serve_blocking(config, skiff_runtime::shutdown_signal)?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod alloc;
mod build;
mod command;
mod reload;
mod serve;
mod watch;

pub use alloc::Allocator;
pub use build::build_component;
pub use command::{CommandConfig, CommandExit, TRAP_EXIT, run_command};
pub use serve::{
    STAGED_MAX_COMPONENTS, STAGED_MIN_INSTANCES, ServeConfig, engine_options, needs_concurrency,
    serve, serve_blocking, shutdown_signal,
};
pub use skiff_trigger_http::{ClientAuth, Mounts, TlsFiles, load_component};
pub use watch::WatchOptions;
