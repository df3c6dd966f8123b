//! An in-process host for one guest component, the way `skiff up` serves it
//! but without the rest of Skiff: WASI 0.2 and 0.3, `wasi:http`
//! (`incoming-handler@0.2.x` or `handler@0.3.0`, whichever the guest exports)
//! and the capabilities a test adds. The guest is compiled and
//! pre-instantiated once per test binary; every request gets a fresh
//! instance and a fresh capability state.
//!
//! A capability crate's tests give [`GuestApp`] a function that makes the
//! per-request state (e.g. `skiff_redis::RedisState`), whose type says which
//! host bindings to link ([`Capability`]). The host views of Skiff's
//! capabilities are implemented here for any state that [`Holds`] theirs,
//! each behind the capability's cargo feature.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Mutex, OnceLock};

use anyhow::{Result, anyhow, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The store data of one instance: WASI, `wasi:http`, the resource table and
/// the capability state `S`.
pub struct GuestHost<S> {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    state: S,
}

impl<S> GuestHost<S> {
    /// The capability state and the resource table, for a capability's view.
    pub fn state_and_table(&mut self) -> (&mut S, &mut ResourceTable) {
        (&mut self.state, &mut self.table)
    }
}

impl<S: Send> WasiView for GuestHost<S> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl<S: Send> WasiHttpView for GuestHost<S> {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// The per-request state of the capabilities a guest is given: it adds their
/// host bindings to the linker.
pub trait Capability: Send + Sized + 'static {
    /// Adds this capability's interfaces to `linker` (WASI and `wasi:http` are
    /// already there).
    fn add_to_linker(linker: &mut Linker<GuestHost<Self>>) -> Result<()>;
}

/// No capability beyond WASI and `wasi:http`.
pub struct NoCapability;

impl Capability for NoCapability {
    fn add_to_linker(_: &mut Linker<GuestHost<Self>>) -> Result<()> {
        Ok(())
    }
}

/// A state that contains a `T` (a capability's own state): the host views of
/// Skiff's capabilities are implemented for every `GuestHost<S>` whose `S`
/// holds that capability's state. Every state holds itself; a test that
/// combines capabilities implements it for each part of its own state type.
pub trait Holds<T> {
    /// The contained `T`.
    fn part(&mut self) -> &mut T;
}

impl<T> Holds<T> for T {
    fn part(&mut self) -> &mut T {
        self
    }
}

/// The engine the guests of a test binary share (wasmtime's defaults).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(Engine::default)
}

/// A guest pre-instantiated for the state `S`.
enum Guest<S: 'static> {
    /// Exports `wasi:http/incoming-handler@0.2.x`.
    P2(ProxyPre<GuestHost<S>>),
    /// Exports `wasi:http/handler@0.3.0`.
    P3(ServicePre<GuestHost<S>>),
}

impl<S> Clone for Guest<S> {
    fn clone(&self) -> Self {
        match self {
            Guest::P2(pre) => Guest::P2(pre.clone()),
            Guest::P3(pre) => Guest::P3(pre.clone()),
        }
    }
}

/// The guest at `path` linked for `S`, compiled once per test binary.
fn guest<S: Capability>(path: &str) -> Result<Guest<S>> {
    type Cache = HashMap<(TypeId, String), Box<dyn Any + Send>>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let key = (TypeId::of::<S>(), path.to_string());
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(guest) = cache.get(&key).and_then(|g| g.downcast_ref::<Guest<S>>()) {
        return Ok(guest.clone());
    }
    let mut linker = Linker::<GuestHost<S>>::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    S::add_to_linker(&mut linker)?;
    let component = Component::from_file(engine(), path)
        .map_err(|err| anyhow!("could not compile {path}: {err:?}"))?;
    let pre = linker.instantiate_pre(&component)?;
    let guest = match ProxyPre::new(pre.clone()) {
        Ok(proxy) => Guest::P2(proxy),
        Err(_) => Guest::P3(ServicePre::new(pre)?),
    };
    cache.insert(key, Box::new(guest.clone()));
    Ok(guest)
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// A component as a test sees it: guests are sent requests, each served by a
/// fresh instance with the state `make_state` returns.
pub struct GuestApp<S> {
    make_state: Box<dyn Fn() -> S + Send + Sync>,
}

impl<S: Capability> GuestApp<S> {
    /// An app whose instances get `make_state()` as their capability state.
    pub fn new(make_state: impl Fn() -> S + Send + Sync + 'static) -> Self {
        GuestApp {
            make_state: Box::new(make_state),
        }
    }

    /// Sends `POST <path_and_query>` with `body` to a fresh instance of the
    /// guest at `guest` (a component file); returns the status and body.
    pub async fn send(
        &self,
        guest: &str,
        path_and_query: &str,
        body: &str,
    ) -> Result<(u16, String)> {
        send(guest, (self.make_state)(), path_and_query, body).await
    }

    /// [`send`](Self::send), expecting `200`; returns the body.
    pub async fn ok(&self, guest: &str, path_and_query: &str, body: &str) -> Result<String> {
        ok(guest, (self.make_state)(), path_and_query, body).await
    }
}

/// Sends `POST <path_and_query>` with `body` to a fresh instance of the guest
/// at `guest` (a component file) whose capability state is `state`; returns
/// the status and body.
pub async fn send<S: Capability>(
    guest: &str,
    state: S,
    path_and_query: &str,
    body: &str,
) -> Result<(u16, String)> {
    let guest = self::guest::<S>(guest)?;
    let host = GuestHost {
        wasi: WasiCtx::builder().inherit_stderr().build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        state,
    };
    let store = Store::new(engine(), host);
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path_and_query}"))
        .body(
            Full::new(Bytes::from(body.to_string()))
                .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
                .boxed_unsync(),
        )?;
    match guest {
        Guest::P2(pre) => send_p2(pre, store, request).await,
        Guest::P3(pre) => send_p3(pre, store, request).await,
    }
}

