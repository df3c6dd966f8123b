//! The per-instance host state of a Skiff guest and the linkers that expose it.
//!
//! Every guest instance gets a fresh [`HostState`] built from its component's
//! [`InstanceConfig`] — the grants the operator gave it, resolved once at load:
//! environment, arguments, preopened directories (read-write or read-only),
//! outbound network patterns, and where stdout/stderr go. Nothing is granted by
//! default: an empty `InstanceConfig` has no environment, no files and no network.
//!
//! Interfaces linked here:
//! - all of `wasi:cli`, `wasi:clocks`, `wasi:random`, `wasi:io`, `wasi:filesystem`,
//!   `wasi:sockets` (p2, via `wasmtime-wasi`), with TCP and name lookup only when
//!   `allowed_outbound_hosts` grants something;
//! - `wasi:http/types` and `wasi:http/outgoing-handler` (via `wasmtime-wasi-http`),
//!   with every outgoing request checked by [`outbound::OutboundHttp`];
//! - key-value: `wasi:keyvalue/{store,atomics,batch}` (`0.2.0-draft`, `0.2.0-draft2`),
//!   `fermyon:spin/key-value@2.0.0`, `spin:key-value/key-value@3.0.0` (via `skiff-kv`), with
//!   the component's `key_value_stores` as its grant;
//! - variables: `wasi:config/store` (`0.2.0-rc.1`, `0.2.0-draft`, `0.2.0-draft-2024-09-27`),
//!   `fermyon:spin/variables@2.0.0`, `spin:variables/variables@3.0.0` (via `skiff-variables`);
//! - SQL: `fermyon:spin/sqlite@2.0.0`, `spin:sqlite/sqlite@3.1.0` (grant: `sqlite_databases`),
//!   `fermyon:spin/postgres@2.0.0`, `spin:postgres/postgres@3.0.0`/`@4.2.0` (grant:
//!   `postgres://` entries in `allowed_outbound_hosts`), `fermyon:spin/mysql@2.0.0` (grant:
//!   `mysql://` entries in `allowed_outbound_hosts`);
//! - outbound Redis: `fermyon:spin/redis@2.0.0`, `spin:redis/redis@3.0.0` (via `skiff-redis`;
//!   grant: `redis://` entries in `allowed_outbound_hosts`);
//! - outbound MQTT: `fermyon:spin/mqtt@2.0.0`, `spin:mqtt/mqtt@3.0.0` (via `skiff-mqtt`;
//!   grant: `mqtt://` entries in `allowed_outbound_hosts`);
//! - messaging: `wasi:messaging/{types,producer,request-reply}@0.2.0-draft`,
//!   `wasmcloud:messaging/consumer@0.2.0` (via `skiff-messaging`; grant: `message_brokers`);
//! - blob storage: `wasi:blobstore/{types,container,blobstore}@0.2.0-draft` (via `skiff-blob`;
//!   grant: the one label of `blob_stores`);
//! - guest logs: `wasi:logging/logging@0.1.0-draft` (no grant: every component may log, as
//!   it may write to stdout), each message a log event of target `guest`;
//! - WASI preview1 (`wasi_snapshot_preview1`) for core-module commands.
//!
//! ```no_run
//! use std::sync::Arc;
//! use skiff_host::{InstanceConfig, component_linker};
//! # fn main() -> anyhow::Result<()> {
//! let engine = skiff_engine::SkiffEngine::new(Default::default())?;
//! let linker = component_linker(engine.engine())?;
//! // Built once per component; every store of it shares the grants.
//! let config = Arc::new(InstanceConfig::new("hello"));
//! let store = config.new_store(engine.engine(), None)?;
//! # let _ = (linker, store); Ok(()) }
//! ```
#![deny(missing_docs)]

