//! The `vars_*` guests, each served by a minimal host: wasmtime-wasi p2 +
//! wasmtime-wasi-http + this crate's `add_to_linker`, on Skiff's own engine
//! configuration (pooling allocator, epochs).

use std::sync::{Arc, LazyLock};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use skiff_engine::{EngineOptions, SkiffEngine};
use skiff_variables::{Provider, Resolver, Value, VariablesState, VariablesView};
use wasmtime::Store;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::{component, default, env, required, vars};

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[expect(unused_imports, reason = "only checks that the test exists")]
        use self::$name as _;
    };
}
test_programs_artifacts::foreach_vars!(assert_test_exists);

struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    vars: VariablesState,
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
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

impl VariablesView for Host {
    fn variables(&mut self) -> &mut VariablesState {
        &mut self.vars
    }
}

/// A provider that is down for `flaky`.
#[derive(Debug)]
struct Failing;

impl Provider for Failing {
    fn kind(&self) -> &str {
        "failing"
    }

    fn get(&self, name: &str) -> anyhow::Result<Option<Value>> {
        match name {
            "flaky" => anyhow::bail!("backend down"),
            _ => Ok(None),
        }
    }
}

static ENGINE: LazyLock<SkiffEngine> = LazyLock::new(|| {
    SkiffEngine::new(EngineOptions {
        max_instances: 16,
        cache_dir: None,
        ..EngineOptions::default()
    })
    .expect("engine")
});

/// The application every guest test runs: component `c` maps a few variables.
fn app_resolver() -> Result<Resolver> {
    env();
    let mut providers: Vec<Box<dyn Provider>> = vec![Box::new(Failing)];
    providers.extend(crate::providers(
        "[[variables_provider]]\ntype = \"static\"\nvalues = { api_token = \"tok-123\" }",
    ));
    Ok(Resolver::new(
        &vars(&[
            ("greeting", default("hello")),
            ("vt_guest_env", default("unused")),
            ("unset", required()),
            ("api_token", required()),
            ("flaky", default("never-seen")),
        ]),
        [(
            "c".to_string(),
            component(&[
                ("message", "{{ greeting }}, world"),
                ("from_env", "{{ vt_guest_env }}"),
                ("literal", "plain"),
                ("token", "Bearer {{api_token}}"),
                ("broken", "{{ unset }}"),
                ("flaky", "{{ flaky }}"),
            ]),
        )],
        providers,
    )?)
}

struct Guest {
    pre: ProxyPre<Host>,
    resolver: Arc<Resolver>,
}

impl Guest {
    fn new(path: &str) -> Result<Self> {
        let engine = ENGINE.engine();
        let component = Component::from_file(engine, path)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("could not compile {path}"))?;
        let mut linker = Linker::<Host>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)?;
        skiff_variables::add_to_linker(&mut linker)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)?;
        Ok(Guest {
            pre: ProxyPre::new(pre).map_err(anyhow::Error::from)?,
            resolver: Arc::new(app_resolver()?),
        })
    }

    /// Sends `GET path` to a fresh instance; returns the status and body.
    async fn get(&self, path: &str) -> Result<(u16, String)> {
        let mut store = Store::new(
            ENGINE.engine(),
            Host {
                wasi: WasiCtx::builder().build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                vars: VariablesState::new(self.resolver.clone(), "c"),
            },
        );
        skiff_engine::arm_deadline(&mut store, Some(std::time::Duration::from_secs(30)));
        let request = http::Request::get(format!("http://localhost{path}")).body(
            Empty::<Bytes>::new().map_err(|never| -> wasmtime_wasi_http::Error { match never {} }),
        )?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(anyhow::Error::from)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(tx)
            .map_err(anyhow::Error::from)?;
        let proxy = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)?;
        let call = tokio::spawn(async move {
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
                .map_err(anyhow::Error::from)
        });
        let response = match rx.await {
            Ok(response) => {
                response.map_err(|code| anyhow::anyhow!("guest error code {code:?}"))?
            }
            Err(_) => {
                call.await??;
                anyhow::bail!("the guest returned without a response");
            }
        };
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading the response body: {e:?}"))?
            .to_bytes();
        call.await??;
        Ok((status, String::from_utf8(body.to_vec())?))
    }

    /// `GET /?name=<name>`.
    async fn var(&self, name: &str) -> Result<(u16, String)> {
        self.get(&format!("/?name={name}")).await
    }
}

