//! `skiff up [PATH]`: serve an app.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use skiff_engine::{CacheOutcome, EngineOptions, SkiffEngine};
use skiff_kv::KeyValueManager;
use skiff_runtime_config::RuntimeConfig;
use skiff_sqlite::SqliteManager;
use skiff_trigger_http::{HttpApp, LoadOptions, ServeOptions};
use skiff_trigger_redis::RedisTrigger;
use skiff_variables::Resolver;

/// Arguments of `skiff up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// A skiff.toml / spin.toml, or a directory holding one.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "SKIFF_LISTEN")]
    pub listen: SocketAddr,
    /// Run each component's build command first.
    #[arg(long)]
    pub build: bool,
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
    /// How long in-flight requests may run after SIGINT/SIGTERM.
    #[arg(long, default_value = "10s", value_parser = super::parse_duration)]
    pub shutdown_grace: Duration,
    /// Compile without reading or writing the AOT cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Size of the instance pool (instances alive at once across all components).
    #[arg(long, default_value_t = 1000)]
    pub max_instances: u32,
}

/// Loads, then serves until SIGINT/SIGTERM.
pub fn up(args: UpArgs) -> Result<ExitCode> {
    if args.build {
        super::build::build_app(&args.path)?;
    }
    let app = skiff_manifest::load(&args.path)?;
    let runtime_config = match &args.runtime_config {
        Some(path) => RuntimeConfig::load(path)?,
        None => RuntimeConfig::default(),
    };
    let variables = Arc::new(variables_resolver(&app, &runtime_config)?);
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| app.base_dir.join(".skiff"));
    let max_memory = app
        .components
        .values()
        .map(|c| c.limits.memory)
        .max()
        .unwrap_or(128 << 20);
    let engine = Arc::new(SkiffEngine::new(EngineOptions {
        pooling: true,
        max_instances: args.max_instances,
        max_memory_size: max_memory,
        fuel: false,
        cache_dir: super::cache_dir(args.no_cache),
    })?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let result = runtime.block_on(async move {
        // Listen for SIGINT/SIGTERM before the (possibly slow) load, so a stop
        // request during compilation is still a clean exit.
        let mut shutdown = Box::pin(shutdown_signal()?);
        let kv = Arc::new(
            KeyValueManager::builder(app.name.clone())
                .state_dir(&state_dir)
                .base_dir(runtime_config.base_dir())
                .build_with(&runtime_config.key_value)
                .await
                .with_context(|| match &runtime_config.path {
                    Some(path) => format!("runtime config `{}`", path.display()),
                    None => "could not open the default key-value stores".to_string(),
                })?,
        );
        let sqlite = Arc::new(
            SqliteManager::builder()
                .state_dir(&state_dir)
                .base_dir(runtime_config.base_dir())
                .build_with(&runtime_config.sqlite)
                .await
                .with_context(|| match &runtime_config.path {
                    Some(path) => format!("runtime config `{}`", path.display()),
                    None => "could not open the default SQLite databases".to_string(),
                })?,
        );
        run_sqlite_statements(&sqlite, &args.sqlite_statements).await?;
        if let Some(path) = args.runtime_config.clone() {
            tokio::spawn(super::reload::watch(path, kv.clone(), sqlite.clone()));
        }
        let what = format!("app `{}` from `{}`", app.name, app.manifest_path.display());
        let load = tokio::task::spawn_blocking(move || {
            let options = LoadOptions {
                state_dir,
                kv,
                variables,
                sqlite,
            };
            let redis = RedisTrigger::load(engine.clone(), &app, &options)?;
            HttpApp::load(engine, &app, &options).map(|http| (http, redis))
        });
        let (http, redis) = tokio::select! {
            loaded = load => loaded
                .context("the loader thread failed")?
                .with_context(|| format!("could not load {what}"))?,
            () = &mut shutdown => {
                tracing::info!("stopped before the app finished loading");
                return Ok(());
            }
        };
        report_loads(&http);
        // Redis triggers run beside the HTTP server and stop on the same signal;
        // an app with only Redis triggers serves no HTTP.
        print_redis_banner(&redis);
        let http_less = http.routes().is_empty() && !redis.is_empty();
        let (redis_task, shutdown) = redis.spawn_with(shutdown);
        if http_less {
            shutdown.await;
            return redis_task.await.context("the redis trigger task failed");
        }
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("could not listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        print_banner(addr, &http);
        let served = skiff_trigger_http::serve(
            Arc::new(http),
            listener,
            shutdown,
            ServeOptions {
                grace: args.shutdown_grace,
            },
        )
        .await;
        let _ = redis_task.await;
        served
    });
    // Don't wait for a loader thread still compiling after an early stop.
    runtime.shutdown_background();
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The app's variables: runtime-config providers, then the environment, then defaults.
/// Fails naming every required variable that has no value.
fn variables_resolver(app: &skiff_manifest::App, config: &RuntimeConfig) -> Result<Resolver> {
    let mut table = toml::Table::new();
    table.insert(
        "variables_provider".into(),
        toml::Value::Array(
            config
                .variables_providers
                .iter()
                .cloned()
                .map(toml::Value::Table)
                .collect(),
        ),
    );
    let providers = skiff_variables::providers_from_runtime_config(&table).with_context(|| {
        match &config.path {
            Some(path) => format!("runtime config `{}`", path.display()),
            None => "variables providers".to_string(),
        }
    })?;
    let resolver = Resolver::new(
        &app.variables,
        app.components
            .iter()
            .map(|(id, c)| (id.clone(), c.variables.clone())),
        providers,
    )
    .with_context(|| format!("invalid variables in `{}`", app.manifest_path.display()))?;
    resolver
        .check_required()
        .with_context(|| format!("cannot serve app `{}`", app.name))?;
    Ok(resolver)
}

/// `skiff up --sqlite`: statements (or `@file`s) run against the `default` database.
async fn run_sqlite_statements(sqlite: &SqliteManager, statements: &[String]) -> Result<()> {
    for statement in statements {
        let (sql, what) = match statement.strip_prefix('@') {
            Some(file) => (
                std::fs::read_to_string(file)
                    .with_context(|| format!("--sqlite @{file}: could not read the file"))?,
                format!("`{file}`"),
            ),
            None => (statement.clone(), format!("`{statement}`")),
        };
        sqlite
            .execute_batch("default", &sql)
            .await
            .with_context(|| format!("--sqlite {what} failed on database `default`"))?;
        tracing::info!("ran --sqlite {what} on database `default`");
    }
    Ok(())
}

fn report_loads(http: &HttpApp) {
    for report in http.reports() {
        let how = match report.cache {
            CacheOutcome::Hit => "from AOT cache",
            CacheOutcome::Miss => "compiled",
            CacheOutcome::Corrupt => "recompiled (cache entry was corrupt)",
            CacheOutcome::Disabled => "compiled (cache disabled)",
        };
        tracing::info!(
            "component `{}` loaded {how} in {:?}",
            report.id,
            report.elapsed
        );
    }
}

fn print_banner(addr: SocketAddr, app: &HttpApp) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Serving http://{addr}");
    let routes = app.routes();
    let width = routes.iter().map(|(r, _)| r.len()).max().unwrap_or(0);
    let _ = writeln!(out, "Routes:");
    for (route, component) in routes {
        let _ = writeln!(out, "  {route:<width$}  -> {component}");
    }
    let _ = out.flush();
}

fn print_redis_banner(redis: &RedisTrigger) {
    let subscriptions = redis.subscriptions();
    if subscriptions.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Redis triggers:");
    for s in subscriptions {
        let _ = writeln!(
            out,
            "  redis://{} `{}`  -> {}",
            s.server, s.channel, s.component
        );
    }
    let _ = out.flush();
}

/// Resolves on the first SIGINT or SIGTERM; the handlers are installed when this is called.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}