mod denied;
mod logging;
pub mod outbound;
mod pool;
mod send;
pub mod stdio;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use skiff_blob::{BlobHostView, BlobManager, BlobState, BlobView};
use skiff_kv::{KeyValueManager, KvHostView, KvState, KvView};
use skiff_messaging::{MessagingHostView, MessagingManager, MessagingState, MessagingView};
use skiff_mqtt::{MqttHostView, MqttState, MqttView};
use skiff_mysql::{MysqlHostView, MysqlPools, MysqlState, MysqlView};
use skiff_outbound_networking::{AllowedHosts, SharedHttpLimits};
use skiff_postgres::{PgHostView, PgState, PgView};
use skiff_redis::{RedisHostView, RedisState, RedisView};
use skiff_sqlite::{SqliteHostView, SqliteManager, SqliteState, SqliteView};
use skiff_variables::{Resolver, VariablesState, VariablesView};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub use denied::{DeniedWarnings, linker_for};
pub use outbound::OutboundHttp;
pub use pool::ConnectionStats;
pub use stdio::{Channel, Follow, GuestOutput, LogStream};

/// A host directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// Directory on the host.
    pub host: PathBuf,
    /// Path the guest opens it by.
    pub guest: String,
    /// Refuse every write through this preopen.
    pub read_only: bool,
}

/// Where the guest's stdio goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// The host process's own stdin/stdout/stderr (`skiff run`).
    Inherit,
    /// No stdin; stdout/stderr lines to the host log, prefixed with the component id (`skiff up`).
    Log,
}

/// Everything needed to build the host state of one guest instance; built once per component.
#[derive(Clone)]
pub struct InstanceConfig {
    /// The component id, used in logs and errors.
    pub component_id: Arc<str>,
    /// Environment variables the guest sees.
    pub env: Vec<(String, String)>,
    /// Arguments, `argv[0]` first.
    pub args: Vec<String>,
    /// Preopened directories.
    pub preopens: Vec<Preopen>,
    /// Where stdio goes.
    pub stdio: Stdio,
    /// Outbound network grant.
    pub allowed_outbound: Arc<AllowedHosts>,
    /// Largest linear memory of the instance, bytes.
    pub memory_limit: Option<u64>,
    /// Fuel budget (only meaningful on an engine with fuel enabled).
    pub fuel: Option<u64>,
    /// Log streams for [`Stdio::Log`], prefixed with the component id (built once).
    log_streams: Arc<(LogStream, LogStream)>,
    /// The app's key-value stores.
    pub kv: Arc<KeyValueManager>,
    /// Store labels this component may open (`key_value_stores`).
    pub kv_granted: Arc<[String]>,
    /// The app's variables (providers, declarations and component templates).
    pub variables: Arc<Resolver>,
    /// The app's SQLite databases.
    pub sqlite: Arc<SqliteManager>,
    /// Database labels this component may open (`sqlite_databases`).
    pub sqlite_granted: Arc<[String]>,
    /// The app's message brokers.
    pub messaging: Arc<MessagingManager>,
    /// Broker labels this component may use (`message_brokers`).
    pub messaging_granted: Arc<[String]>,
    /// The app's blob stores.
    pub blob: Arc<BlobManager>,
    /// The one blob-store label this component may use (`blob_stores`).
    pub blob_granted: Option<Arc<str>>,
    /// The app's own HTTP components, for `http://ID.spin.internal` and
    /// `http://self.alt` requests served in-process (`None` outside an app).
    pub local_http: Option<Arc<dyn outbound::LocalHttp>>,
    /// The operator's outbound HTTP limits (`[outbound_http]`), shared by the app.
    pub outbound_http: Arc<SharedHttpLimits>,
    /// The component's kept-alive outbound connections, shared by its
    /// instances (and by clones of this config).
    connections: Connections,
    /// Which denied calls of its dependencies were warned about (shared by
    /// clones of this config).
    denied_warnings: DeniedWarnings,
}

/// A component's kept-alive outbound connections: its HTTP connection pool
/// and its MySQL pools, with their counts. Cloning shares them. A new
/// version of a component (`skiff up --watch`) is handed its previous
/// version's ([`InstanceConfig::use_connections`]), so its first requests
/// do not connect again. Safe across a change of grants: a pooled
/// connection is only taken for a destination the request's own grant check
/// let through.
#[derive(Clone, Default)]
pub struct Connections {
    http: Arc<pool::Pool>,
    mysql: Arc<MysqlPools>,
}