/// The answers every Spin-interface guest must give, whatever the package version.
async fn check_spin_guest(guest: &Guest) -> Result<()> {
    assert_eq!(guest.var("message").await?, (200, "hello, world".into()));
    assert_eq!(guest.var("from_env").await?, (200, "guest-from-env".into()));
    assert_eq!(guest.var("literal").await?, (200, "plain".into()));
    assert_eq!(guest.var("token").await?, (200, "Bearer tok-123".into()));

    let (status, body) = guest.var("greeting").await?;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            "error: undefined: component `c` has no variable `greeting`"
        )
    );
    let (_, body) = guest.var("broken").await?;
    assert!(
        body.starts_with("error: undefined: variable `unset` has no value"),
        "{body}"
    );
    let (_, body) = guest.var("Bad-Name").await?;
    assert_eq!(
        body,
        "error: invalid-name: invalid variable name `Bad-Name`: must be lower-case"
    );
    let (_, body) = guest.var("flaky").await?;
    assert_eq!(
        body,
        "error: provider: variables provider `failing` failed to look up `flaky`: backend down"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn vars_wasi() -> Result<()> {
    let guest = Guest::new(test_programs_artifacts::VARS_WASI_COMPONENT)?;
    assert_eq!(guest.var("message").await?, (200, "hello, world".into()));
    assert_eq!(guest.var("from_env").await?, (200, "guest-from-env".into()));
    assert_eq!(guest.var("literal").await?, (200, "plain".into()));
    // wasi:config has no invalid-name or undefined error: all of these are `none`.
    for name in ["greeting", "missing", "broken", "Bad-Name"] {
        assert_eq!(guest.var(name).await?, (404, "none".into()), "{name}");
    }
    let (_, body) = guest.var("flaky").await?;
    assert_eq!(
        body,
        "error: upstream: variables provider `failing` failed to look up `flaky`: backend down"
    );
    // get-all fails as a whole when a provider fails...
    let (_, body) = guest.get("/?all=1").await?;
    assert!(body.starts_with("error: upstream: "), "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn vars_wasi_get_all() -> Result<()> {
    // ...and otherwise lists the component's keys that have values, sorted.
    let mut guest = Guest::new(test_programs_artifacts::VARS_WASI_COMPONENT)?;
    env();
    guest.resolver = Arc::new(Resolver::new(
        &vars(&[("greeting", default("hello")), ("unset", required())]),
        [(
            "c".to_string(),
            component(&[
                ("message", "{{ greeting }}, world"),
                ("literal", "plain"),
                ("broken", "{{ unset }}"),
            ]),
        )],
        crate::providers(""),
    )?);
    assert_eq!(
        guest.get("/?all=1").await?,
        (200, "literal=plain\nmessage=hello, world\n".into())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn vars_spin2() -> Result<()> {
    check_spin_guest(&Guest::new(test_programs_artifacts::VARS_SPIN2_COMPONENT)?).await
}

#[tokio::test(flavor = "multi_thread")]
async fn vars_spin3() -> Result<()> {
    check_spin_guest(&Guest::new(test_programs_artifacts::VARS_SPIN3_COMPONENT)?).await
}

/// Collects everything a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything logged by this test binary at any level, from the moment
/// [`capture_logs`] first runs. A process-wide subscriber (not a scoped one) so that
/// `tracing`'s per-callsite interest cache cannot hide events when tests race.
fn capture_logs() -> &'static LogBuffer {
    static LOGS: LazyLock<LogBuffer> = LazyLock::new(|| {
        let logs = LogBuffer::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
        logs
    });
    &LOGS
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_name_variables_but_never_values() -> Result<()> {
    let logs = capture_logs();
    let guest = Guest::new(test_programs_artifacts::VARS_SPIN2_COMPONENT)?;
    assert_eq!(guest.var("token").await?, (200, "Bearer tok-123".into()));
    let (_, body) = guest.var("broken").await?;
    assert!(body.starts_with("error: undefined"), "{body}");
    guest.resolver.check_required().unwrap_err();

    let logs = String::from_utf8(logs.0.lock().unwrap().clone())?;
    assert!(logs.contains("skiff_variables.get{"), "{logs}");
    assert!(logs.contains("variable=\"token\""), "{logs}");
    assert!(logs.contains("fermyon:spin/variables@2.0.0"), "{logs}");
    // Other tests may be logging too: no value of any of them may show up either.
    for value in [
        "tok-123",
        "hello, world",
        "guest-from-env",
        "s3cr3t-static-value",
        "s3cr3t-env-value",
        "s3cr3t-default",
    ] {
        assert!(
            !logs.contains(value),
            "`{value}` leaked into the logs:\n{logs}"
        );
    }
    Ok(())
}
