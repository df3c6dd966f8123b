//! Skiff's HTTP trigger: serves an app's `wasi:http/incoming-handler` components.
//!
//! At load ([`HttpApp::load`]) every component is compiled (or fetched from the AOT
//! cache), linked and pre-instantiated once; its grants become an
//! [`InstanceConfig`]. Per request ([`HttpApp::handle`]) the router picks the
//! component, the concurrency and body limits are applied, and a **fresh instance**
//! handles the request in its own task, bounded by the component's memory limit and
//! timeout. A guest that traps, loops or exhausts its memory costs only its own
//! request: the client gets a 5xx and the server keeps serving.
//!
//! Implements the host side of `wasi:http/incoming-handler@0.2.x`.
#![deny(missing_docs)]

pub mod body;
mod durations;
mod files;
mod idle;
mod local;
pub mod metrics;
mod p3;
pub mod router;
mod server;
mod spare;
pub mod spin_headers;
mod tls;
pub mod trigger;
pub mod well_known;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use skiff_engine::{CacheOutcome, DeadlineExceeded, SkiffEngine};
use skiff_host::{HostState, InstanceConfig, Stdio};
use skiff_manifest::{App, Limits};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::body::{LimitedBody, text_response};
use crate::metrics::ComponentMetrics;
use crate::router::Router;

pub use files::Mounts;
pub use server::{IDLE_TIMEOUT, ServeOptions, serve, serve_metrics};
pub use tls::{ClientAuth, ServerTls, TlsFiles, XFCC};

/// The app a server hands its requests to, replaceable while it serves
/// (`skiff up --watch`): each request takes the version current when it
/// arrives (on a kept-alive connection too) and finishes on it.
pub struct LiveApp {
    current: ArcSwap<HttpApp>,
}

impl LiveApp {
    /// Serves `app` until [`replace`](Self::replace)d.
    pub fn new(app: Arc<HttpApp>) -> Arc<Self> {
        Arc::new(LiveApp {
            current: ArcSwap::new(app),
        })
    }

    /// The version serving new requests.
    pub fn current(&self) -> Arc<HttpApp> {
        self.current.load_full()
    }

    /// Serves `app` from now on; the previous version is
    /// [`retire`](HttpApp::retire)d, finishes the requests it has and is
    /// dropped with the last of them.
    pub fn replace(&self, app: Arc<HttpApp>) {
        self.current.swap(app).retire();
    }
}

/// Options for loading an app.
#[derive(Clone)]
pub struct LoadOptions {
    /// The app's state directory (`.skiff/` next to the manifest by default).
    pub state_dir: PathBuf,
    /// The app's key-value stores (backends chosen by the runtime config).
    pub kv: Arc<skiff_kv::KeyValueManager>,
    /// The app's variables.
    pub variables: Arc<skiff_variables::Resolver>,
    /// The app's SQLite databases.
    pub sqlite: Arc<skiff_sqlite::SqliteManager>,
    /// The app's message brokers.
    pub messaging: Arc<skiff_messaging::MessagingManager>,
    /// The app's blob stores.
    pub blob: Arc<skiff_blob::BlobManager>,
    /// The operator's outbound HTTP limits (`[outbound_http]` in the runtime config).
    pub outbound_http: Arc<skiff_outbound_networking::SharedHttpLimits>,
    /// Networks no component may connect to (`[outbound_networking]` in the runtime config).
    pub blocked_networks: Arc<skiff_outbound_networking::SharedBlockedNetworks>,
    /// The components' kept-alive outbound connections, handed on from
    /// the version of the app this one replaces.
    pub connections: Arc<AppConnections>,
    /// Where the guests' stdout and stderr go.
    pub guest_output: Arc<skiff_host::GuestOutput>,
    /// How `files` mounts are made.
    pub mounts: Mounts,
}

/// The kept-alive outbound connections ([`skiff_host::Connections`]) of one
/// version of an app, by component id, and those of the version it
/// replaces (`skiff up --watch`): a component the previous version had
/// takes over its connections, so its first requests, events and queries
/// after a reload do not connect again, whichever trigger runs it. The
/// triggers of one version that run the same component share its
/// connections. A component the new version drops lets its go with the old
/// version.
#[derive(Default)]
pub struct AppConnections {
    previous: std::collections::HashMap<String, skiff_host::Connections>,
    current: std::sync::Mutex<std::collections::HashMap<String, skiff_host::Connections>>,
}

impl AppConnections {
    /// Component `id`'s connections in this version: its previous
    /// version's if there was one, else new ones.
    pub fn of(&self, id: &str) -> skiff_host::Connections {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_string())
            .or_insert_with(|| self.previous.get(id).cloned().unwrap_or_default())
            .clone()
    }

    /// A start for the version that will replace this one, holding this
    /// version's connections to hand on.
    pub fn for_next_version(&self) -> Arc<Self> {
        Arc::new(AppConnections {
            previous: self
                .current
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            current: Default::default(),
        })
    }
}

