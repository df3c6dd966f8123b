//! Outbound clear-text HTTP/2 with prior knowledge (h2c) through `skiff up`:
//! Spin's `SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE`, Skiff's
//! `SKIFF_OUTBOUND_H2C_PRIOR_KNOWLEDGE` and `[outbound_http]
//! h2c_prior_knowledge` send a component's `http://` requests to the
//! authorities they name as HTTP/2 from the first byte, on one shared
//! connection; other destinations keep HTTP/1.1; a reload that adds the key
//! switches new requests; a malformed entry fails the start, naming where it
//! was written.
//!
//! The upstream is hyper's HTTP/2-only server on a loopback port of this
//! process (no TLS, no HTTP/1.1): it answers each request with `conn N
//! VERSION`, which of its connections (in the order accepted) carried it and
//! the protocol version it saw.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use test_programs_artifacts::HTTP_OUTBOUND_COMPONENT;

use crate::harness::{AppDir, Server, get, replace_file, shared_cache, up_fails};
use crate::http::component;

/// How long a reload may take to show.
const EFFECT_BOUND: Duration = Duration::from_secs(15);

/// What the HTTP/2-only upstream answers on its first connection.
const H2_ANSWER: &str = "status: 200\nconn 1 HTTP/2.0";

/// An HTTP/2-only clear-text server (hyper's `http2` connection builder on a
/// loopback listener), answering each request after `delay`.
struct H2Upstream {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl H2Upstream {
    async fn start(delay: Duration) -> Result<Self> {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let conn = count.fetch_add(1, Ordering::SeqCst) + 1;
                let service = hyper::service::service_fn(move |req: http::Request<_>| async move {
                    tokio::time::sleep(delay).await;
                    let body = format!("conn {conn} {:?}", req.version());
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from(body)),
                    ))
                });
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        Ok(H2Upstream { port, accepted })
    }

    fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// How many connections it has accepted.
    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// An app whose component `out` (the `http_outbound` guest) may reach `upstream`.
fn app(upstream: &H2Upstream) -> Result<AppDir> {
    let grant = format!(
        "allowed_outbound_hosts = [\"http://{}\"]",
        upstream.authority()
    );
    AppDir::with_manifest(&component("/out", "out", HTTP_OUTBOUND_COMPONENT, &grant))
}

/// What `out` answered for its `GET http://AUTHORITY/`.
async fn fetch(server: &Server, authority: &str) -> Result<String> {
    let url = server.url(&format!("/out?url=http://{authority}/"));
    Ok(get(&url).await?.assert_status(200).text())
}

