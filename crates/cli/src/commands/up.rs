//! `skiff up [PATH]`: serve an app.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use skiff_runtime::ServeConfig;

/// Arguments of `skiff up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// A skiff.toml / spin.toml, or a directory holding one; a Wasm
    /// component file, served alone at `/...` with no grants; or a registry
    /// reference (`host/repository:tag`, `…@sha256:…`) to serve from a registry.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Serve an app or component straight from a registry reference (state
    /// in `./.skiff`), or from a local path as PATH does.
    #[arg(long, value_name = "REF")]
    pub from: Option<String>,
    /// Talk plain HTTP to the registry (one on loopback or a private network).
    #[arg(long)]
    pub insecure: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "SKIFF_LISTEN")]
    pub listen: SocketAddr,
    /// Run each component's build command first.
    #[arg(long)]
    pub build: bool,
    /// Reload the app while serving when its manifest, a component's
    /// `source` or a `files` mount changes, without dropping a request or
    /// connection; a component whose `[component.ID.build] watch` files
    /// change is rebuilt first. A version that fails to load is reported
    /// and the one serving stays.
    #[arg(long)]
    pub watch: bool,
    /// Where the app keeps its state (default: `.skiff/` next to the manifest).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Runtime config choosing the backend of each capability label (Spin's
    /// `runtime-config.toml` shape). Watched: edits, and SIGHUP, apply it live.
    #[arg(long, visible_alias = "runtime-config-file", value_name = "FILE")]
    pub runtime_config: Option<PathBuf>,
    /// SQL run against the `default` SQLite database before serving: a statement,
    /// or `@FILE` for a file of statements (repeatable, run in order).
    #[arg(long = "sqlite", value_name = "STATEMENT|@FILE")]
    pub sqlite_statements: Vec<String>,
    /// Set an environment variable for every component (`KEY=VALUE`, over the
    /// manifest's `environment`), or pass one host variable through (`KEY`);
    /// repeatable.
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub envs: Vec<String>,
    /// Set `KEY` to `VALUE` in the `default` key-value store before serving
    /// (an existing value is replaced); repeatable.
    #[arg(long = "key-value", value_name = "KEY=VALUE")]
    pub key_values: Vec<String>,
    /// How long in-flight requests may run after SIGINT/SIGTERM.
    #[arg(long, default_value = "10s", value_parser = super::parse_duration)]
    pub shutdown_grace: Duration,
    /// How long a connection may stay open with no request in progress
    /// (silent after opening, trickling a request head, or idle between
    /// requests) before it is closed; a slow request is never cut by it.
    #[arg(long, default_value = "30s", value_parser = super::parse_duration)]
    pub idle_timeout: Duration,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this PEM certificate
    /// chain, the server's certificate first. Watched: a renewed certificate
    /// (or SIGHUP) applies to new connections without a restart.
    #[arg(
        long,
        value_name = "FILE",
        env = "SKIFF_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert` (PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(
        long,
        value_name = "FILE",
        env = "SKIFF_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: every client presents a certificate chaining to one of
    /// the CA certificates in this PEM file, and guests learn which in the
    /// `x-forwarded-client-cert` header. Watched like `--tls-cert`.
    #[arg(
        long,
        value_name = "FILE",
        env = "SKIFF_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
    /// With `--tls-client-ca`: `required` (the default) refuses clients
    /// without a certificate; `optional` serves them too, still refusing a
    /// certificate the CAs did not issue.
    #[arg(
        long,
        value_name = "MODE",
        env = "SKIFF_TLS_CLIENT_AUTH",
        requires = "tls_client_ca"
    )]
    pub tls_client_auth: Option<ClientAuth>,
    /// Compile without reading or writing the AOT cache.
    #[arg(long, visible_alias = "disable-cache")]
    pub no_cache: bool,
    /// A wasmtime cache config file, as Spin's `--cache` takes: its `[cache] directory` is
    /// the AOT cache directory (over `SKIFF_CACHE_DIR`), `enabled = false` (older wasmtime's
    /// key) is `--no-cache`; wasmtime's other keys (cleanup, size limits) are ignored, with a
    /// warning.
    #[arg(long, value_name = "FILE", conflicts_with = "no_cache")]
    pub cache: Option<PathBuf>,
    /// Size of the instance pool (instances alive at once across all components).
    #[arg(long, default_value_t = skiff_runtime::ServeConfig::DEFAULT_MAX_INSTANCES)]
    pub max_instances: u32,
    /// Allocate each instance on demand instead of reserving an instance
    /// pool (its address space), for hosts that limit virtual memory; each
    /// request then costs more. (Without it, a pool that cannot be reserved
    /// already falls back to this, with a warning.)
    #[arg(long, conflicts_with = "max_instances")]
    pub disable_pooling: bool,
    /// Serve per-component metrics (instantiation and response-head time
    /// histograms, responses by status class; the event triggers' events by
    /// outcome and their durations) in the Prometheus text format at
    /// `http://ADDR/metrics`, on a listener of its own.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Show only this component's stdout and stderr on the console
    /// (repeatable; every component's by default).
    #[arg(long = "follow", value_name = "ID")]
    pub follow: Vec<String>,
    /// Show no component's stdout and stderr on the console.
    #[arg(short = 'q', long, conflicts_with = "follow")]
    pub quiet: bool,
    /// Also write each component's stdout and stderr to `ID_stdout.txt` and
    /// `ID_stderr.txt` in this directory (created if missing), appending to
    /// what is there, a line at a time; all components, whatever is
    /// followed. An empty value writes none.
    #[arg(short = 'L', long, value_name = "DIR", env = "SKIFF_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// With `--log-dir`: empty each log file at start instead of appending.
    #[arg(long, requires = "log_dir")]
    pub truncate_logs: bool,
    /// Let components write to their `files` mounts: to copies made at
    /// start (in the state directory, gone at the next start), or, with
    /// `--direct-mounts`, to the mounted host directories themselves.
    #[arg(long)]
    pub allow_transient_write: bool,
    /// Mount `files` directories in place, even with
    /// `--allow-transient-write` (single-file mounts are still copied).
    #[arg(long)]
    pub direct_mounts: bool,
}