/// Which `wasi:http` generation a component exports.
#[derive(Clone)]
enum Handler {
    /// `wasi:http/incoming-handler@0.2.x`.
    P2(ProxyPre<HostState>),
    /// `wasi:http/handler@0.3.0`.
    P3(wasmtime_wasi_http::p3::bindings::ServicePre<HostState>),
}

/// One component of the app: its grants, limits and metrics, which do not
/// depend on the engine its instances are made on.
struct HttpComponent {
    id: Arc<str>,
    /// Its code's file.
    source: PathBuf,
    /// Its `[component.ID.dependencies]`, composed with it at load.
    dependencies: Vec<skiff_manifest::Dependency>,
    config: Arc<InstanceConfig>,
    limits: Limits,
    concurrency: Option<Arc<Semaphore>>,
    metrics: Arc<ComponentMetrics>,
}

/// What serves the app's requests on one engine: the engine and every
/// component pre-instantiated on it, in [`HttpApp::components`] order.
struct Generation {
    engine: Arc<SkiffEngine>,
    bound: Vec<Bound>,
    spares: Arc<spare::Spares>,
}

/// One component, pre-instantiated on a generation's engine.
struct Bound {
    handler: Handler,
    /// Its next instances, made ahead of the requests (`wasi:http@0.2` only).
    spare: Option<Arc<spare::SpareSlot>>,
}

/// What loading one component did, for the start-up report.
#[derive(Debug, Clone)]
pub struct ComponentReport {
    /// Component id.
    pub id: String,
    /// Whether the AOT cache served it.
    pub cache: CacheOutcome,
    /// Time spent loading it.
    pub elapsed: Duration,
}

/// An app ready to serve: router plus pre-instantiated components.
pub struct HttpApp {
    /// The engine requests start on, swapped by [`HttpApp::rebind`].
    current: ArcSwap<Generation>,
    router: Router,
    components: Vec<HttpComponent>,
    /// Component id → index into `components`.
    by_id: std::collections::HashMap<String, usize>,
    /// The first route of each component and its Spin header values (for chained requests).
    component_routes: Vec<(skiff_manifest::Route, spin_headers::RouteHeaders)>,
    reports: Vec<ComponentReport>,
    /// Requests that matched no route.
    unrouted: AtomicU64,
    /// `/.well-known/spin/info`'s body.
    info: bytes::Bytes,
    /// The routes' static responses: route target `components.len() + i`
    /// is `statics[i]`.
    statics: Vec<skiff_manifest::StaticResponse>,
    /// `http.server.request.duration`, kept while metrics are exported by
    /// OTLP.
    durations: Option<Arc<durations::RequestDurations>>,
}

impl HttpApp {
    /// Compiles, links and pre-instantiates every HTTP component of `app`.
    pub fn load(engine: Arc<SkiffEngine>, app: &App, options: &LoadOptions) -> Result<Arc<Self>> {
        Self::load_after(engine, app, options, None)
    }