/// [`send`], expecting `200`; returns the body.
pub async fn ok<S: Capability>(
    guest: &str,
    state: S,
    path_and_query: &str,
    body: &str,
) -> Result<String> {
    let (status, text) = send(guest, state, path_and_query, body).await?;
    ensure!(status == 200, "{path_and_query}: status {status}: {text}");
    Ok(text)
}

async fn read(response: http::Response<Body>) -> Result<(u16, String)> {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|err| anyhow!("response body: {err:?}"))?
        .to_bytes();
    Ok((
        parts.status.as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

async fn send_p2<S: Capability>(
    pre: ProxyPre<GuestHost<S>>,
    mut store: Store<GuestHost<S>>,
    request: http::Request<Body>,
) -> Result<(u16, String)> {
    let request = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, request)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let out = store.data_mut().http().new_response_outparam(tx)?;
    let proxy = pre.instantiate_async(&mut store).await?;
    let call = tokio::spawn(async move {
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, request, out)
            .await
    });
    let response = match rx.await {
        Ok(response) => response.map_err(|code| anyhow!("error code {code:?}"))?,
        Err(_) => {
            call.await??;
            bail!("the guest returned without a response");
        }
    };
    let result = read(response).await?;
    call.await??;
    Ok(result)
}

async fn send_p3<S: Capability>(
    pre: ServicePre<GuestHost<S>>,
    mut store: Store<GuestHost<S>>,
    request: http::Request<Body>,
) -> Result<(u16, String)> {
    let service = pre.instantiate_async(&mut store).await?;
    let (request, _io) =
        wasmtime_wasi_http::p3::Request::from_http(wasmtime_wasi_http::default_hooks(), request);
    store
        .run_concurrent(async |accessor| {
            let response = service
                .handle(accessor, request)
                .await?
                .map_err(|code| anyhow!("error code {code:?}"))?;
            let response =
                accessor.with(|mut access| response.into_http(&mut access, async { Ok(()) }))?;
            read(response).await
        })
        .await?
}

/// `/?db=DB&op=OP&p=…` for `params` in `TYPE:VALUE` form: a request to the
/// SQL guests of `crates/test-programs` (`sql_sqlite*`, `sql_pg*`).
pub fn sql_url(db: &str, op: &str, params: &[&str]) -> String {
    let mut url = format!("/?db={}&op={op}", enc(db));
    for p in params {
        url.push_str("&p=");
        url.push_str(&enc(p));
    }
    url
}

/// Percent-encodes a query value.
pub fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Implements a capability's host view for every `GuestHost<S>` whose state
/// holds the capability's state, and makes that state a [`Capability`].
macro_rules! capability {
    ($feature:literal, $krate:ident, $state:ident, $view_trait:ident, $method:ident, $view:ident) => {
        #[cfg(feature = $feature)]
        impl<S: Holds<$krate::$state> + Send> $krate::$view_trait for GuestHost<S> {
            fn $method(&mut self) -> $krate::$view<'_> {
                let (state, table) = self.state_and_table();
                $krate::$view {
                    state: state.part(),
                    table,
                }
            }
        }

        #[cfg(feature = $feature)]
        impl Capability for $krate::$state {
            fn add_to_linker(linker: &mut Linker<GuestHost<Self>>) -> Result<()> {
                $krate::add_to_linker(linker)
            }
        }
    };
}

capability!("kv", skiff_kv, KvState, KvHostView, kv, KvView);
capability!("mqtt", skiff_mqtt, MqttState, MqttHostView, mqtt, MqttView);
capability!("postgres", skiff_postgres, PgState, PgHostView, pg, PgView);
capability!(
    "redis",
    skiff_redis,
    RedisState,
    RedisHostView,
    redis,
    RedisView
);
capability!(
    "sqlite",
    skiff_sqlite,
    SqliteState,
    SqliteHostView,
    sqlite,
    SqliteView
);