/// Loads, then serves until SIGINT/SIGTERM.
pub fn up(mut args: UpArgs) -> Result<ExitCode> {
    super::pull::resolve_up_source(&mut args)?;
    if args.build {
        super::build::build_app(&args.path)?;
    }
    let envs = super::envs(&args.envs)?;
    let load = {
        let path = args.path.clone();
        move || -> Result<skiff_manifest::App> {
            let mut app = super::load_app(&path)?;
            for (key, value) in &envs {
                for component in app.components.values_mut() {
                    component.environment.insert(key.clone(), value.clone());
                }
            }
            Ok(app)
        }
    };
    let app = load()?;
    let guest_output = guest_output(&args, &app)?;
    let key_values = args
        .key_values
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => anyhow::bail!("--key-value {pair}: expected KEY=VALUE, with a non-empty KEY"),
        })
        .collect::<Result<_>>()?;
    let config = ServeConfig {
        state_dir: args.state_dir,
        runtime_config: args.runtime_config,
        sqlite_statements: args.sqlite_statements,
        key_values,
        shutdown_grace: args.shutdown_grace,
        idle_timeout: args.idle_timeout,
        cache_dir: match &args.cache {
            Some(file) => super::cache_dir_from_config(file)?,
            None => super::cache_dir(args.no_cache),
        },
        max_instances: args.max_instances,
        metrics: args.metrics,
        tls: args.tls_cert.zip(args.tls_key).map(|(cert, key)| {
            let mut files = skiff_runtime::TlsFiles::new(cert, key);
            files.client_ca = args.tls_client_ca;
            files.client_auth = match args.tls_client_auth.unwrap_or_default() {
                ClientAuth::Required => skiff_runtime::ClientAuth::Required,
                ClientAuth::Optional => skiff_runtime::ClientAuth::Optional,
            };
            files
        }),
        watch: args.watch.then(|| skiff_runtime::WatchOptions::new(load)),
        guest_output: std::sync::Arc::new(guest_output),
        pooling: !args.disable_pooling,
        mounts: skiff_runtime::Mounts {
            direct: args.direct_mounts,
            allow_transient_write: args.allow_transient_write,
        },
        ..ServeConfig::new(app, args.listen)
    };
    // Listen for SIGINT/SIGTERM before the (possibly slow) load, so a stop
    // request during compilation is still a clean exit.
    skiff_runtime::serve_blocking(config, skiff_runtime::shutdown_signal)?;
    Ok(ExitCode::SUCCESS)
}

/// Where the guests' output goes, from `--follow`, `--quiet`, `--log-dir`
/// and `--truncate-logs`. A followed id the app lacks is an error naming the
/// ones it has.
fn guest_output(args: &UpArgs, app: &skiff_manifest::App) -> Result<skiff_host::GuestOutput> {
    use skiff_host::Follow;
    for id in &args.follow {
        if !app.components.contains_key(id.as_str()) {
            let ids: Vec<_> = app.components.keys().map(|id| format!("`{id}`")).collect();
            anyhow::bail!(
                "--follow {id}: app `{}` has no component `{id}` (its components: {})",
                app.name,
                ids.join(", ")
            );
        }
    }
    let follow = match (args.quiet, args.follow.is_empty()) {
        (true, _) => Follow::None,
        (false, true) => Follow::All,
        (false, false) => Follow::Only(args.follow.iter().cloned().collect()),
    };
    let dir = args
        .log_dir
        .clone()
        .filter(|dir| !dir.as_os_str().is_empty());
    skiff_host::GuestOutput::new(follow, dir, args.truncate_logs)
}

/// `--tls-client-auth`: whether a client without a certificate is served.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum ClientAuth {
    /// Every client presents a certificate from the CAs.
    #[default]
    Required,
    /// A client without a certificate is served too.
    Optional,
}