    /// [`load`](Self::load) for a version of the app that will replace
    /// `previous` ([`LiveApp::replace`]): a component with an id `previous`
    /// has keeps counting its metrics where it left off, as does the count of
    /// unrouted requests, so a reload does not reset the counters a
    /// monitoring system reads. (Outbound connections are handed on
    /// through [`LoadOptions::connections`], for every trigger.)
    pub fn load_after(
        engine: Arc<SkiffEngine>,
        app: &App,
        options: &LoadOptions,
        previous: Option<&HttpApp>,
    ) -> Result<Arc<Self>> {
        let local = Arc::new(local::LocalApp::default());
        let mut component_routes = Vec::new();
        let mut components = Vec::new();
        let mut index = std::collections::HashMap::new();
        // Each route's target: `Ok(component)` or `Err(static response)`,
        // in manifest order; static responses are indexed after every
        // component once all are known.
        let mut routes: Vec<(skiff_manifest::Route, Result<usize, usize>)> = Vec::new();
        let mut statics = Vec::new();
        for trigger in &app.http_triggers {
            let route = trigger.route.to_string();
            if route.starts_with(well_known::PREFIX) {
                let target = match &trigger.static_response {
                    Some(_) => "a static response".to_string(),
                    None => format!("component `{}`", trigger.component),
                };
                tracing::warn!(
                    "route `{route}` ({target}) is under `{}`, which Skiff answers itself \
                     (health and info, as Spin does): requests there never reach the app",
                    well_known::PREFIX
                );
            }
            if let Some(response) = &trigger.static_response {
                routes.push((trigger.route.clone(), Err(statics.len())));
                statics.push(response.clone());
                continue;
            }
            let i = match index.get(&trigger.component) {
                Some(&i) => i,
                None => {
                    let spec = trigger_component(app, trigger)?;
                    let mut config = instance_config(spec, options)?;
                    config.local_http = Some(local.clone());
                    component_routes.push((
                        trigger.route.clone(),
                        spin_headers::RouteHeaders::new(&trigger.route),
                    ));
                    components.push(HttpComponent {
                        id: spec.id.as_str().into(),
                        source: spec.source.clone(),
                        dependencies: spec.dependencies.clone(),
                        config: Arc::new(config),
                        limits: spec.limits,
                        concurrency: spec
                            .limits
                            .max_concurrency
                            .map(|n| Arc::new(Semaphore::new(n as usize))),
                        metrics: previous
                            .and_then(|p| p.shared_metrics(&spec.id))
                            .unwrap_or_default(),
                    });
                    index.insert(trigger.component.clone(), components.len() - 1);
                    components.len() - 1
                }
            };
            routes.push((trigger.route.clone(), Ok(i)));
        }
        let routes: Vec<_> = routes
            .into_iter()
            .map(|(route, target)| (route, target.unwrap_or_else(|k| components.len() + k)))
            .collect();
        let (generation, loads) = bind(engine, &components)?;
        let reports = components
            .iter()
            .zip(loads)
            .map(|(c, (cache, elapsed))| ComponentReport {
                id: c.id.to_string(),
                cache,
                elapsed,
            })
            .collect();
        let app = Arc::new(HttpApp {
            current: ArcSwap::from_pointee(generation),
            router: Router::new(routes),
            components,
            by_id: index,
            component_routes,
            reports,
            unrouted: AtomicU64::new(previous.map_or(0, |p| p.unrouted.load(Ordering::Relaxed))),
            info: well_known::info_json(&app.name, app.version.as_deref()),
            statics,
            durations: skiff_telemetry::metrics::enabled().then(|| {
                previous
                    .and_then(|p| p.durations.clone())
                    .unwrap_or_default()
            }),
        });
        local.set(&app);
        Ok(app)
    }

    /// Moves the app onto `engine`: every component is loaded on it (through
    /// the AOT cache, which the first engine filled) and pre-instantiated, then
    /// requests start there. Requests already running finish where they
    /// started; the old engine's spares are dropped, and as many are made on
    /// the new one for each component (in tasks on the current tokio runtime,
    /// when called inside one), so the requests after the move find them as
    /// those before it would have. The old engine goes away with its last
    /// instance. `skiff up` starts on an engine without an instance pool and
    /// moves onto the pooled one once its reservation is made (see
    /// `skiff_runtime`'s staged start).
    pub fn rebind(&self, engine: Arc<SkiffEngine>) -> Result<()> {
        let (generation, _) = bind(engine, &self.components)?;
        let generation = Arc::new(generation);
        let old = self.current.swap(generation.clone());
        for (before, after) in old.bound.iter().zip(&generation.bound) {
            if let (Some(before), Some(after)) = (&before.spare, &after.spare) {
                after.warm(before.held());
            }
        }
        old.spares.close();
        Ok(())
    }

    /// Stops making spares for this app and drops those ready: it no longer
    /// takes new requests ([`LiveApp::replace`]). Requests it is serving finish.
    pub fn retire(&self) {
        self.current.load().spares.close();
    }

    /// The engine new requests start on.
    pub fn engine(&self) -> Arc<SkiffEngine> {
        self.current.load().engine.clone()
    }

    /// `(route, component id)` for every reachable route, in manifest order
    /// (`(static 301)` for a route the host answers with a static response).
    pub fn routes(&self) -> Vec<(String, String)> {
        self.router
            .routes()
            .map(|(route, i)| {
                let target = match self.components.get(i) {
                    Some(c) => c.id.to_string(),
                    None => format!(
                        "(static {})",
                        self.statics[i - self.components.len()].status
                    ),
                };
                (route.to_string(), target)
            })
            .collect()
    }

    /// How each component was loaded.
    pub fn reports(&self) -> &[ComponentReport] {
        &self.reports
    }

    /// Component `id`'s request metrics (`None`: no such HTTP component).
    pub fn metrics(&self, id: &str) -> Option<&ComponentMetrics> {
        self.component(id).map(|c| &*c.metrics)
    }

    /// Component `id`'s metrics, for the version replacing this one.
    fn shared_metrics(&self, id: &str) -> Option<Arc<ComponentMetrics>> {
        self.component(id).map(|c| c.metrics.clone())
    }

    /// The component with id `id`.
    fn component(&self, id: &str) -> Option<&HttpComponent> {
        self.by_id.get(id).map(|&i| &self.components[i])
    }

