//! The operator's outbound HTTP limits (`[outbound_http]` in the runtime
//! config) through `skiff up`: response-size limits on declared and streamed
//! bodies, the first-byte timeout capping a slow upstream, and a reload that
//! changes them while the app serves.
//!
//! The upstream is a plain TCP server in this process that answers by path:
//! `/small` (10 bytes), `/big` (5000 bytes with a `content-length`),
//! `/chunked` (5000 bytes, chunked), `/slow` (its head after 3 s).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use test_programs_artifacts::HTTP_OUTBOUND_COMPONENT;

use crate::harness::{AppDir, Server, get, replace_file, shared_cache, toml_path};

/// How long a reload may take to show.
const EFFECT_BOUND: Duration = Duration::from_secs(15);

/// How many `/slow` requests the upstream is answering, and the most at once.
#[derive(Default)]
struct Slow {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// Starts the upstream on a free loopback port; returns the port.
fn upstream(slow: Arc<Slow>) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let slow = slow.clone();
            std::thread::spawn(move || answer(stream, &slow));
        }
    });
    Ok(port)
}

fn answer(mut stream: std::net::TcpStream, slow: &Slow) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&seen);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let fixed = |body: &[u8]| {
        let mut out = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    let reply = match path.as_str() {
        "/small" => fixed(b"0123456789"),
        "/big" => fixed(&[b'x'; 5000]),
        "/chunked" => {
            let mut out =
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                    .to_vec();
            for _ in 0..5 {
                out.extend_from_slice(b"3e8\r\n");
                out.extend_from_slice(&[b'y'; 1000]);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        }
        "/slow" => {
            let now = slow.now.fetch_add(1, Ordering::SeqCst) + 1;
            slow.peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(3));
            slow.now.fetch_sub(1, Ordering::SeqCst);
            fixed(b"late")
        }
        _ => fixed(b"unknown path"),
    };
    let _ = stream.write_all(&reply);
}

/// A `fetch` component granted the upstream, served with `runtime_config`.
struct App {
    _dir: AppDir,
    rc: std::path::PathBuf,
    server: Server,
    port: u16,
    slow: Arc<Slow>,
}

impl App {
    fn start(runtime_config: &str) -> Result<App> {
        let slow = Arc::new(Slow::default());
        let port = upstream(slow.clone())?;
        let dir = AppDir::with_manifest(&format!(
            "[[trigger.http]]\nroute = \"/fetch\"\ncomponent = \"fetch\"\n\
             [component.fetch]\nsource = {}\nallowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]\n",
            toml_path(HTTP_OUTBOUND_COMPONENT)
        ))?;
        let rc = dir.write("runtime-config.toml", runtime_config)?;
        let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
            cmd.arg("--runtime-config").arg(&rc);
        })?;
        Ok(App {
            _dir: dir,
            rc,
            server,
            port,
            slow,
        })
    }

    /// What the guest answers for a fetch of the upstream's `path`.
    async fn fetch(&self, path: &str) -> Result<String> {
        let url = self
            .server
            .url(&format!("/fetch?url=http://127.0.0.1:{}{path}", self.port));
        let resp = get(&url).await?;
        resp.assert_status(200);
        Ok(resp.text())
    }

    /// Replaces the runtime config the way a safe-saving editor does.
    fn rewrite(&self, text: &str) -> Result<()> {
        replace_file(&self.rc, text)
    }
}

/// A declared `content-length` over `max_response_size` fails the response
/// future with `HTTP-response-body-size`; a chunked body fails its stream once
/// past the limit; smaller bodies pass; the log names the limit.
#[tokio::test(flavor = "multi_thread")]
async fn response_size_limit() -> Result<()> {
    let app = App::start("[outbound_http]\nmax_response_size = \"1KiB\"\n")?;
    assert_eq!(app.fetch("/small").await?, "status: 200\n0123456789");
    let big = app.fetch("/big").await?;
    assert_eq!(big, "error: ErrorCode::HttpResponseBodySize(Some(5000))\n");
    let chunked = app.fetch("/chunked").await?;
    assert!(chunked.starts_with("error:"), "{chunked}");
    assert!(!chunked.contains("yyyy"), "{chunked}");
    let log = app
        .server
        .stderr()
        .wait_for("body cut after", Duration::from_secs(10))?;
    assert!(
        log.contains("over the `max_response_size` of 1024 bytes"),
        "{log}"
    );
    assert!(log.contains("its body is 5000 bytes"), "{log}");
    // The host keeps serving.
    assert_eq!(app.fetch("/small").await?, "status: 200\n0123456789");
    Ok(())
}

