//! Kept-alive outbound HTTP (`connection_pooling` in `[outbound_http]`, on by
//! default as in Spin) through `skiff up`: a component's requests to one
//! destination share a connection, WASI 0.2 and 0.3 guests alike; components
//! never share one; `connection_pooling = false` connects for every request,
//! and a reload switches it; HTTPS connections are kept under the TLS
//! configuration they were made with, so a reloaded `[[client_tls]]` entry
//! gets new ones. `skiff up --metrics` counts each component's connections
//! opened and reused, and those idle.
//!
//! The upstream (plain HTTP, or TLS through rustls with a CA of the test's)
//! answers every request with `conn N req M`: which of its connections, in
//! the order accepted, and which request on that connection.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use tempfile::TempDir;
use test_programs_artifacts::{HTTP_OUTBOUND_COMPONENT, HTTP_OUTBOUND3_COMPONENT};

use crate::harness::{AppDir, Server, get, replace_file, shared_cache, tempdir, toml_path};
use crate::http::component;

/// How long a reload may take to show.
const EFFECT_BOUND: Duration = Duration::from_secs(15);

/// A keep-alive HTTP/1.1 upstream on a free loopback port.
struct Upstream {
    port: u16,
    accepted: Arc<AtomicUsize>,
    /// `ca.crt`, `server.crt` and `server.key` of a TLS upstream.
    dir: Option<TempDir>,
    /// The targets of the requests answered, in order (plain and TLS
    /// upstreams).
    targets: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    /// Plain HTTP.
    fn plain() -> Result<Self> {
        Self::start(None)
    }

    /// HTTPS, with a certificate for `127.0.0.1` from a CA of its own
    /// (`dir/ca.crt`), which nothing trusts by default.
    fn tls() -> Result<Self> {
        let (dir, config) = server_tls(&[])?;
        let mut upstream = Self::start(Some(config))?;
        upstream.dir = Some(dir);
        Ok(upstream)
    }

    /// HTTPS that chooses HTTP/2 by ALPN (hyper's server, on the test's
    /// runtime), answering each request after `delay` with `conn N req M
    /// VERSION AUTHORITY host:HOST` (`-` for what the request lacks) and the
    /// trailer `grpc-status: 0`.
    fn h2(delay: Duration) -> Result<Self> {
        use http_body_util::{BodyExt, Full};
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let (dir, config) = server_tls(&[b"h2", b"http/1.1"])?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let conn = count.fetch_add(1, Ordering::SeqCst) + 1;
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let requests = Arc::new(AtomicUsize::new(0));
                    let service = hyper::service::service_fn(move |req: http::Request<_>| {
                        let req_n = requests.fetch_add(1, Ordering::SeqCst) + 1;
                        async move {
                            tokio::time::sleep(delay).await;
                            let host = req
                                .headers()
                                .get(http::header::HOST)
                                .and_then(|h| h.to_str().ok())
                                .unwrap_or("-");
                            let authority = req.uri().authority().map_or("-", |a| a.as_str());
                            let body = format!(
                                "conn {conn} req {req_n} {:?} {authority} host:{host}",
                                req.version()
                            );
                            // gRPC's shape: the status in a trailer.
                            let mut trailers = http::HeaderMap::new();
                            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                            let body = Full::new(bytes::Bytes::from(body))
                                .with_trailers(async move { Some(Ok(trailers)) });
                            Ok::<_, std::convert::Infallible>(http::Response::new(body))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Upstream {
            port,
            accepted,
            dir: Some(dir),
            targets: Arc::default(),
        })
    }

    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let targets: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = targets.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let conn = count.fetch_add(1, Ordering::SeqCst) + 1;
                let (tls, seen) = (tls.clone(), seen.clone());
                std::thread::spawn(move || match tls {
                    None => answer(tcp, conn, &seen),
                    Some(config) => {
                        if let Ok(session) = rustls::ServerConnection::new(config) {
                            answer(rustls::StreamOwned::new(session, tcp), conn, &seen);
                        }
                    }
                });
            }
        });
        Ok(Upstream {
            port,
            accepted,
            dir: None,
            targets,
        })
    }

    /// How many of the requests answered had a target starting with `prefix`.
    fn answered(&self, prefix: &str) -> usize {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|t| t.starts_with(prefix))
            .count()
    }

    /// How many connections it has accepted.
    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Certificates from a CA of the test's own (`ca.crt`, which nothing trusts