    /// Every component's request metrics, in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        metrics::render(
            self.components
                .iter()
                .map(|c| (&*c.id, &*c.metrics, c.config.outbound_connections())),
            self.unrouted.load(Ordering::Relaxed),
        )
    }

    /// Every component's request metrics as OpenTelemetry metrics, appended
    /// to `out` (what OTLP export collects).
    pub fn collect_metrics(&self, out: &mut Vec<skiff_telemetry::metrics::Metric>) {
        metrics::collect(
            self.components
                .iter()
                .map(|c| (&*c.id, &*c.metrics, c.config.outbound_connections())),
            self.unrouted.load(Ordering::Relaxed),
            out,
        );
        if let Some(durations) = &self.durations {
            durations.collect(out);
        }
    }

    /// Serves one request: route, limits, a fresh instance, and the guest's response.
    pub async fn handle<B>(
        &self,
        req: http::Request<B>,
        client: SocketAddr,
    ) -> http::Response<HyperOutgoingBody>
    where
        B: http_body::Body<Data = bytes::Bytes> + Unpin + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        self.route_and_handle(req, client, Drive::Inline).await
    }

    /// Routes and serves one request; `drive` says where its guest runs
    /// (chained requests to `http://self.alt` use [`Drive::Spawn`]).
    pub(crate) async fn route_and_handle<B>(
        &self,
        req: http::Request<B>,
        client: SocketAddr,
        drive: Drive,
    ) -> http::Response<HyperOutgoingBody>
    where
        B: http_body::Body<Data = bytes::Bytes> + Unpin + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        match &self.durations {
            None => self.answer(req, client, drive).await.0,
            Some(durations) => {
                let arrival = durations::RequestDurations::arrival(&req);
                let (resp, route, component) = self.answer(req, client, drive).await;
                durations.time(arrival, route, component, resp)
            }
        }
    }

    /// [`route_and_handle`](Self::route_and_handle)'s answer, with the route
    /// that matched (empty for none) and the component that answered (`None`
    /// for the host itself).
    async fn answer<B>(
        &self,
        mut req: http::Request<B>,
        client: SocketAddr,
        drive: Drive,
    ) -> (http::Response<HyperOutgoingBody>, &str, Option<&str>)
    where
        B: http_body::Body<Data = bytes::Bytes> + Unpin + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        if let Some(rest) = req.uri().path().strip_prefix(well_known::PREFIX) {
            return (well_known::respond(rest, &self.info), "", None);
        }
        let Some(m) = self.router.route(req.uri().path()) else {
            self.unrouted.fetch_add(1, Ordering::Relaxed);
            let resp = traced_by_host(&req, "", client, || {
                text_response(http::StatusCode::NOT_FOUND, "Not Found")
            });
            return (resp, "", None);
        };
        let route = m.spin.raw_route();
        if let Some(response) = m
            .component
            .checked_sub(self.components.len())
            .map(|k| &self.statics[k])
        {
            let resp = traced_by_host(&req, route, client, || static_response(response));
            return (resp, route, None);
        }
        spin_headers::set(&mut req, &m, client);
        let resp = self
            .handle_with(m.component, m.spin, req, client, drive)
            .await;
        (resp, route, Some(&*self.components[m.component].id))
    }

    /// Serves one request with component `id` directly, whatever its routes
    /// (service chaining: `http://ID.spin.internal`); `None` if the app has no
    /// HTTP component `id`.
    pub async fn handle_component<B>(
        &self,
        id: &str,
        mut req: http::Request<B>,
        client: SocketAddr,
    ) -> Option<http::Response<HyperOutgoingBody>>
    where
        B: http_body::Body<Data = bytes::Bytes> + Unpin + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let &index = self.by_id.get(id)?;
        let (route, spin) = &self.component_routes[index];
        let m = router::RouteMatch {
            component: index,
            route,
            spin,
            matched: String::new(),
            path_info: req.uri().path().to_string(),
            params: Vec::new(),
        };
        spin_headers::set(&mut req, &m, client);
        Some(
            self.handle_with(index, spin, req, client, Drive::Spawn)
                .await,
        )
    }

    async fn handle_with<B>(
        &self,
        index: usize,
        route: &spin_headers::RouteHeaders,
        req: http::Request<B>,
        client: SocketAddr,
        drive: Drive,
    ) -> http::Response<HyperOutgoingBody>
    where
        B: http_body::Body<Data = bytes::Bytes> + Unpin + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let started = Instant::now();
        let component = &self.components[index];
        // With traces on, the request's span (continuing a caller's trace);
        // with them off, nothing is prepared for one.
        let span = match skiff_telemetry::enabled() {
            true => skiff_telemetry::http::server_span(
                &req,
                route.raw_route(),
                Some(&component.id),
                client,
            ),
            false => None,
        };
        // An async block, so its early returns (busy, too large) are counted too.
        let resp = async {
            let permit = match acquire(component) {
                Ok(permit) => permit,
                Err(()) => return busy(component),
            };
            if let Some(len) = content_length(&req)
                && len > component.limits.max_body
            {
                return too_large(component);
            }
            let exceeded = Arc::new(AtomicBool::new(false));
            let req = req.map(|b| LimitedBody::new(b, component.limits.max_body, exceeded.clone()));
            let result = self
                .run_guest(index, req, permit, drive, started, span.as_ref())
                .await;
            if exceeded.load(Ordering::Acquire) {
                return too_large(component);
            }
            match result {
                Ok(resp) => resp,
                Err(failure) => failure.into_response(component, client),
            }
        };
        // With traces on, the request's span covers it (and the warnings
        // and errors logged in it).
        let resp = match &span {
            None => resp.await,
            Some(span) => {
                let resp = tracing::Instrument::instrument(resp, span.clone()).await;
                skiff_telemetry::http::record_response(span, resp.status(), false);
                resp
            }
        };
        component.metrics.response_head.observe(started.elapsed());
        component.metrics.count_response(resp.status());
        resp
    }

    async fn run_guest<B>(
        &self,
        index: usize,
        req: http::Request<LimitedBody<B>>,
        permit: Option<OwnedSemaphorePermit>,
        drive: Drive,
        started: Instant,
        span: Option<&tracing::Span>,
    ) -> Result<http::Response<HyperOutgoingBody>, Failure>
    where
        B: http_body::Body<Data = bytes::Bytes> + Unpin + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let component = &self.components[index];
        let timeout = component.limits.timeout;
        let deadline = tokio::time::Instant::from_std(started) + timeout;
        let ready = InstanceReady {
            metrics: component.metrics.clone(),
            since: Instant::now(),
        };
        // On the current engine: a spare made ahead of this request, or a
        // store for one made now.
        let (mut store, made, handler, slot) = {
            let generation = self.current.load();
            let bound = &generation.bound[index];
            let (store, made) = match bound.spare.as_ref().and_then(|slot| slot.take()) {
                Some(spare) => (spare.store, Some(spare.proxy)),
                None => (
                    component
                        .config
                        .new_store(generation.engine.engine(), Some(timeout))
                        .map_err(Failure::Host)?,
                    None,
                ),
            };
            (store, made, bound.handler.clone(), bound.spare.clone())
        };
        // `https` where the server completed the target so (TLS), or HTTP/2's
        // `:scheme` says so.
        let scheme = match req.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
            true => Scheme::Https,
            false => Scheme::Http,
        };
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        // The guest's whole run (instantiate, `handle`, body), bounded by the
        // component's timeout.
        let guest: GuestRun = match handler {
            Handler::P2(pre) => {
                Box::pin(async move {
                    let _permit = permit;
                    let run = async {
                        let proxy = match made {
                            Some(proxy) => proxy,
                            None => {
                                let proxy = pre
                                    .instantiate_async(&mut store)
                                    .await
                                    .map_err(Failure::Instantiate)?;
                                ready.record();
                                proxy
                            }
                        };
                        // The request's resources go into the fresh instance's
                        // table once it exists (and outside the time recorded).
                        let mut http = store.data_mut().http();
                        let req = http
                            .new_incoming_request(scheme, req)
                            .map_err(|e| Failure::Host(e.into()))?;
                        let out = http
                            .new_response_outparam(tx)
                            .map_err(|e| Failure::Host(e.into()))?;
                        proxy
                            .wasi_http_incoming_handler()
                            .call_handle(&mut store, req, out)
                            .await
                            .map_err(Failure::Guest)
                    };
                    let result = match tokio::time::timeout_at(deadline, run).await {
                        Ok(result) => result,
                        Err(_) => Err(Failure::Timeout(timeout)),
                    };
                    // Teardown and the next spare happen off the response's path.
                    match slot {
                        Some(slot) => slot.retire(store),
                        None => drop(store),
                    }
                    result
                })
            }
            Handler::P3(pre) => Box::pin(async move {
                let _permit = permit;
                match tokio::time::timeout_at(deadline, p3::handle(pre, store, req, tx, ready))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(Failure::Timeout(timeout)),
                }
            }),
        };
        // The guest runs in the request's span, so its host calls and
        // outbound requests are children of it, wherever it is polled.
        let guest: GuestRun = match span {
            None => guest,
            Some(span) => Box::pin(tracing::Instrument::instrument(guest, span.clone())),
        };
        // Drive the guest in this (the connection's) task until it answers. A
        // guest that has finished by the time its response is read — most
        // handlers — then costs no task spawn and no cross-task wake-up. Both
        // branches end by the deadline: the guest run is bounded by it. The
        // guest is polled before the channel: an answer sent while the
        // channel's waker is registered would wake this very task, which tokio
        // then reschedules once hyper has written the response — waking an
        // idle worker for nothing (an eventfd write and a spurious poll per
        // request, measured at c=1).
        let mut guest = Detached(Some(guest));
        let early = match drive {
            Drive::Inline => tokio::select! {
                biased;
                done = guest.run() => Ok(done),
                answer = &mut rx => Err(Some(answer)),
            },
            Drive::Spawn => Err(None),
        };
        let answer = match early {
            Ok(done) => {
                // Finished: whatever it sent is already in the channel.
                return match rx.try_recv() {
                    Ok(Ok(resp)) => Ok(body::settle_finished(resp)),
                    Ok(Err(code)) => Err(Failure::ErrorCode(format!("{code:?}"))),
                    Err(_) => match done {
                        Ok(()) => Err(Failure::NoResponse),
                        Err(failure) => Err(failure),
                    },
                };
            }
            Err(answer) => answer,
        };
        // The guest answered and is still running (streaming its body, or a
        // WASI 0.3 guest whose body hyper must consume), or was never driven
        // here: give it its own task.
        let mut task = tokio::spawn(guest.take());
        let answer = match answer {
            Some(answer) => answer,
            None => rx.await,
        };
        match answer {
            Ok(Ok(resp)) => Ok(body::settle_length(resp, &mut task).await),
            Ok(Err(code)) => Err(Failure::ErrorCode(format!("{code:?}"))),
            Err(_) => match task.await {
                Ok(Ok(())) => Err(Failure::NoResponse),
                Ok(Err(failure)) => Err(failure),
                Err(join) => Err(Failure::Host(anyhow::anyhow!("guest task failed: {join}"))),
            },
        }
    }
}