/// Fetches until the answer satisfies `done`, for as long as a reload may
/// take; returns that answer.
async fn fetch_until(
    server: &Server,
    authority: &str,
    done: impl Fn(&str) -> bool,
) -> Result<String> {
    let start = Instant::now();
    loop {
        let text = fetch(server, authority).await?;
        if done(&text) {
            return Ok(text);
        }
        if start.elapsed() > EFFECT_BOUND {
            bail!("`/out` still answers `{text}` after {EFFECT_BOUND:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the guest answers when its request went as HTTP/1.1 to the
/// HTTP/2-only upstream (or the other way round): `wasi:http`'s
/// `HTTP-protocol-error`.
fn assert_protocol_error(text: &str) {
    assert_eq!(text, "error: ErrorCode::HttpProtocolError\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn spins_environment_variable_sends_http_requests_as_http2() -> Result<()> {
    let upstream = H2Upstream::start(Duration::ZERO).await?;
    let dir = app(&upstream)?;
    let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.env("SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE", upstream.authority());
    })?;
    assert_eq!(fetch(&server, &upstream.authority()).await?, H2_ANSWER);
    assert_eq!(upstream.connections(), 1);
    Ok(())
}

/// Without h2c, the request goes as HTTP/1.1, which an HTTP/2-only server
/// does not understand: the guest gets an error.
#[tokio::test(flavor = "multi_thread")]
async fn without_prior_knowledge_requests_go_as_http1() -> Result<()> {
    let upstream = H2Upstream::start(Duration::ZERO).await?;
    let dir = app(&upstream)?;
    let server = Server::start(dir.path(), shared_cache()?)?;
    assert_protocol_error(&fetch(&server, &upstream.authority()).await?);
    Ok(())
}

/// Skiff's variable takes a comma-separated list; the authority must match
/// with its port.
#[tokio::test(flavor = "multi_thread")]
async fn skiffs_environment_variable_takes_a_list() -> Result<()> {
    let upstream = H2Upstream::start(Duration::ZERO).await?;
    let dir = app(&upstream)?;
    let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.env(
            "SKIFF_OUTBOUND_H2C_PRIOR_KNOWLEDGE",
            format!("grpc.internal:50051, {}", upstream.authority()),
        );
    })?;
    assert_eq!(fetch(&server, &upstream.authority()).await?, H2_ANSWER);
    Ok(())
}

/// `[outbound_http] h2c_prior_knowledge`: concurrent requests from several
/// instances of the component share one HTTP/2 connection (the upstream
/// answers each after 300 ms, so eight at once overlap: HTTP/1.1 would need
/// eight connections), which the metrics count once.
#[tokio::test(flavor = "multi_thread")]
async fn the_runtime_config_key_shares_one_connection() -> Result<()> {
    let upstream = H2Upstream::start(Duration::from_millis(300)).await?;
    let dir = app(&upstream)?;
    let rc = dir.write(
        "runtime-config.toml",
        format!(
            "[outbound_http]\nh2c_prior_knowledge = [\"{}\"]\n",
            upstream.authority()
        ),
    )?;
    let at = format!("127.0.0.1:{}", skiff_test_support::free_port()?);
    let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config")
            .arg(&rc)
            .args(["--metrics", &at]);
    })?;
    server.stdout().wait_for(
        &format!("Metrics http://{at}/metrics"),
        Duration::from_secs(10),
    )?;
    assert_eq!(fetch(&server, &upstream.authority()).await?, H2_ANSWER);
    let url = server.url(&format!("/out?url=http://{}/", upstream.authority()));
    let at_once: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get(&url).await.map(|resp| resp.text()) })
        })
        .collect();
    for task in at_once {
        assert_eq!(task.await??, H2_ANSWER);
    }
    assert_eq!(upstream.connections(), 1);
    let metrics = get(&format!("http://{at}/metrics")).await?.text();
    let opened = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix("skiff_outbound_http_connections_opened_total{component=\"out\"} ")
        })
        .with_context(|| format!("no opened count for `out` in:\n{metrics}"))?;
    assert_eq!(opened, "1");
    Ok(())
}

/// A reload that adds the key switches new requests to h2c.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_adds_the_key_switches_to_h2c() -> Result<()> {
    let upstream = H2Upstream::start(Duration::ZERO).await?;
    let dir = app(&upstream)?;
    let rc = dir.write("runtime-config.toml", "")?;
    let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(&rc);
    })?;
    assert_protocol_error(&fetch(&server, &upstream.authority()).await?);
    replace_file(
        &rc,
        &format!(
            "[outbound_http]\nh2c_prior_knowledge = [\"{}\"]\n",
            upstream.authority()
        ),
    )?;
    // Each HTTP/1.1 attempt until the reload showed was a connection.
    let h2 = fetch_until(&server, &upstream.authority(), |text| {
        text.ends_with(" HTTP/2.0")
    })
    .await?;
    // The next request shares the h2c connection.
    assert_eq!(fetch(&server, &upstream.authority()).await?, h2);
    assert_eq!(
        h2,
        format!("status: 200\nconn {} HTTP/2.0", upstream.connections())
    );
    Ok(())
}

/// A malformed entry fails the start, naming the variable or the runtime
/// config file and key it was written in.
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_entry_fails_the_start_naming_its_source() -> Result<()> {
    let upstream = H2Upstream::start(Duration::ZERO).await?;
    let dir = app(&upstream)?;
    for name in [
        "SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE",
        "SKIFF_OUTBOUND_H2C_PRIOR_KNOWLEDGE",
    ] {
        let out = up_fails(dir.path(), shared_cache()?, |cmd| {
            cmd.env(name, "grpc.internal");
        })?;
        out.assert_stderr_contains(&format!(
            "environment variable `{name}`: `grpc.internal` is not `host:port`: the port is missing"
        ));
    }
    let rc = dir.write(
        "runtime-config.toml",
        "[outbound_http]\nh2c_prior_knowledge = [\"http://grpc.internal:50051\"]\n",
    )?;
    let out = up_fails(dir.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(&rc);
    })?;
    out.assert_stderr_contains(&format!(
        "runtime config `{}`: `outbound_http.h2c_prior_knowledge`: `http://grpc.internal:50051` is \
         not `host:port`: write the host and port without a scheme",
        rc.display()
    ));
    Ok(())
}