impl InstanceConfig {
    /// A config that grants nothing, for component `id`.
    pub fn new(id: &str) -> Self {
        InstanceConfig {
            component_id: id.into(),
            env: Vec::new(),
            args: Vec::new(),
            preopens: Vec::new(),
            stdio: Stdio::Log,
            allowed_outbound: Arc::new(AllowedHosts::default()),
            memory_limit: None,
            fuel: None,
            log_streams: Arc::new((
                LogStream::new(id, Channel::Stdout),
                LogStream::new(id, Channel::Stderr),
            )),
            kv: Arc::new(KeyValueManager::builder(id).build()),
            kv_granted: Arc::from(Vec::new()),
            variables: Arc::new(Resolver::empty()),
            sqlite: Arc::new(SqliteManager::builder().build()),
            sqlite_granted: Arc::from(Vec::new()),
            messaging: Arc::new(MessagingManager::default()),
            messaging_granted: Arc::from(Vec::new()),
            blob: Arc::new(BlobManager::builder().build()),
            blob_granted: None,
            local_http: None,
            outbound_http: Arc::new(SharedHttpLimits::default()),
            connections: Connections::default(),
            denied_warnings: DeniedWarnings::default(),
        }
    }

    /// Sends this component's stdout and stderr where `output` says
    /// (which components are shown on the host's stderr, and log files).
    pub fn log_to(&mut self, output: &GuestOutput) -> Result<()> {
        self.log_streams = Arc::new(output.streams(&self.component_id)?);
        Ok(())
    }

    /// Makes this component's instances use `connections` (shared, not
    /// copied), e.g. those of the component's previous version.
    pub fn use_connections(&mut self, connections: Connections) {
        self.connections = connections;
    }

    /// Which denied calls of this component's dependencies were warned
    /// about, for [`linker_for`]: the component's, however often it is linked.
    pub fn denied_warnings(&self) -> &DeniedWarnings {
        &self.denied_warnings
    }

    /// What this component's outbound HTTP connections have done (shared by
    /// clones of this config).
    pub fn outbound_connections(&self) -> ConnectionStats {
        self.connections.http.stats()
    }

    /// A WASI context builder holding exactly these grants.
    pub fn wasi_builder(&self) -> Result<WasiCtxBuilder> {
        let mut builder = WasiCtxBuilder::new();
        match self.stdio {
            Stdio::Inherit => {
                builder.inherit_stdio();
            }
            Stdio::Log => {
                let (stdout, stderr) = &*self.log_streams;
                builder.stdout(stdout.clone()).stderr(stderr.clone());
            }
        }
        builder.envs(&self.env).args(&self.args);
        for p in &self.preopens {
            let perms = if p.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            builder
                .preopened_dir(&p.host, &p.guest, perms)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "could not open directory `{}` for component `{}`",
                        p.host.display(),
                        self.component_id
                    )
                })?;
        }
        if !self.allowed_outbound.is_empty() {
            let allowed = self.allowed_outbound.clone();
            builder
                .allow_tcp(true)
                .allow_ip_name_lookup(true)
                .socket_addr_check(move |addr, use_| {
                    let ok = match use_ {
                        // A connect first checks the implicit bind to an
                        // ephemeral port; binding anything else (a port to
                        // listen on) is not an outbound grant.
                        SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                        SocketAddrUse::TcpConnect => allowed.allows_socket("tcp", addr),
                        _ => false,
                    };
                    Box::pin(async move { ok })
                });
        }
        Ok(builder)
    }

    fn store_limits(&self) -> StoreLimits {
        let mut limits = StoreLimitsBuilder::new().trap_on_grow_failure(true);
        if let Some(bytes) = self.memory_limit {
            limits = limits.memory_size(usize::try_from(bytes).unwrap_or(usize::MAX));
        }
        limits.build()
    }

    /// A component-model store with fresh host state, limits and an armed deadline.
    ///
    /// The instance's key-value, variables, SQL, Redis, MQTT, messaging and blob state is built
    /// from this config at the guest's first call into any of them, and its
    /// outbound HTTP hooks read it when a request goes out: a request that uses
    /// none of them (most) pays for one `Arc` here, not one per capability.
    pub fn new_store(
        self: &Arc<Self>,
        engine: &wasmtime::Engine,
        timeout: Option<Duration>,
    ) -> Result<Store<HostState>> {
        let state = HostState {
            wasi: self.wasi_builder()?.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHttp::new(self.clone()),
            limits: self.store_limits(),
            capabilities: None,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limits);
        self.prepare(&mut store, timeout)?;
        Ok(store)
    }

    /// A core-module store (WASI preview1) with fresh host state, limits and an armed deadline.
    pub fn new_p1_store(
        &self,
        engine: &wasmtime::Engine,
        timeout: Option<Duration>,
    ) -> Result<Store<P1State>> {
        let state = P1State {
            wasi: self.wasi_builder()?.build_p1(),
            limits: self.store_limits(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limits);
        self.prepare(&mut store, timeout)?;
        Ok(store)
    }

    /// Re-arms a store made ahead of its request (a pre-instantiated spare):
    /// its deadline runs from now and its fuel is full again.
    pub fn rearm<T: 'static>(&self, store: &mut Store<T>, timeout: Option<Duration>) -> Result<()> {
        self.prepare(store, timeout)
    }

    fn prepare<T: 'static>(&self, store: &mut Store<T>, timeout: Option<Duration>) -> Result<()> {
        skiff_engine::arm_deadline(store, timeout);
        if let Some(fuel) = self.fuel {
            store
                .set_fuel(fuel)
                .map_err(anyhow::Error::from)
                .context("fuel was requested but the engine does not meter fuel")?;
        }
        Ok(())
    }
}