/// by default), and a server configuration offering `alpn`.
fn server_tls(alpn: &[&[u8]]) -> Result<(TempDir, Arc<rustls::ServerConfig>)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = tempdir()?;
    skiff_test_support::make_certificates(dir.path())?;
    let certs = CertificateDer::pem_file_iter(dir.path().join("server.crt"))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(dir.path().join("server.key"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok((dir, Arc::new(config)))
}

/// Answers the requests of connection `conn` until the client closes it,
/// noting each one's target in `targets` before answering.
fn answer(mut stream: impl Read + Write, conn: usize, targets: &Mutex<Vec<String>>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    for req in 1.. {
        let end = loop {
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        };
        let head = String::from_utf8_lossy(&seen[..end]).into_owned();
        let target = head.split(' ').nth(1).unwrap_or_default().to_string();
        targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(target);
        seen.drain(..end + 4);
        let body = format!("conn {conn} req {req}");
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() || stream.flush().is_err() {
            return;
        }
    }
}

/// Components `out` and `other` (WASI 0.2) and `out3` (WASI 0.3), each
/// granted `SCHEME://127.0.0.1:PORT`.
pub(crate) fn manifest(scheme: &str, port: u16) -> String {
    let grant = format!("allowed_outbound_hosts = [\"{scheme}://127.0.0.1:{port}\"]");
    [
        component("/out", "out", HTTP_OUTBOUND_COMPONENT, &grant),
        component("/other", "other", HTTP_OUTBOUND_COMPONENT, &grant),
        format!(
            "[[trigger.http]]\nroute = \"/out3\"\ncomponent = \"out3\"\n\n[component.out3]\nsource = {}\n{grant}\n",
            toml_path(HTTP_OUTBOUND3_COMPONENT)
        ),
    ]
    .concat()
}

/// The app of [`manifest`] served with the runtime config `rc`.
struct App {
    _dir: AppDir,
    rc: std::path::PathBuf,
    server: Server,
    scheme: &'static str,
    port: u16,
}

impl App {
    fn start(upstream: &Upstream, rc: &str) -> Result<Self> {
        Self::start_with(upstream, rc, None)
    }

    /// Also serving metrics at `metrics` (`IP:PORT`).
    fn start_with(upstream: &Upstream, rc: &str, metrics: Option<&str>) -> Result<Self> {
        let scheme = if upstream.dir.is_some() {
            "https"
        } else {
            "http"
        };
        let dir = AppDir::with_manifest(&manifest(scheme, upstream.port))?;
        let rc_path = dir.write("runtime-config.toml", rc)?;
        if let Some(certs) = &upstream.dir {
            std::fs::copy(certs.path().join("ca.crt"), dir.path().join("ca.crt"))?;
        }
        let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
            cmd.arg("--runtime-config").arg(&rc_path);
            if let Some(at) = metrics {
                cmd.args(["--metrics", at]);
            }
        })?;
        if let Some(at) = metrics {
            server.stdout().wait_for(
                &format!("Metrics http://{at}/metrics"),
                Duration::from_secs(10),
            )?;
        }
        Ok(App {
            _dir: dir,
            rc: rc_path,
            server,
            scheme,
            port: upstream.port,
        })
    }

    /// What the upstream answered component `route`'s `GET`: `conn N req M`,
    /// or the guest's error.
    async fn fetch(&self, route: &str) -> Result<String> {
        let url = format!("{}://127.0.0.1:{}/", self.scheme, self.port);
        let resp = get(&self.server.url(&format!("{route}?url={url}"))).await?;
        let text = resp.text();
        // The WASI 0.2 guest prefixes the status; the 0.3 guest answers with
        // the upstream's response as it is.
        Ok(text
            .strip_prefix("status: 200\n")
            .unwrap_or(&text)
            .to_string())
    }

    /// Fetches through `route` until the answer satisfies `done`, for as long
    /// as a reload may take; returns that answer.
    async fn fetch_until(&self, route: &str, done: impl Fn(&str) -> bool) -> Result<String> {
        let start = Instant::now();
        loop {
            let text = self.fetch(route).await?;
            if done(&text) {
                return Ok(text);
            }
            if start.elapsed() > EFFECT_BOUND {
                bail!("`{route}` still answers `{text}` after {EFFECT_BOUND:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The connection number of an answer `conn N req M`.
fn conn_of(text: &str) -> Result<usize> {
    text.strip_prefix("conn ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("not an upstream answer: `{text}`"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_components_requests_share_a_kept_alive_connection() -> Result<()> {
    let upstream = Upstream::plain()?;
    let app = App::start(&upstream, "")?;
    for req in 1..=3 {
        assert_eq!(app.fetch("/out").await?, format!("conn 1 req {req}"));
    }
    // Another component has a pool of its own, WASI 0.3 guests too.
    assert_eq!(app.fetch("/other").await?, "conn 2 req 1");
    assert_eq!(app.fetch("/out3").await?, "conn 3 req 1");
    assert_eq!(app.fetch("/out3").await?, "conn 3 req 2");
    assert_eq!(app.fetch("/other").await?, "conn 2 req 2");
    assert_eq!(app.fetch("/out").await?, "conn 1 req 4");
    assert_eq!(upstream.connections(), 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_pooling_false_connects_for_every_request_until_a_reload() -> Result<()> {
    let upstream = Upstream::plain()?;
    let off = "[outbound_http]\nconnection_pooling = false\n";
    let app = App::start(&upstream, off)?;
    assert_eq!(app.fetch("/out").await?, "conn 1 req 1");
    assert_eq!(app.fetch("/out").await?, "conn 2 req 1");
    assert_eq!(app.fetch("/out3").await?, "conn 3 req 1");

    replace_file(&app.rc, "[outbound_http]\nconnection_pooling = true\n")?;
    let kept = app
        .fetch_until("/out", |text| text.ends_with("req 2"))
        .await?;
    let conn = conn_of(&kept)?;
    assert_eq!(app.fetch("/out").await?, format!("conn {conn} req 3"));

    replace_file(&app.rc, off)?;
    app.fetch_until("/out", |text| text.ends_with("req 1"))
        .await?;
    let before = upstream.connections();
    let text = app.fetch("/out").await?;
    assert_eq!(text, format!("conn {} req 1", before + 1));
    Ok(())
}

/// `skiff up --watch`: a new version of the app keeps the connections the
/// old one kept alive, component by component, so its first request to a
/// destination does not connect again.
#[tokio::test(flavor = "multi_thread")]
async fn a_reloaded_app_keeps_its_components_connections() -> Result<()> {
    let upstream = Upstream::plain()?;
    let dir = AppDir::with_manifest(&manifest("http", upstream.port))?;
    let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.arg("--watch");
    })?;
    let app = App {
        rc: dir.path().join("no-runtime-config"),
        _dir: dir,
        server,
        scheme: "http",
        port: upstream.port,
    };
    assert_eq!(app.fetch("/out").await?, "conn 1 req 1");
    assert_eq!(app.fetch("/out3").await?, "conn 2 req 1");

    let text = std::fs::read_to_string(app._dir.manifest())?;
    replace_file(
        &app._dir.manifest(),
        &format!("{text}\n[component.out.environment]\nVERSION = \"2\"\n"),
    )?;
    tokio::task::block_in_place(|| {
        app.server
            .stdout()
            .wait_for("Reloaded app `test`", EFFECT_BOUND)
    })?;
    assert_eq!(app.fetch("/out").await?, "conn 1 req 2");
    assert_eq!(app.fetch("/out3").await?, "conn 2 req 2");
    // Components still never share: `other` connects for itself.
    assert_eq!(app.fetch("/other").await?, "conn 3 req 1");
    assert_eq!(upstream.connections(), 3);
    Ok(())
}

/// So does a component an event trigger runs: a cron component's runs after a
/// reload (a new version: its environment changed) send their reports on the
/// connection its runs before the reload opened.
#[tokio::test(flavor = "multi_thread")]
async fn a_reloaded_cron_component_keeps_its_connections() -> Result<()> {
    let upstream = Upstream::plain()?;
    let port = upstream.port;
    let cron = |path: &str| {
        crate::cron::cron_component(
            "tick",
            "* * * * * *",
            &format!("REPORT_URL = \"http://127.0.0.1:{port}/{path}\""),
            &format!("allowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]\n"),
        )
    };
    let dir = AppDir::with_manifest(&cron("before"))?;
    let server = Server::start_triggers_only_with(dir.path(), shared_cache()?, |cmd| {
        cmd.arg("--watch");
    })?;
    let reports = |prefix: &str, count: usize| {
        let deadline = Instant::now() + EFFECT_BOUND;
        while upstream.answered(prefix) < count {
            ensure!(
                Instant::now() < deadline,
                "{count} report(s) to {prefix} not answered in {EFFECT_BOUND:?}: {:?}",
                upstream.targets.lock().unwrap_or_else(|e| e.into_inner())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    };
    tokio::task::block_in_place(|| reports("/before", 2))?;
    assert_eq!(upstream.connections(), 1, "{}", server.stderr().text());

    let text = std::fs::read_to_string(dir.manifest())?;
    replace_file(&dir.manifest(), &text.replace("/before", "/after"))?;
    tokio::task::block_in_place(|| {
        server
            .stdout()
            .wait_for("Reloaded app `test`", EFFECT_BOUND)?;
        reports("/after", 2)
    })?;
    assert_eq!(upstream.connections(), 1, "{:?}", upstream.targets);
    Ok(())
}

/// An HTTPS server that chooses HTTP/2 by ALPN gets it (as gRPC needs), with
/// `:authority` and no `host` header, and its trailers reach the guest: a component's requests share one
/// connection, those sent at once each on a stream of its own (the upstream
/// answers each after 300 ms, so eight at once overlap: HTTP/1.1 would need
/// eight connections). A WASI 0.3 guest's requests do the same, on its own
/// component's connection.
#[tokio::test(flavor = "multi_thread")]
async fn https_upstreams_that_choose_http2_share_one_connection() -> Result<()> {
    let upstream = Upstream::h2(Duration::from_millis(300))?;
    let authority = format!("127.0.0.1:{}", upstream.port);
    let rc = format!(
        "[[client_tls]]\ncomponent_ids = [\"out\", \"out3\"]\nhosts = [\"{authority}\"]\nca_roots_file = \"ca.crt\"\n"
    );
    let app = App::start(&upstream, &rc)?;
    assert_eq!(
        app.fetch("/out").await?,
        format!("conn 1 req 1 HTTP/2.0 {authority} host:-\ntrailer: grpc-status=0")
    );
    let url = app.server.url(&format!("/out?url=https://{authority}/"));
    let at_once: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get(&url).await.map(|resp| resp.text()) })
        })
        .collect();
    let mut seen: Vec<usize> = Vec::new();
    for task in at_once {
        let text = task.await??;
        let answer = text.strip_prefix("status: 200\n").unwrap_or(&text);
        assert!(answer.starts_with("conn 1 req "), "{answer}");
        assert!(
            answer.ends_with(&format!(
                " HTTP/2.0 {authority} host:-\ntrailer: grpc-status=0"
            )),
            "{answer}"
        );
        seen.push(answer.split(' ').nth(3).context("req")?.parse()?);
    }
    seen.sort();
    assert_eq!(seen, (2..=9).collect::<Vec<_>>());
    assert_eq!(
        app.fetch("/out3").await?,
        format!("conn 2 req 1 HTTP/2.0 {authority} host:-")
    );
    assert_eq!(
        app.fetch("/out3").await?,
        format!("conn 2 req 2 HTTP/2.0 {authority} host:-")
    );
    assert_eq!(upstream.connections(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn https_connections_are_kept_under_the_tls_configuration_they_were_made_with() -> Result<()>
{
    let upstream = Upstream::tls()?;
    let entry = |components: &str| {
        format!(
            "[[client_tls]]\ncomponent_ids = [{components}]\nhosts = [\"127.0.0.1:{}\"]\nca_roots_file = \"ca.crt\"\n",
            upstream.port
        )
    };
    let app = App::start(&upstream, &entry("\"out\""))?;
    assert_eq!(app.fetch("/out").await?, "conn 1 req 1");
    assert_eq!(app.fetch("/out").await?, "conn 1 req 2");
    // `other` has no entry: the test's CA is not among the roots it trusts.
    let refused = app.fetch("/other").await?;
    assert!(refused.contains("TlsCertificateError"), "{refused}");

    // The entry reloaded (now naming `other` too) is a new configuration:
    // `out` connects again under it rather than reusing a connection whose
    // server was verified under the old one.
    replace_file(&app.rc, &entry("\"out\", \"other\""))?;
    let other = app
        .fetch_until("/other", |text| text.starts_with("conn "))
        .await?;
    assert!(other.ends_with("req 1"), "{other}");
    let renewed = app.fetch("/out").await?;
    assert!(
        renewed.ends_with("req 1") && conn_of(&renewed)? > 1,
        "{renewed}"
    );
    let conn = conn_of(&renewed)?;
    assert_eq!(app.fetch("/out").await?, format!("conn {conn} req 2"));
    Ok(())
}

/// `skiff up --metrics` counts a component's outbound connections: opened,
/// reused (requests sent on a kept-alive one) and idle now, each component on
/// its own; a reload that turns pooling off closes the idle ones at the
/// component's next request, and every request then opens one.
#[tokio::test(flavor = "multi_thread")]
async fn outbound_connections_are_counted_in_the_metrics() -> Result<()> {
    let upstream = Upstream::plain()?;
    let at = format!("127.0.0.1:{}", skiff_test_support::free_port()?);
    let app = App::start_with(&upstream, "", Some(&at))?;
    // (opened, reused, idle) of component `id`.
    let counts = |id: &'static str| {
        let url = format!("http://{at}/metrics");
        async move {
            let text = get(&url).await?.text();
            let value = |name: &str| -> Result<u64> {
                let series = format!("{name}{{component=\"{id}\"}} ");
                text.lines()
                    .find_map(|line| line.strip_prefix(&series))
                    .and_then(|v| v.parse().ok())
                    .with_context(|| format!("no `{series}` in:\n{text}"))
            };
            anyhow::Ok((
                value("skiff_outbound_http_connections_opened_total")?,
                value("skiff_outbound_http_connections_reused_total")?,
                value("skiff_outbound_http_idle_connections")?,
            ))
        }
    };
    assert_eq!(counts("out").await?, (0, 0, 0));
    for req in 1..=3 {
        assert_eq!(app.fetch("/out").await?, format!("conn 1 req {req}"));
    }
    assert_eq!(app.fetch("/other").await?, "conn 2 req 1");
    assert_eq!(counts("out").await?, (1, 2, 1));
    assert_eq!(counts("other").await?, (1, 0, 1));

    replace_file(&app.rc, "[outbound_http]\nconnection_pooling = false\n")?;
    app.fetch_until("/out", |text| text.ends_with("req 1"))
        .await?;
    // (Until the reload shows, requests may still reuse connection 1.)
    let (opened, reused, idle) = counts("out").await?;
    ensure!(idle == 0, "pooling off, yet {idle} idle connection(s)");
    app.fetch("/out").await?;
    assert_eq!(counts("out").await?, (opened + 1, reused, 0));
    // The other component's idle connection waits for its own next request.
    assert_eq!(counts("other").await?, (1, 0, 1));
    app.fetch("/other").await?;
    assert_eq!(counts("other").await?, (2, 0, 0));
    Ok(())
}
