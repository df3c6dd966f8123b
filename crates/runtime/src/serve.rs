//! Serving an app: capability backends, load, HTTP until shutdown.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use skiff_blob::BlobManager;
use skiff_engine::{CacheOutcome, EngineOptions, SkiffEngine};
use skiff_kv::KeyValueManager;
use skiff_manifest::App;
use skiff_messaging::MessagingManager;
use skiff_outbound_networking::{SharedBlockedNetworks, SharedHttpLimits};
use skiff_runtime_config::RuntimeConfig;
use skiff_sqlite::SqliteManager;
use skiff_trigger_cron::CronTrigger;
use skiff_trigger_http::{HttpApp, LiveApp, LoadOptions, ServeOptions};
use skiff_trigger_messaging::MessagingTrigger;
use skiff_trigger_mqtt::MqttTrigger;
use skiff_trigger_redis::RedisTrigger;
use skiff_variables::Resolver;

/// How to serve an app.
pub struct ServeConfig {
    /// The app, as loaded by `skiff_manifest::load`.
    pub app: App,
    /// Address to listen on (port 0 picks a free port; the banner shows it).
    pub listen: SocketAddr,
    /// Where the app keeps its state (default: `.skiff/` next to the manifest).
    pub state_dir: Option<PathBuf>,
    /// Runtime config file choosing each capability label's backend; watched and
    /// applied live (also on SIGHUP).
    pub runtime_config: Option<PathBuf>,
    /// SQL run against the `default` SQLite database before serving: a statement,
    /// or `@FILE` for a file of statements.
    pub sqlite_statements: Vec<String>,
    /// `KEY`/`VALUE` pairs set in the `default` key-value store before serving.
    pub key_values: Vec<(String, String)>,
    /// How long in-flight requests may run once shutdown starts.
    pub shutdown_grace: Duration,
    /// How long a connection may stay open with no request in progress
    /// (silent, trickling a head, or idle between requests) before it is closed.
    pub idle_timeout: Duration,
    /// The AOT cache directory (`None`: compile without a cache).
    pub cache_dir: Option<PathBuf>,
    /// Size of the instance pool (instances alive at once across all components;
    /// during a staged start's first milliseconds, before the pool exists,
    /// instances are allocated on demand and only `max_concurrency` caps them).
    pub max_instances: u32,
    /// Print the `Serving http://…` banner and route table on stdout.
    pub banner: bool,
    /// Where to serve `GET /metrics` (Prometheus text format), if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Serve HTTPS with this certificate and key (`None`: plain HTTP); the
    /// files are watched (and reread on SIGHUP), so a renewed certificate
    /// takes effect without a restart.
    pub tls: Option<crate::TlsFiles>,
    /// Serve the first requests before the instance pool is reserved (see
    /// [`ServeConfig::staged`]); `SKIFF_STAGED_START=0` turns it off.
    pub staged_start: bool,
    /// Reload the app when its files change (`skiff up --watch`).
    pub watch: Option<crate::watch::WatchOptions>,
    /// Where the guests' stdout and stderr go (`--follow`, `--quiet`,
    /// `--log-dir`); by default, every component's to the host's stderr.
    pub guest_output: Arc<skiff_host::GuestOutput>,
    /// How `files` mounts are made (`--direct-mounts`,
    /// `--allow-transient-write`); read-only by default.
    pub mounts: skiff_trigger_http::Mounts,
    /// Reserve an instance pool (the default); `false` (`--disable-pooling`)
    /// allocates each instance on demand, for hosts that limit virtual
    /// memory, at some cost per request.
    pub pooling: bool,
}

impl ServeConfig {
    /// The default size of the instance pool.
    pub const DEFAULT_MAX_INSTANCES: u32 = 1000;

    /// Defaults for `app` on `listen`: state next to the manifest, no runtime
    /// config, the default AOT cache, a 10 s grace period, a 30 s idle
    /// timeout, 1000 instances, a banner.
    pub fn new(app: App, listen: SocketAddr) -> Self {
        Self {
            app,
            listen,
            state_dir: None,
            runtime_config: None,
            sqlite_statements: Vec::new(),
            key_values: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
            idle_timeout: skiff_trigger_http::IDLE_TIMEOUT,
            cache_dir: skiff_engine::default_cache_dir(),
            max_instances: Self::DEFAULT_MAX_INSTANCES,
            banner: true,
            metrics: None,
            tls: None,
            staged_start: std::env::var_os("SKIFF_STAGED_START").is_none_or(|v| v != "0"),
            watch: None,
            guest_output: Arc::default(),
            mounts: Default::default(),
            pooling: true,
        }
    }