/// Loads, links and pre-instantiates `components` on `engine`; with each
/// component's cache outcome and load time, in order.
fn bind(
    engine: Arc<SkiffEngine>,
    components: &[HttpComponent],
) -> Result<(Generation, Vec<(CacheOutcome, Duration)>)> {
    // The linker (every host function Skiff provides, ~0.4 ms) and the
    // components' code (checksum, map, deserialize) each need only the
    // engine: build the one on a second thread while the other loads.
    let (linker, compiled) = std::thread::scope(|s| {
        let linker = s.spawn(|| skiff_host::component_linker(engine.engine()));
        let compiled = load_sources(&engine, components);
        (linker.join(), compiled)
    });
    let linker =
        linker.map_err(|_| anyhow::anyhow!("building the component linker panicked"))??;
    let mut compiled = compiled?;
    let spares = spare::Spares::new();
    let mut bound = Vec::with_capacity(components.len());
    let mut loads = Vec::with_capacity(components.len());
    for c in components {
        let start = Instant::now();
        // Components sharing a source file share one compiled image (code
        // mapped once), which matters for apps of many components; the first
        // of them is charged the load.
        let (loaded, load_time) = match compiled.get_mut(&code_key(c)) {
            Some((loaded, took)) => (loaded.clone(), std::mem::take(took)),
            None => anyhow::bail!("component `{}` was not loaded", c.id),
        };
        let pre = skiff_host::linker_for(&linker, &loaded.component, c.config.denied_warnings())
            .and_then(|linker| {
                linker
                    .instantiate_pre(&loaded.component)
                    .map_err(anyhow::Error::from)
            });
        let handler = pre
            .and_then(
                |pre| match wasmtime_wasi_http::p3::bindings::ServicePre::new(pre.clone()) {
                    Ok(p3) => Ok(Handler::P3(p3)),
                    Err(_) => ProxyPre::new(pre)
                        .map(Handler::P2)
                        .map_err(anyhow::Error::from),
                },
            )
            .with_context(|| {
                format!(
                    "component `{}` cannot be served over HTTP: it must export \
                     `wasi:http/incoming-handler@0.2.x` (or `wasi:http/handler@0.3.0`) \
                     and import only interfaces Skiff provides",
                    c.id
                )
            })?;
        let spare = match &handler {
            Handler::P2(pre) => Some(spare::SpareSlot::new(
                spares.clone(),
                spare::Maker {
                    engine: engine.engine().clone(),
                    pre: pre.clone(),
                    config: c.config.clone(),
                    timeout: c.limits.timeout,
                    metrics: c.metrics.clone(),
                },
            )),
            Handler::P3(_) => None,
        };
        loads.push((loaded.cache, load_time + start.elapsed()));
        bound.push(Bound { handler, spare });
    }
    spares.register(
        bound
            .iter()
            .filter_map(|b| b.spare.as_ref().map(Arc::downgrade))
            .collect(),
    );
    Ok((
        Generation {
            engine,
            bound,
            spares,
        },
        loads,
    ))
}