/// The store data of a component instance.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    /// Also holds the component's [`InstanceConfig`], which the capability
    /// states are built from.
    hooks: OutboundHttp,
    limits: StoreLimits,
    /// Built at the first call into any of them.
    capabilities: Option<Box<Capabilities>>,
}

/// The per-instance state of the capabilities beyond WASI's own.
struct Capabilities {
    kv: KvState,
    variables: VariablesState,
    sqlite: SqliteState,
    pg: PgState,
    mysql: MysqlState,
    redis: RedisState,
    mqtt: MqttState,
    messaging: MessagingState,
    blob: BlobState,
}

impl Capabilities {
    fn new(config: &InstanceConfig) -> Self {
        Capabilities {
            kv: KvState::new(config.kv.clone(), config.kv_granted.clone()),
            variables: VariablesState::new(config.variables.clone(), config.component_id.clone()),
            sqlite: SqliteState::new(config.sqlite.clone(), config.sqlite_granted.clone()),
            pg: PgState::new(config.allowed_outbound.clone()),
            mysql: MysqlState::new(
                config.allowed_outbound.clone(),
                config.connections.mysql.clone(),
            ),
            redis: RedisState::new(config.allowed_outbound.clone(), config.component_id.clone()),
            mqtt: MqttState::new(config.allowed_outbound.clone(), config.component_id.clone()),
            messaging: MessagingState::new(
                config.messaging.clone(),
                config.messaging_granted.clone(),
                config.component_id.clone(),
            ),
            blob: BlobState::new(
                config.blob.clone(),
                config.blob_granted.clone(),
                config.component_id.clone(),
            ),
        }
    }
}

impl HostState {
    /// The capability states (built now if this is the first use) and the
    /// resource table their handles live in.
    fn capabilities(&mut self) -> (&mut Capabilities, &mut ResourceTable) {
        let config = self.hooks.config();
        let capabilities = self
            .capabilities
            .get_or_insert_with(|| Box::new(Capabilities::new(config)));
        (capabilities, &mut self.table)
    }
}

impl SqliteHostView for HostState {
    fn sqlite(&mut self) -> SqliteView<'_> {
        let (capabilities, table) = self.capabilities();
        SqliteView {
            state: &mut capabilities.sqlite,
            table,
        }
    }
}

impl PgHostView for HostState {
    fn pg(&mut self) -> PgView<'_> {
        let (capabilities, table) = self.capabilities();
        PgView {
            state: &mut capabilities.pg,
            table,
        }
    }
}

impl MysqlHostView for HostState {
    fn mysql(&mut self) -> MysqlView<'_> {
        let (capabilities, table) = self.capabilities();
        MysqlView {
            state: &mut capabilities.mysql,
            table,
        }
    }
}