    /// The instance pool's size; `None` without one (`--disable-pooling`).
    pub fn pool(&self) -> Option<u32> {
        self.pooling.then_some(self.max_instances)
    }

    /// Whether this start is staged. Reserving the instance pool costs ~4 ms
    /// (a guard page per fiber stack, one `mprotect` each, for the default
    /// 1000 instances), close to half of a warm start. A staged start serves
    /// on an engine that allocates each instance on demand while a second
    /// thread reserves the pool, then moves the app onto the pooled engine
    /// ([`HttpApp::rebind`]); requests running by then finish where they
    /// started (`SKIFF_STAGED_POOL_DELAY_MS` holds the pool back, for tests).
    /// Staged: with an AOT cache (the pooled engine loads what the
    /// first one cached, compiling nothing twice), a pool large enough for its
    /// reservation to matter ([`STAGED_MIN_INSTANCES`]), at most
    /// [`STAGED_MAX_COMPONENTS`] components (an app of many spends its start
    /// loading them, and would load them twice), and no Redis, messaging,
    /// cron or MQTT triggers (which share the engine and run on it from the start).
    pub fn staged(&self) -> bool {
        self.staged_start
            && self.pooling
            && self.watch.is_none()
            && self.cache_dir.is_some()
            && self.max_instances >= STAGED_MIN_INSTANCES
            && self.app.components.len() <= STAGED_MAX_COMPONENTS
            && self.app.redis_triggers.is_empty()
            && self.app.messaging_triggers.is_empty()
            && self.app.cron_triggers.is_empty()
            && self.app.mqtt_triggers.is_empty()
            && !self.app.http_triggers.is_empty()
    }
}

/// The smallest instance pool whose reservation a start is staged around.
pub const STAGED_MIN_INSTANCES: u32 = 128;

/// The most components an app may have for its start to be staged.
pub const STAGED_MAX_COMPONENTS: usize = 16;

/// The engines a start uses: the one it serves on first and, for a staged
/// start, the pooled one it moves to.
struct EnginePlan {
    first: EngineOptions,
    then: Option<EngineOptions>,
}

impl EnginePlan {
    fn new(config: &ServeConfig) -> Self {
        let pooled = engine_options(&config.app, config.pool(), config.cache_dir.as_deref());
        if config.staged() {
            EnginePlan {
                first: EngineOptions {
                    pooling: false,
                    ..pooled.clone()
                },
                then: Some(pooled),
            }
        } else {
            EnginePlan {
                first: pooled,
                then: None,
            }
        }
    }
}

/// A future that resolves when the server should stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Builds a multi-threaded runtime and [`serve`]s on it. `shutdown` is called
/// inside the runtime before anything slow happens, so signal handlers it
/// installs cover the load too.
pub fn serve_blocking(
    config: ServeConfig,
    shutdown: impl FnOnce() -> Result<Shutdown> + Send,
) -> Result<()> {
    // The engine starts building first, so what it costs (the instance pool's
    // reservation, unless the start is staged) overlaps the runtime's start.
    let plan = EnginePlan::new(&config);
    let engine = PendingEngine::spawn(plan.first);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let result =
        runtime.block_on(async move { serve_with(config, engine, plan.then, shutdown()?).await });
    // Don't wait for a loader thread still compiling after an early stop.
    runtime.shutdown_background();
    result
}

/// Resolves on the first SIGINT or SIGTERM; the handlers are installed when this is called.
pub fn shutdown_signal() -> Result<Shutdown> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(Box::pin(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }))
}

/// Opens the app's backends, loads every component, then serves until `shutdown`
/// resolves and in-flight requests have drained (or the grace period ran out).
pub async fn serve(config: ServeConfig, shutdown: Shutdown) -> Result<()> {
    let plan = EnginePlan::new(&config);
    let engine = PendingEngine::spawn(plan.first);
    serve_with(config, engine, plan.then, shutdown).await
}