/// Loads the code of `components`, each source file once (a component
/// with dependencies on its own), with how long each took; fails naming an
/// unloadable component.
fn load_sources<'c>(
    engine: &SkiffEngine,
    components: &'c [HttpComponent],
) -> Result<std::collections::HashMap<CodeKey<'c>, (skiff_engine::LoadedComponent, Duration)>> {
    let mut compiled = std::collections::HashMap::new();
    for c in components {
        let key = code_key(c);
        if compiled.contains_key(&key) {
            continue;
        }
        let start = Instant::now();
        let loaded = load_component(engine, &c.id, &c.source, &c.dependencies)?;
        compiled.insert(key, (loaded, start.elapsed()));
    }
    Ok(compiled)
}

/// What names a component's code among an app's: its source file, or, for
/// a component composed with dependencies (code of its own), its id.
#[derive(PartialEq, Eq, Hash)]
enum CodeKey<'c> {
    Source(&'c std::path::Path),
    Composed(&'c str),
}

fn code_key(c: &HttpComponent) -> CodeKey<'_> {
    if c.dependencies.is_empty() {
        CodeKey::Source(&c.source)
    } else {
        CodeKey::Composed(&c.id)
    }
}

/// Loads component `id`'s code from `source`, composed with its
/// `dependencies` (through the AOT cache), failing with the component's id
/// and source file; shared by the triggers.
pub fn load_component(
    engine: &SkiffEngine,
    id: &str,
    source: &std::path::Path,
    dependencies: &[skiff_manifest::Dependency],
) -> Result<skiff_engine::LoadedComponent> {
    let loaded = if dependencies.is_empty() {
        engine.load_component(source)
    } else {
        skiff_engine::compose::Dependency::all(dependencies)
            .and_then(|deps| engine.load_composed(id, source, &deps))
    };
    loaded.with_context(|| {
        format!(
            "could not load component `{id}` (source `{}`)",
            source.display()
        )
    })
}