impl RedisHostView for HostState {
    fn redis(&mut self) -> RedisView<'_> {
        let (capabilities, table) = self.capabilities();
        RedisView {
            state: &mut capabilities.redis,
            table,
        }
    }
}

impl MqttHostView for HostState {
    fn mqtt(&mut self) -> MqttView<'_> {
        let (capabilities, table) = self.capabilities();
        MqttView {
            state: &mut capabilities.mqtt,
            table,
        }
    }
}

impl MessagingHostView for HostState {
    fn messaging(&mut self) -> MessagingView<'_> {
        let (capabilities, table) = self.capabilities();
        MessagingView {
            state: &mut capabilities.messaging,
            table,
        }
    }
}

impl BlobHostView for HostState {
    fn blob(&mut self) -> BlobView<'_> {
        let (capabilities, table) = self.capabilities();
        BlobView {
            state: &mut capabilities.blob,
            table,
        }
    }
}

impl VariablesView for HostState {
    fn variables(&mut self) -> &mut VariablesState {
        &mut self.capabilities().0.variables
    }
}

impl KvHostView for HostState {
    fn kv(&mut self) -> KvView<'_> {
        let (capabilities, table) = self.capabilities();
        KvView {
            state: &mut capabilities.kv,
            table,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The store data of a WASI preview1 core-module instance.
pub struct P1State {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// A component linker with every interface Skiff offers guests (see the crate docs).
pub fn component_linker(engine: &wasmtime::Engine) -> Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    outbound::relative_urls::add_p2_to_linker(&mut linker).map_err(anyhow::Error::from)?;
    // WASI 0.3 (`wasi:http/handler@0.3.0`, `wasi:cli@0.3.0`…) for p3 guests
    // such as Spin SDK 7 apps, on an engine with concurrency support (the
    // capabilities skip their `async func` interfaces likewise without it).
    if engine.get_concurrency_support() {
        wasmtime_wasi::p3::add_to_linker(&mut linker).map_err(anyhow::Error::from)?;
        outbound::relative_urls::add_p3_to_linker(&mut linker).map_err(anyhow::Error::from)?;
    }
    skiff_kv::add_to_linker(&mut linker)?;
    skiff_variables::add_to_linker(&mut linker)?;
    skiff_sqlite::add_to_linker(&mut linker)?;
    skiff_postgres::add_to_linker(&mut linker)?;
    skiff_mysql::add_to_linker(&mut linker)?;
    skiff_redis::add_to_linker(&mut linker)?;
    skiff_mqtt::add_to_linker(&mut linker)?;
    skiff_messaging::add_to_linker(&mut linker)?;
    skiff_blob::add_to_linker(&mut linker)?;
    logging::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// A core-module linker with WASI preview1.
pub fn p1_linker(engine: &wasmtime::Engine) -> Result<wasmtime::Linker<P1State>> {
    let mut linker = wasmtime::Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut P1State| &mut s.wasi)
        .map_err(anyhow::Error::from)?;
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store holds no capability state until the guest first calls into a
    /// capability; then every view shares the one built, from the config's
    /// grants.
    #[test]
    fn capability_states_are_built_at_first_use() {
        let engine = wasmtime::Engine::default();
        let config = Arc::new(InstanceConfig::new("lazy"));
        let mut store = config.new_store(&engine, None).unwrap();
        assert!(store.data().capabilities.is_none());
        assert_eq!(
            Arc::strong_count(&config),
            2,
            "the store holds one reference"
        );
        assert_eq!(Arc::strong_count(&config.kv), 1);

        assert_eq!(store.data_mut().variables().component_id(), "lazy");
        assert!(store.data().capabilities.is_some());
        assert_eq!(
            Arc::strong_count(&config.kv),
            2,
            "built once, for every view"
        );
        let kv = store.data_mut().kv().state.manager().clone();
        assert!(Arc::ptr_eq(&kv, &config.kv), "from the config's grants");
        drop(kv);
        drop(store);
        assert_eq!(Arc::strong_count(&config), 1);
        assert_eq!(Arc::strong_count(&config.kv), 1);
    }
}