/// The app's engine, being built on a thread of its own. Reserving the instance
/// pool costs milliseconds (a guard page per fiber stack, one `mprotect` each:
/// ~3.5 ms of a ~10 ms start for the default 1000 instances), which need not
/// hold up what needs no engine: the async runtime, the runtime config, the
/// capability backends and the listening sockets.
struct PendingEngine(tokio::sync::oneshot::Receiver<Result<SkiffEngine>>);

impl PendingEngine {
    fn spawn(options: EngineOptions) -> Self {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Should the thread not start, the sender is dropped with it and
        // `wait` reports that.
        let _ = std::thread::Builder::new()
            .name("skiff-engine".into())
            .spawn(move || {
                let _ = tx.send(SkiffEngine::new(options));
            });
        PendingEngine(rx)
    }

    async fn wait(self) -> Result<SkiffEngine> {
        self.0
            .await
            .context("the thread building the wasmtime engine failed to start or panicked")?
    }
}

/// [`serve`] with its engine already being built; `pooled`: the engine a
/// staged start moves to.
async fn serve_with(
    config: ServeConfig,
    engine: PendingEngine,
    pooled: Option<EngineOptions>,
    mut shutdown: Shutdown,
) -> Result<()> {
    skiff_outbound_networking::install_tls_provider();
    let first_options = match &pooled {
        Some(_) => None,
        None => Some(engine_options(
            &config.app,
            config.pool(),
            config.cache_dir.as_deref(),
        )),
    };
    let ServeConfig {
        app,
        listen,
        state_dir,
        runtime_config: runtime_config_path,
        sqlite_statements,
        key_values,
        shutdown_grace,
        idle_timeout,
        cache_dir,
        max_instances,
        banner,
        metrics,
        tls,
        staged_start: _,
        watch,
        guest_output,
        mounts,
        pooling,
    } = config;
    skiff_telemetry::set_service(&app.name, app.version.as_deref());
    // The certificate is checked before anything slow: a bad file is reported
    // at once, naming it.
    let tls = match tls {
        Some(files) => {
            let seen = crate::reload::Seen::now(files.paths());
            Some((skiff_trigger_http::ServerTls::load(files)?, seen))
        }
        None => None,
    };
    let runtime_config_seen = runtime_config_path
        .as_ref()
        .map(|path| crate::reload::Seen::now(vec![path.clone()]));
    let runtime_config = match &runtime_config_path {
        Some(path) => RuntimeConfig::load(path)?,
        None => RuntimeConfig::default(),
    };
    // With `--watch`, the app's files are stamped before it is read, so a
    // change made while it loads is still seen as a change.
    let watched = watch.map(|watch| {
        let files = crate::watch::Watched::of(&app);
        (watch, files)
    });
    let variables = Arc::new(variables_resolver(&app, &runtime_config)?);
    let state_dir = state_dir.unwrap_or_else(|| app.base_dir.join(".skiff"));
    // Listen before loading: a port in use is reported at once, not after a
    // compile, and clients connecting during the load wait in the backlog
    // rather than being refused. An app of only Redis, messaging, cron or
    // MQTT triggers serves no HTTP.
    let http_less = app.http_triggers.is_empty() && !Background::is_empty_for(&app);
    let listener = match http_less {
        true => None,
        false => Some(
            tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("could not listen on {listen}"))?,
        ),
    };
    let metrics_listener = match metrics {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("could not listen for metrics on {at}"))?,
        ),
        None => None,
    };
    let context = || match &runtime_config.path {
        Some(path) => format!("runtime config `{}`", path.display()),
        None => "could not open the default backends".to_string(),
    };
    let kv = Arc::new(
        KeyValueManager::builder(app.name.clone())
            .state_dir(&state_dir)
            .base_dir(runtime_config.base_dir())
            .build_with(&runtime_config.key_value)
            .await
            .with_context(context)?,
    );
    let sqlite = Arc::new(
        SqliteManager::builder()
            .state_dir(&state_dir)
            .base_dir(runtime_config.base_dir())
            .build_with(&runtime_config.sqlite)
            .await
            .with_context(context)?,
    );
    let messaging = Arc::new(MessagingManager::new(runtime_config.messaging.clone()));
    let blob = Arc::new(
        BlobManager::builder()
            .namespace(app.name.clone())
            .state_dir(&state_dir)
            .base_dir(runtime_config.base_dir())
            .build_with(&runtime_config.blob)
            .await
            .with_context(context)?,
    );
    run_sqlite_statements(&sqlite, &sqlite_statements).await?;
    set_key_values(&kv, &key_values).await?;
    let outbound_http = Arc::new(SharedHttpLimits::new(runtime_config.outbound_http.clone()));
    outbound_http.set_tls(runtime_config.client_tls.clone());
    let blocked_networks = Arc::new(SharedBlockedNetworks::new(
        runtime_config.blocked_networks.clone(),
    ));
    for id in runtime_config.client_tls.components() {
        if !app.components.contains_key(id) {
            tracing::warn!(
                "runtime config `{}`: `[[client_tls]]` names component `{id}`, which app `{}` does not have",
                runtime_config
                    .path
                    .as_deref()
                    .unwrap_or(Path::new(""))
                    .display(),
                app.name
            );
        }
    }
    let variables_slot = Arc::new(crate::reload::VariablesSlot::new(variables.clone()));
    if let Some(seen) = runtime_config_seen {
        tokio::spawn(crate::reload::watch(
            seen,
            crate::reload::Live {
                kv: kv.clone(),
                sqlite: sqlite.clone(),
                variables: variables_slot.clone(),
                outbound_http: outbound_http.clone(),
                blocked_networks: blocked_networks.clone(),
                messaging: messaging.clone(),
                blob: blob.clone(),
            },
        ));
    }
    let engine = Arc::new(engine.wait().await?);
    let what = format!("app `{}` from `{}`", app.name, app.manifest_path.display());
    let options = LoadOptions {
        state_dir,
        kv,
        variables,
        sqlite,
        messaging,
        blob,
        outbound_http,
        blocked_networks,
        connections: Default::default(),
        guest_output,
        mounts,
    };
    let load = {
        let (engine, options) = (engine.clone(), options.clone());
        tokio::task::spawn_blocking(move || Loaded::load(engine, app, &options))
    };
    let loaded = tokio::select! {
        loaded = load => loaded
            .context("the loader thread failed")?
            .with_context(|| format!("could not load {what}"))?,
        () = &mut shutdown => {
            tracing::info!("stopped before the app finished loading");
            return Ok(());
        }
    };
    report_loads(&loaded.http);
    if let Some(options) = pooled {
        move_to_pool(&loaded.http, options);
    }
    if banner {
        loaded.background.print_banners();
    }
    let Loaded {
        app: _,
        http,
        background,
    } = loaded;
    // Redis, messaging, cron and MQTT triggers run beside the HTTP server and
    // stop on the same signal (or when `--watch` replaces them).
    let background = Arc::new(std::sync::Mutex::new(background.start()));
    let live = listener.as_ref().map(|_| LiveApp::new(http));
    if let Some((watch, files)) = watched {
        let reloader = crate::watch::Reloader {
            connections: std::sync::Mutex::new(options.connections.clone()),
            options,
            variables: variables_slot,
            engine: std::sync::Mutex::new(first_options.map(|o| (o, engine))),
            pool: pooling.then_some(max_instances),
            cache_dir,
            live: live.clone(),
            background: background.clone(),
            banner,
        };
        tokio::spawn(crate::watch::run(watch, files, reloader));
    }
    // OTLP metrics (when `OTEL_*` asks for them) read the app serving now
    // and the event triggers; the last figures go out as the server stops.
    let _otlp_metrics = {
        let live = live.clone();
        skiff_telemetry::metrics::register(Arc::new(move |out| {
            if let Some(live) = &live {
                live.current().collect_metrics(out);
            }
            skiff_trigger_http::metrics::collect_events(out);
        }))
    };
    // Prometheus metrics, on a listener of their own.
    let metrics = match metrics_listener {
        Some(listener) => {
            let at = listener.local_addr()?;
            let live = live.clone();
            let render = Arc::new(move || {
                let mut text = live
                    .as_ref()
                    .map(|live| live.current().render_metrics())
                    .unwrap_or_default();
                text.push_str(&skiff_trigger_http::metrics::render_events());
                text
            });
            let task = tokio::spawn(skiff_trigger_http::serve_metrics(render, listener));
            Some((at, task))
        }
        None => None,
    };
    let metrics_at = metrics.as_ref().map(|(at, _)| *at);
    let (Some(listener), Some(live)) = (listener, live) else {
        // An app of event triggers alone has metrics too.
        match metrics_at {
            Some(at) if banner => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "Metrics http://{at}/metrics");
                let _ = out.flush();
            }
            Some(at) => tracing::info!("metrics at http://{at}/metrics"),
            None => {}
        }
        shutdown.await;
        if let Some((_, task)) = metrics {
            task.abort();
        }
        stop_background(&background).await;
        return Ok(());
    };
    let addr = listener.local_addr()?;
    let tls = tls.map(|(tls, seen)| {
        tokio::spawn(crate::reload::watch_tls(seen, tls.clone()));
        tls
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    if banner {
        print_banner(scheme, addr, &live.current(), metrics_at);
    } else {
        tracing::info!("serving {scheme}://{addr}");
        if let Some(at) = metrics_at {
            tracing::info!("metrics at http://{at}/metrics");
        }
    }
    let background_done = background.clone();
    let served = skiff_trigger_http::serve(
        live,
        listener,
        async move {
            shutdown.await;
            // The triggers beside the server stop taking work when it does.
            background_done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .stop();
        },
        ServeOptions {
            grace: shutdown_grace,
            idle_timeout,
            tls,
        },
    )
    .await;
    if let Some((_, task)) = metrics {
        task.abort();
    }
    stop_background(&background).await;
    served
}

/// One version of the app, loaded: its HTTP components and the triggers
/// that run beside them.
pub(crate) struct Loaded {
    /// The app it was loaded from.
    pub app: App,
    /// The HTTP trigger.
    pub http: Arc<HttpApp>,
    /// The other triggers, not yet started.
    pub background: Background,
}

impl Loaded {
    /// Compiles, links and pre-instantiates every component of `app` on
    /// `engine` (blocking: run it off the async runtime).
    pub fn load(engine: Arc<SkiffEngine>, app: App, options: &LoadOptions) -> Result<Self> {
        Self::load_after(engine, app, options, None)
    }

    /// [`load`](Self::load) for the version replacing `previous`
    /// (`--watch`): HTTP metrics carry on from it ([`HttpApp::load_after`]).
    pub fn load_after(
        engine: Arc<SkiffEngine>,
        app: App,
        options: &LoadOptions,
        previous: Option<&HttpApp>,
    ) -> Result<Self> {
        let background = Background::load(&engine, &app, options)?;
        let http = HttpApp::load_after(engine, &app, options, previous)?;
        Ok(Loaded {
            app,
            http,
            background,
        })
    }
}

/// The triggers that run beside the HTTP server: Redis, messaging, cron and MQTT.
pub(crate) struct Background {
    redis: RedisTrigger,
    messaging: MessagingTrigger,
    cron: CronTrigger,
    mqtt: MqttTrigger,
}

impl Background {
    /// Whether `app` has none of these triggers.
    fn is_empty_for(app: &App) -> bool {
        app.redis_triggers.is_empty()
            && app.messaging_triggers.is_empty()
            && app.cron_triggers.is_empty()
            && app.mqtt_triggers.is_empty()
    }

    fn load(engine: &Arc<SkiffEngine>, app: &App, options: &LoadOptions) -> Result<Self> {
        Ok(Background {
            redis: RedisTrigger::load(engine.clone(), app, options)?,
            messaging: MessagingTrigger::load(engine.clone(), app, options)?,
            cron: CronTrigger::load(engine.clone(), app, options)?,
            mqtt: MqttTrigger::load(engine.clone(), app, options)?,
        })
    }

    /// Prints what each trigger listens to or runs on (on stdout).
    pub fn print_banners(&self) {
        print_redis_banner(&self.redis);
        print_messaging_banner(&self.messaging);
        print_cron_banner(&self.cron);
        print_mqtt_banner(&self.mqtt);
    }

    /// Starts every trigger on the current tokio runtime.
    pub fn start(self) -> Running {
        self.start_after(Running::default())
    }

    /// Starts the triggers of a new version of the app in place of
    /// `previous`'s: the subscriptions and schedules both versions have
    /// are handed over as they are (no message lost or repeated, no time
    /// skipped or run twice); the rest of `previous` stops (its runs in
    /// progress finish).
    pub fn start_after(self, previous: Running) -> Running {
        Running {
            redis: previous.redis.hand_over(self.redis),
            messaging: previous.messaging.hand_over(self.messaging),
            cron: previous.cron.hand_over(self.cron),
            mqtt: previous.mqtt.hand_over(self.mqtt),
        }
    }
}

/// Started [`Background`] triggers.
#[derive(Default)]
pub(crate) struct Running {
    redis: skiff_trigger_redis::Running,
    messaging: skiff_trigger_messaging::Running,
    cron: skiff_trigger_cron::Running,
    mqtt: skiff_trigger_mqtt::Running,
}

impl Running {
    /// Tells every trigger to stop taking work (their runs in progress finish).
    pub fn stop(&self) {
        self.redis.stop();
        self.messaging.stop();
        self.cron.stop();
        self.mqtt.stop();
    }

    /// Stops the triggers and waits until they have finished.
    pub async fn finish(self) {
        self.stop();
        self.redis.finish().await;
        self.messaging.finish().await;
        self.cron.finish().await;
        self.mqtt.finish().await;
    }
}

/// Stops the triggers running now and waits for them.
async fn stop_background(background: &std::sync::Mutex<Running>) {
    let running = std::mem::take(&mut *background.lock().unwrap_or_else(|e| e.into_inner()));
    running.finish().await;
}

/// The engine `skiff up` builds to serve `app`: an instance pool of `pool`
/// instances (`None`: each instance allocated on demand, `--disable-pooling`),
/// slots sized for its largest component memory limit, and concurrency
/// support only when a component needs it ([`needs_concurrency`]).
/// `skiff compile APP` compiles for the same engine, so what it caches is what
/// `skiff up` looks for.
pub fn engine_options(app: &App, pool: Option<u32>, cache_dir: Option<&Path>) -> EngineOptions {
    let max_memory = app
        .components
        .values()
        .map(|c| c.limits.memory)
        .max()
        .unwrap_or(128 << 20);
    EngineOptions {
        pooling: pool.is_some(),
        max_instances: pool.unwrap_or(ServeConfig::DEFAULT_MAX_INSTANCES),
        max_memory_size: max_memory,
        fuel: false,
        concurrency: needs_concurrency(app, cache_dir),
        cache_dir: cache_dir.map(Path::to_path_buf),
    }
}

/// Whether any of the app's components uses an interface of `async func`s
/// (WASI 0.3, Spin 3's async packages): only then does the engine pay for
/// concurrency support on every host call. A file that cannot be read counts
/// as needing it; loading it reports the error. With a `cache_dir`, files
/// unchanged since its [`skiff_engine::SourceIndex`] recorded them are not read.
pub fn needs_concurrency(app: &App, cache_dir: Option<&Path>) -> bool {
    // Each file once: an app may route many components to one source.
    let sources: std::collections::BTreeSet<_> =
        app.components.values().map(|c| &c.source).collect();
    let index = cache_dir.map(skiff_engine::SourceIndex::in_cache_dir);
    sources
        .into_iter()
        .any(|source| skiff_engine::sources::source_needs_concurrency(index.as_ref(), source))
}

/// The app's variables: runtime-config providers, then the environment, then defaults.
/// Fails naming every required variable that has no value.
fn variables_resolver(app: &App, config: &RuntimeConfig) -> Result<Resolver> {
    let providers = variables_providers(config)?;
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

/// The `[[variables_provider]]`s of `config`, in order (the environment last unless placed).
pub(crate) fn variables_providers(
    config: &RuntimeConfig,
) -> Result<Vec<Box<dyn skiff_variables::Provider>>> {
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
    skiff_variables::providers_from_runtime_config(&table).with_context(|| match &config.path {
        Some(path) => format!("runtime config `{}`", path.display()),
        None => "variables providers".to_string(),
    })
}

/// `--sqlite`: statements (or `@file`s) run against the `default` database.
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

/// `--key-value KEY=VALUE`: each pair set in the `default` store, in order.
async fn set_key_values(kv: &KeyValueManager, pairs: &[(String, String)]) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let store = kv
        .open("default")
        .await
        .context("--key-value: could not open key-value store `default`")?;
    for (key, value) in pairs {
        store
            .set(key, value.as_bytes())
            .await
            .with_context(|| format!("--key-value {key}=…: could not set it in store `default`"))?;
        tracing::info!("set key `{key}` in key-value store `default`");
    }
    Ok(())
}

/// The second half of a staged start ([`ServeConfig::staged`]): reserves the
/// instance pool on a thread of its own and moves the app onto it.
fn move_to_pool(http: &Arc<HttpApp>, options: EngineOptions) {
    let app = Arc::downgrade(http);
    // The move makes the new engine's first spares in tasks on the app's runtime.
    let runtime = tokio::runtime::Handle::try_current().ok();
    let delay = std::env::var("SKIFF_STAGED_POOL_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    let spawned = std::thread::Builder::new()
        .name("skiff-pool".into())
        .spawn(move || {
            std::thread::sleep(delay);
            let started = std::time::Instant::now();
            let engine = match SkiffEngine::new(options) {
                Ok(engine) if engine.is_pooling() => engine,
                Ok(_) => return, // no pool to be had; already logged
                Err(err) => {
                    tracing::warn!(
                        "could not build the pooled engine; instances stay allocated on demand: {err:#}"
                    );
                    return;
                }
            };
            let Some(app) = app.upgrade() else { return };
            let _runtime = runtime.as_ref().map(tokio::runtime::Handle::enter);
            match app.rebind(Arc::new(engine)) {
                Ok(()) => tracing::debug!(
                    "instance pool ready after {:?}; new requests use it",
                    started.elapsed()
                ),
                Err(err) => tracing::warn!(
                    "could not move the app onto the instance pool; instances stay allocated on demand: {err:#}"
                ),
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(
            "could not start reserving the instance pool ({err}); instances stay allocated on demand"
        );
    }
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

/// What a reloaded version of the app serves (`skiff up --watch`).
pub(crate) fn print_reload_banner(app: &App, http: &HttpApp, background: &Background) {
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "Reloaded app `{}` from `{}`",
            app.name,
            app.manifest_path.display()
        );
        if !app.http_triggers.is_empty() {
            print_routes(&mut out, http);
        }
        let _ = out.flush();
    }
    background.print_banners();
}

fn print_routes(out: &mut impl Write, app: &HttpApp) {
    let routes = app.routes();
    let width = routes.iter().map(|(r, _)| r.len()).max().unwrap_or(0);
    let _ = writeln!(out, "Routes:");
    for (route, component) in routes {
        let _ = writeln!(out, "  {route:<width$}  -> {component}");
    }
}

fn print_banner(scheme: &str, addr: SocketAddr, app: &HttpApp, metrics: Option<SocketAddr>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Serving {scheme}://{addr}");
    if let Some(at) = metrics {
        let _ = writeln!(out, "Metrics http://{at}/metrics");
    }
    print_routes(&mut out, app);
    let _ = out.flush();
}

fn print_messaging_banner(messaging: &MessagingTrigger) {
    let subscriptions = messaging.subscriptions();
    if subscriptions.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Messaging triggers:");
    for s in subscriptions {
        let group = s
            .queue_group
            .map(|g| format!(" (queue group `{g}`)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} `{}`{group}  -> {}",
            s.broker, s.subject, s.component
        );
    }
    let _ = out.flush();
}

fn print_cron_banner(cron: &CronTrigger) {
    let schedules = cron.schedules();
    if schedules.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Cron triggers:");
    let width = schedules
        .iter()
        .map(|s| s.expression.len())
        .max()
        .unwrap_or(0);
    for s in schedules {
        let next = match s.next {
            Some(at) => skiff_manifest::cron::format_utc(at),
            None => "never (its last year has passed)".to_string(),
        };
        let expression = format!("`{}`", s.expression);
        let _ = writeln!(
            out,
            "  {expression:<w$}  -> {}  (next: {next})",
            s.component,
            w = width + 2
        );
    }
    let _ = out.flush();
}

fn print_mqtt_banner(mqtt: &MqttTrigger) {
    let subscriptions = mqtt.subscriptions();
    if subscriptions.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "MQTT triggers:");
    for s in subscriptions {
        let _ = writeln!(
            out,
            "  {} `{}` (QoS {})  -> {}",
            s.broker, s.topic, s.qos, s.component
        );
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
        let _ = writeln!(out, "  {} `{}`  -> {}", s.server, s.channel, s.component);
    }
    let _ = out.flush();
}
