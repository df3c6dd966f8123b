//! A minimal host for the `mqtt_*` guests: WASI (0.2 and 0.3), wasi:http
//! (`incoming-handler@0.2` and `handler@0.3`) and outbound MQTT; each
//! request gets a fresh instance, as in `skiff up`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use skiff_mqtt::{MqttHostView, MqttState, MqttView};
use skiff_outbound_networking::AllowedHosts;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    mqtt: MqttState,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

impl MqttHostView for Host {
    fn mqtt(&mut self) -> MqttView<'_> {
        MqttView {
            state: &mut self.mqtt,
            table: &mut self.table,
        }
    }
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(Engine::default)
}

/// A guest, pre-instantiated once per test binary.
#[derive(Clone)]
enum Guest {
    /// Exports `wasi:http/incoming-handler@0.2.x`.
    P2(ProxyPre<Host>),
    /// Exports `wasi:http/handler@0.3.0`.
    P3(ServicePre<Host>),
}

fn guest(path: &str) -> Result<Guest> {
    static CACHE: OnceLock<Mutex<HashMap<String, Guest>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    if let Some(guest) = cache.get(path) {
        return Ok(guest.clone());
    }
    let mut linker = Linker::<Host>::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    skiff_mqtt::add_to_linker(&mut linker)?;
    let component = Component::from_file(engine(), path)
        .map_err(|err| anyhow::anyhow!("could not compile {path}: {err:?}"))?;
    let pre = linker.instantiate_pre(&component)?;
    let guest = match ProxyPre::new(pre.clone()) {
        Ok(proxy) => Guest::P2(proxy),
        Err(_) => Guest::P3(ServicePre::new(pre)?),
    };
    cache.insert(path.to_string(), guest.clone());
    Ok(guest)
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// A component whose `allowed_outbound_hosts` are `allowed`.
pub struct App {
    allowed: Arc<AllowedHosts>,
}

impl App {
    pub fn new(allowed: &[&str]) -> Result<Self> {
        Ok(App {
            allowed: Arc::new(AllowedHosts::parse(allowed, &|_| None)?),
        })
    }

    /// Sends `POST <path_and_query>` with `body` to a fresh instance of the
    /// guest; returns the status and body.
    pub async fn send(
        &self,
        guest: &str,
        path_and_query: &str,
        body: &str,
    ) -> Result<(u16, String)> {
        let guest = self::guest(guest)?;
        let host = Host {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            mqtt: MqttState::new(self.allowed.clone(), "test-component".into()),
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

    /// `send`, expecting `200`; returns the body.
    pub async fn ok(&self, guest: &str, path_and_query: &str, body: &str) -> Result<String> {
        let (status, text) = self.send(guest, path_and_query, body).await?;
        anyhow::ensure!(status == 200, "{path_and_query}: status {status}: {text}");
        Ok(text)
    }
}

async fn read(response: http::Response<Body>) -> Result<(u16, String)> {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|err| anyhow::anyhow!("response body: {err:?}"))?
        .to_bytes();
    Ok((
        parts.status.as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

async fn send_p2(
    pre: ProxyPre<Host>,
    mut store: Store<Host>,
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
        Ok(response) => response.map_err(|code| anyhow::anyhow!("error code {code:?}"))?,
        Err(_) => {
            call.await??;
            anyhow::bail!("the guest returned without a response");
        }
    };
    let result = read(response).await?;
    call.await??;
    Ok(result)
}

async fn send_p3(
    pre: ServicePre<Host>,
    mut store: Store<Host>,
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
                .map_err(|code| anyhow::anyhow!("error code {code:?}"))?;
            let response =
                accessor.with(|mut access| response.into_http(&mut access, async { Ok(()) }))?;
            read(response).await
        })
        .await?
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