/// A response the host makes itself (no route matched, a trigger's `static_response`), in a
/// span of its own when traces are on: such requests are part of what a
/// service answers, and a 404 is often the one worth seeing.
fn traced_by_host<B>(
    req: &http::Request<B>,
    route: &str,
    client: SocketAddr,
    respond: impl FnOnce() -> http::Response<HyperOutgoingBody>,
) -> http::Response<HyperOutgoingBody> {
    let Some(span) = skiff_telemetry::http::server_span(req, route, None, client) else {
        return respond();
    };
    let resp = span.in_scope(respond);
    skiff_telemetry::http::record_response(&span, resp.status(), false);
    resp
}

/// A trigger's `static_response`, as the host answers it.
fn static_response(response: &skiff_manifest::StaticResponse) -> http::Response<HyperOutgoingBody> {
    let body = response.body.clone().unwrap_or_default();
    let mut resp = http::Response::new(body::full(body));
    *resp.status_mut() =
        http::StatusCode::from_u16(response.status).unwrap_or(http::StatusCode::OK);
    for (name, value) in &response.headers {
        // The manifest checked both.
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            resp.headers_mut().append(name, value);
        }
    }
    resp
}

/// The component `trigger` names; fails if the manifest does not define it.
fn trigger_component<'a>(
    app: &'a App,
    trigger: &skiff_manifest::HttpTrigger,
) -> Result<&'a skiff_manifest::Component> {
    app.components.get(&trigger.component).with_context(|| {
        format!(
            "trigger on route `{}` names component `{}`, which the manifest does not define",
            trigger.route, trigger.component
        )
    })
}

/// Records a request's instantiation time (store creation included) once its
/// instance is ready.
struct InstanceReady {
    metrics: Arc<ComponentMetrics>,
    since: Instant,
}

impl InstanceReady {
    fn record(self) {
        self.metrics.instantiation.observe(self.since.elapsed());
    }
}

/// Where a request's guest runs until it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drive {
    /// In the request's own task (requests from the server).
    Inline,
    /// In a task of its own from the start: chained requests, which are
    /// served from inside the calling guest's host call, so the callee's
    /// store is never polled from within the caller's.
    Spawn,
}

/// A guest's run: instantiate, `handle`, and the body, ending by the deadline.
type GuestRun = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Failure>> + Send>>;

/// A guest run polled inline by the request's task. If that task is dropped
/// first (the client went away), the run is handed to a task of its own, so a
/// guest always runs to completion (or its deadline) as it would in a task
/// spawned up front.
struct Detached(Option<GuestRun>);

impl Detached {
    /// Polls the run to completion (it must not have been taken).
    async fn run(&mut self) -> Result<(), Failure> {
        let result = self.0.as_mut().expect("guest run present").await;
        self.0 = None;
        result
    }

    /// The run, to spawn.
    fn take(&mut self) -> GuestRun {
        self.0.take().expect("guest run present")
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(run) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(run);
        }
    }
}

