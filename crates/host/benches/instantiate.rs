//! Per-request cost through Skiff's own engine API, without the network: a fresh
//! store (WASI, HTTP, capability state), instantiation from the pre-instantiated
//! component on the pooling allocator, and one `wasi:http/incoming-handler.handle`
//! call answered in memory. Run with `cargo bench -p skiff-host --bench instantiate`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use skiff_engine::{EngineOptions, SkiffEngine};
use skiff_host::InstanceConfig;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

const WARMUP: usize = 2_000;
const SAMPLES: usize = 20_000;

fn main() -> anyhow::Result<()> {
    let cache = std::env::temp_dir().join("skiff-bench-instantiate-cache");
    let engine = SkiffEngine::new(EngineOptions {
        cache_dir: Some(cache),
        ..EngineOptions::default()
    })?;
    let component = engine
        .load_component(std::path::Path::new(
            test_programs_artifacts::HTTP_HELLO_COMPONENT,
        ))?
        .component;
    let linker = skiff_host::component_linker(engine.engine())?;
    let pre = ProxyPre::new(
        linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)?,
    )
    .map_err(anyhow::Error::from)?;
    let config = InstanceConfig::new("hello");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut instantiate = Vec::with_capacity(SAMPLES);
        let mut total = Vec::with_capacity(SAMPLES);
        for i in 0..WARMUP + SAMPLES {
            let t0 = Instant::now();
            let mut store = config.new_store(engine.engine(), Some(Duration::from_secs(5)))?;
            let proxy = pre
                .instantiate_async(&mut store)
                .await
                .map_err(anyhow::Error::from)?;
            let t1 = Instant::now();
            let req = http::Request::builder().uri("http://localhost/").body(
                http_body_util::Empty::<Bytes>::new()
                    .map_err(|never| -> wasmtime_wasi_http::Error { match never {} }),
            )?;
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, req)
                .map_err(anyhow::Error::from)?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            let out = store
                .data_mut()
                .http()
                .new_response_outparam(tx)
                .map_err(anyhow::Error::from)?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
                .map_err(anyhow::Error::from)?;
            let resp = rx.await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            assert_eq!(&body.to_bytes()[..], b"Hello from Skiff!\n");
            drop(store);
            if i >= WARMUP {
                instantiate.push(t1 - t0);
                total.push(t0.elapsed());
            }
        }
        report("store + instantiate", &mut instantiate);
        report("store + instantiate + handle + body", &mut total);
        anyhow::Ok(())
    })
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{what:<40} p50 {:>8.2} µs   p90 {:>8.2} µs   p99 {:>8.2} µs   (n = {})",
        at(0.50).as_secs_f64() * 1e6,
        at(0.90).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        samples.len()
    );
}
