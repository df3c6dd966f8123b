//! Per-request cost through Skiff's own engine API, without the network: a fresh
//! store (WASI, HTTP, capability state), instantiation from the pre-instantiated
//! component on the pooling allocator, and one `wasi:http/incoming-handler.handle`
//! call answered in memory — on the engine `skiff up` builds for the hello
//! component (no concurrency support: it needs none).
//!
//! `cargo bench -p skiff-host --bench instantiate`: criterion measures both
//! stages (estimates with confidence intervals, regressions against the last
//! run), then a plain loop of 20,000 requests prints per-request p50/p90/p99,
//! the figures the performance targets are stated in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use skiff_engine::{EngineOptions, SkiffEngine};
use skiff_host::{HostState, InstanceConfig};
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

const WARMUP: usize = 2_000;
const SAMPLES: usize = 20_000;

/// The hello component ready to instantiate, as `skiff up` loads it.
struct Hello {
    engine: SkiffEngine,
    pre: ProxyPre<HostState>,
    config: Arc<InstanceConfig>,
    rt: tokio::runtime::Runtime,
}

impl Hello {
    fn load() -> anyhow::Result<Self> {
        let path = std::path::Path::new(test_programs_artifacts::HTTP_HELLO_COMPONENT);
        let engine = SkiffEngine::new(EngineOptions {
            cache_dir: Some(std::env::temp_dir().join("skiff-bench-instantiate-cache")),
            concurrency: skiff_engine::needs_concurrency(&std::fs::read(path)?),
            ..EngineOptions::default()
        })?;
        let component = engine.load_component(path)?.component;
        let linker = skiff_host::component_linker(engine.engine())?;
        let pre = ProxyPre::new(
            linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)?,
        )
        .map_err(anyhow::Error::from)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Hello {
            engine,
            pre,
            config: Arc::new(InstanceConfig::new("hello")),
            rt,
        })
    }

    /// A fresh store and instance: what every request starts with.
    async fn instantiate(
        &self,
    ) -> anyhow::Result<(Store<HostState>, wasmtime_wasi_http::p2::bindings::Proxy)> {
        let mut store = self
            .config
            .new_store(self.engine.engine(), Some(Duration::from_secs(5)))?;
        let proxy = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)?;
        Ok((store, proxy))
    }

    /// One whole request: instantiate, `handle`, read the body.
    async fn request(&self) -> anyhow::Result<()> {
        let (mut store, proxy) = self.instantiate().await?;
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
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let hello = Hello::load().expect("could not load the hello component");
    let mut group = c.benchmark_group("hello");
    group.bench_function("store + instantiate", |b| {
        b.iter_custom(|iters| {
            hello.rt.block_on(async {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let t0 = Instant::now();
                    let instance = hello.instantiate().await.expect("instantiate");
                    spent += t0.elapsed();
                    drop(instance);
                }
                spent
            })
        })
    });
    group.bench_function("store + instantiate + handle + body", |b| {
        b.iter_custom(|iters| {
            hello.rt.block_on(async {
                let t0 = Instant::now();
                for _ in 0..iters {
                    hello.request().await.expect("request");
                }
                t0.elapsed()
            })
        })
    });
    group.finish();
    percentiles(&hello).expect("percentile run");
}

/// Per-request percentiles, which criterion's estimates (of means) do not give.
fn percentiles(hello: &Hello) -> anyhow::Result<()> {
    hello.rt.block_on(async {
        let mut instantiate = Vec::with_capacity(SAMPLES);
        let mut total = Vec::with_capacity(SAMPLES);
        for i in 0..WARMUP + SAMPLES {
            let t0 = Instant::now();
            let instance = hello.instantiate().await?;
            let ready = t0.elapsed();
            // Dropping the store returns the slot to the pool (and resets its
            // memory): part of a request's cost, not of its instantiation.
            drop(instance);
            let t1 = Instant::now();
            hello.request().await?;
            if i >= WARMUP {
                instantiate.push(ready);
                total.push(t1.elapsed());
            }
        }
        println!("\nper request, {SAMPLES} samples after {WARMUP} warm-up:");
        report("store + instantiate", &mut instantiate);
        report("store + instantiate + handle + body", &mut total);
        anyhow::Ok(())
    })
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{what:<40} p50 {:>8.2} µs   p90 {:>8.2} µs   p99 {:>8.2} µs",
        at(0.50).as_secs_f64() * 1e6,
        at(0.90).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