/// Why a request produced no guest response.
enum Failure {
    Host(anyhow::Error),
    Instantiate(wasmtime::Error),
    Guest(wasmtime::Error),
    ErrorCode(String),
    NoResponse,
    Timeout(Duration),
}

impl Failure {
    fn into_response(
        self,
        component: &HttpComponent,
        client: SocketAddr,
    ) -> http::Response<HyperOutgoingBody> {
        use http::StatusCode;
        let id = &component.id;
        match self {
            Failure::Timeout(limit) => {
                tracing::warn!(component = %id, %client, "request stopped: exceeded the component's timeout of {limit:?}");
                text_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("component `{id}` timed out"),
                )
            }
            Failure::Guest(err) if err.downcast_ref::<DeadlineExceeded>().is_some() => {
                tracing::warn!(component = %id, %client, "request stopped: {err}");
                text_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("component `{id}` timed out"),
                )
            }
            Failure::Guest(err) => {
                let err = anyhow::Error::from(err);
                let reason = if format!("{err:#}").contains("forcing trap when growing memory") {
                    " (it reached its memory limit)"
                } else {
                    ""
                };
                tracing::error!(component = %id, %client, "guest failed{reason}: {err:?}");
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            Failure::Instantiate(err) => {
                let err = anyhow::Error::from(err);
                let msg = format!("{err:#}");
                if pool_exhausted(&msg) {
                    tracing::warn!(component = %id, %client, "instance pool exhausted: {msg}");
                    busy(component)
                } else {
                    tracing::error!(component = %id, %client, "could not instantiate: {err:?}");
                    text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                }
            }
            Failure::ErrorCode(code) => {
                tracing::warn!(component = %id, %client, "guest answered with error code {code}");
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            Failure::NoResponse => {
                tracing::error!(component = %id, %client, "guest returned without setting a response");
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            Failure::Host(err) => {
                tracing::error!(component = %id, %client, "host error: {err:?}");
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

/// Whether an instantiation error (as `{err:#}`) says the instance pool is full.
fn pool_exhausted(msg: &str) -> bool {
    msg.contains("concurrent") || msg.contains("limit")
}

/// `Ok(None)`: no limit; `Err(())`: the component is at its concurrency limit.
fn acquire(component: &HttpComponent) -> Result<Option<OwnedSemaphorePermit>, ()> {
    match &component.concurrency {
        None => Ok(None),
        Some(sem) => sem.clone().try_acquire_owned().map(Some).map_err(|_| ()),
    }
}

fn busy(component: &HttpComponent) -> http::Response<HyperOutgoingBody> {
    let mut resp = text_response(
        http::StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "component `{}` is at its concurrency limit; retry shortly",
            component.id
        ),
    );
    resp.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    resp
}

fn too_large(component: &HttpComponent) -> http::Response<HyperOutgoingBody> {
    text_response(
        http::StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "request body exceeds component `{}`'s limit of {} bytes",
            component.id, component.limits.max_body
        ),
    )
}

fn content_length<B>(req: &http::Request<B>) -> Option<u64> {
    req.headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The grants of component `spec` as an [`InstanceConfig`]: environment,
/// memory limit, key-value stores, variables, SQLite databases, message
/// brokers, the blob store, `files` mounts and `allowed_outbound_hosts`.
/// Other triggers (Redis) build their instances from the same config.
pub fn instance_config(
    spec: &skiff_manifest::Component,
    options: &LoadOptions,
) -> Result<InstanceConfig> {
    let mut config = InstanceConfig::new(&spec.id);
    config.stdio = Stdio::Log;
    config.env = spec
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    config.memory_limit = Some(spec.limits.memory);
    config.kv = options.kv.clone();
    config.kv_granted = spec.key_value_stores.clone().into();
    config.variables = options.variables.clone();
    config.sqlite = options.sqlite.clone();
    config.sqlite_granted = spec.sqlite_databases.clone().into();
    config.messaging = options.messaging.clone();
    config.messaging_granted = spec.message_brokers.clone().into();
    config.blob = options.blob.clone();
    config.blob_granted = spec.blob_store.as_deref().map(Arc::from);
    config.outbound_http = options.outbound_http.clone();
    config.use_connections(options.connections.of(&spec.id));
    config.log_to(&options.guest_output)?;
    config.preopens = files::preopens(spec, &options.state_dir, options.mounts)?;
    config.allowed_outbound = Arc::new(
        skiff_outbound_networking::AllowedHosts::parse(&spec.allowed_outbound_hosts, &|name| {
            options.variables.resolve_app_variable(name).ok().flatten()
        })
        .with_context(|| {
            format!(
                "invalid `allowed_outbound_hosts` for component `{}`",
                spec.id
            )
        })?
        .with_blocked(options.blocked_networks.clone()),
    );
    Ok(config)
}