/// `first_byte_timeout` caps how long the guest waits for a response head,
/// then a reload lifts both limits for new requests without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn first_byte_timeout_and_live_reload() -> Result<()> {
    let app = App::start(
        "[outbound_http]\nfirst_byte_timeout = \"300ms\"\nmax_response_size = \"1KiB\"\n",
    )?;
    assert_eq!(
        app.fetch("/slow").await?,
        "error: ErrorCode::ConnectionReadTimeout\n",
        "a head 3 s late, under a 300 ms first-byte timeout"
    );
    assert!(app.fetch("/big").await?.contains("HttpResponseBodySize"));

    app.rewrite("[outbound_http]\nfirst_byte_timeout = \"10s\"\nmax_response_size = \"1MiB\"\n")?;
    app.server.stderr().wait_for("applied", EFFECT_BOUND)?;
    assert_eq!(app.fetch("/slow").await?, "status: 200\nlate");
    assert_eq!(
        app.fetch("/big").await?,
        format!("status: 200\n{}", "x".repeat(5000))
    );

    // A bad value is rejected naming the key; the last good limits stay.
    app.rewrite("[outbound_http]\nmax_response_size = \"lots\"\n")?;
    app.server.stderr().wait_for(
        "`outbound_http.max_response_size`: invalid size `lots`",
        EFFECT_BOUND,
    )?;
    assert_eq!(
        app.fetch("/big").await?,
        format!("status: 200\n{}", "x".repeat(5000))
    );
    Ok(())
}

/// A concurrency limit of 1 makes other requests wait for the first's
/// response head instead of failing: three slow fetches all succeed, and the
/// upstream never sees two at once.
#[tokio::test(flavor = "multi_thread")]
async fn max_concurrent_requests_queues() -> Result<()> {
    let app = App::start("[outbound_http]\nmax_concurrent_requests = 1\n")?;
    let (a, b, c) = tokio::join!(app.fetch("/slow"), app.fetch("/slow"), app.fetch("/slow"));
    for answer in [a?, b?, c?] {
        assert_eq!(answer, "status: 200\nlate");
    }
    assert_eq!(
        app.slow.peak.load(Ordering::SeqCst),
        1,
        "most /slow at once"
    );
    Ok(())
}

/// `[outbound_networking] block_networks` refuses its networks to every
/// grant, even one naming the address: the guest gets
/// `destination-IP-prohibited` and the log names the entry. A reload applies a
/// new list (`private` covers loopback), and a bad entry is rejected naming it.
#[tokio::test(flavor = "multi_thread")]
async fn block_networks_refuse_granted_addresses() -> Result<()> {
    let app = App::start("[outbound_networking]\nblock_networks = [\"198.51.100.0/24\"]\n")?;
    assert_eq!(app.fetch("/small").await?, "status: 200\n0123456789");

    app.rewrite("[outbound_networking]\nblock_networks = [\"127.0.0.0/8\"]\n")?;
    app.server.stderr().wait_for("` applied", EFFECT_BOUND)?;
    assert_eq!(
        app.fetch("/small").await?,
        "error: ErrorCode::DestinationIpProhibited\n"
    );
    let log = app
        .server
        .stderr()
        .wait_for("in `127.0.0.0/8`", Duration::from_secs(10))?;
    assert!(
        log.contains("`[outbound_networking] block_networks`"),
        "{log}"
    );

    app.rewrite("[outbound_networking]\nblock_networks = [\"10.0.0.0/33\"]\n")?;
    app.server.stderr().wait_for(
        "`outbound_networking.block_networks`: `10.0.0.0/33` is neither",
        EFFECT_BOUND,
    )?;
    assert_eq!(
        app.fetch("/small").await?,
        "error: ErrorCode::DestinationIpProhibited\n",
        "the last good list stays"
    );

    app.rewrite("[outbound_networking]\nblock_networks = [\"private\"]\n")?;
    app.server
        .stderr()
        .wait_for_count("` applied", 2, EFFECT_BOUND)?;
    assert_eq!(
        app.fetch("/small").await?,
        "error: ErrorCode::DestinationIpProhibited\n"
    );
    app.rewrite("")?;
    app.server
        .stderr()
        .wait_for_count("` applied", 3, EFFECT_BOUND)?;
    assert_eq!(app.fetch("/small").await?, "status: 200\n0123456789");
    Ok(())
}
