//! `skiff up`: routing, the request a guest sees, limits, file grants, logs and isolation.
//!
//! Most tests share one server ([`shared`]) that holds a component per
//! behaviour, each on its own route, so the suite compiles each guest once;
//! a test only touches its own routes. Tests that need a different route
//! table start their own server.
//!
//! The tests named after an `http_*` guest are `pub(crate)` so `main.rs` can
//! prove that every guest has one.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use bytes::Bytes;
use test_programs_artifacts::{
    HTTP_ECHO_COMPONENT, HTTP_FILES_COMPONENT, HTTP_HELLO_COMPONENT, HTTP_LOOP_COMPONENT,
    HTTP_OOM_COMPONENT, HTTP_OUTBOUND_COMPONENT, HTTP_SLEEP_COMPONENT, HTTP_STREAM_COMPONENT,
    HTTP_TRAP_COMPONENT,
};

/// Spin behaviour has its own module; the coverage check finds its guest here.
pub(crate) use crate::logging::http_logging;
pub(crate) use crate::spin::{http_outbound3, http_spin, http_tcp};

use crate::harness::{
    AppDir, Connection, Server, Shared, chunked, empty, full, get, post, send, tempdir, toml_path,
};

/// `[[trigger.http]]` + `[component.ID]` for `route` served by `source`, with extra
/// lines (`environment = …`, `[component.ID.limits]` …) appended to the component.
pub(crate) fn component(route: &str, id: &str, source: &str, extra: &str) -> String {
    format!(
        "[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{id}\"\n\n[component.{id}]\nsource = {}\n{extra}\n",
        toml_path(source)
    )
}

fn shared_manifest() -> String {
    [
        component(
            "/echo/...",
            "echo",
            HTTP_ECHO_COMPONENT,
            "environment = { NAME = \"echo\" }",
        ),
        component("/hello", "hello", HTTP_HELLO_COMPONENT, ""),
        component("/trap", "trap", HTTP_TRAP_COMPONENT, ""),
        component(
            "/loop",
            "spin",
            HTTP_LOOP_COMPONENT,
            // One slot: the second request of `http_loop` proves a timed-out
            // request gives its slot back.
            "[component.spin.limits]\ntimeout = \"1s\"\nmax_concurrency = 1",
        ),
        component(
            "/oom",
            "oom",
            HTTP_OOM_COMPONENT,
            // One slot: the second request of `http_oom` proves a trapped
            // request gives its slot back.
            "[component.oom.limits]\nmemory = \"16MiB\"\nmax_concurrency = 1",
        ),
        component(
            "/sleep",
            "sleep",
            HTTP_SLEEP_COMPONENT,
            "[component.sleep.limits]\nmax_concurrency = 1",
        ),
        component(
            "/small/...",
            "small",
            HTTP_ECHO_COMPONENT,
            "[component.small.limits]\nmax_body = \"1KiB\"",
        ),
        component(
            "/files",
            "files",
            HTTP_FILES_COMPONENT,
            "files = [{ source = \"static\", destination = \"/\" }]",
        ),
        component(
            "/glob",
            "glob",
            HTTP_FILES_COMPONENT,
            "files = [\"assets/*.txt\"]",
        ),
        component("/stream", "stream", HTTP_STREAM_COMPONENT, ""),
    ]
    .concat()
}

/// The server most tests of this module use (see the module docs).
fn shared() -> Result<&'static Server> {
    shared_app().map(|shared| &shared.server)
}

/// The shared server with its app directory.
fn shared_app() -> Result<&'static Shared> {
    static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            Shared::start(&shared_manifest(), |app| {
                app.write("static/index.html", "<h1>static</h1>\n")?;
                app.write("static/sub/page.txt", "a page")?;
                app.write("assets/a.txt", "asset a")?;
                app.write("assets/b.txt", "asset b")?;
                app.write("assets/notes.md", "not granted")?;
                Ok(())
            })
            .map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(|e| anyhow!("the shared server did not start: {e}"))
}

/// The `env.NAME` of an http_echo response: which component answered.
fn answered_by(resp: &crate::harness::Response) -> Result<String> {
    resp.assert_status(200);
    let json = resp.json()?;
    json["env"]["NAME"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no env.NAME in {json}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_exact_wildcard_catch_all() -> Result<()> {
    let manifest = [
        component(
            "/exact",
            "exact",
            HTTP_ECHO_COMPONENT,
            "environment = { NAME = \"exact\" }",
        ),
        component(
            "/api/...",
            "api",
            HTTP_ECHO_COMPONENT,
            "environment = { NAME = \"api\" }",
        ),
        component(
            "/api/v2/...",
            "v2",
            HTTP_ECHO_COMPONENT,
            "environment = { NAME = \"v2\" }",
        ),
        component(
            "/users/:id",
            "user",
            HTTP_ECHO_COMPONENT,
            "environment = { NAME = \"user\" }",
        ),
        component(
            "/...",
            "fallback",
            HTTP_ECHO_COMPONENT,
            "environment = { NAME = \"fallback\" }",
        ),
    ]
    .concat();
    let app = AppDir::with_manifest(&manifest)?;
    let cache = tempdir()?;
    let server = Server::start(app.path(), cache.path())?;

    let cases = [
        ("/exact", "exact"),
        ("/exact?q=1", "exact"),
        ("/exact/below", "fallback"),
        ("/exactly", "fallback"),
        ("/api", "api"),
        ("/api/", "api"),
        ("/api/x/y", "api"),
        ("/apix", "fallback"),
        ("/api/v2", "v2"),
        ("/api/v2/deeper/still", "v2"),
        ("/api/v3", "api"),
        ("/users/ada", "user"),
        ("/users/ada/more", "fallback"),
        ("/", "fallback"),
        ("/anything/else", "fallback"),
    ];
    for (path, expected) in cases {
        let resp = get(&server.url(path)).await?;
        assert_eq!(answered_by(&resp)?, expected, "GET {path}");
        assert_eq!(resp.json()?["path_with_query"], path, "GET {path}");
    }

    // The banner lists every route, in manifest order.
    let stdout = server
        .stdout()
        .wait_for("-> fallback", Duration::from_secs(10))?;
    let table: Vec<Vec<&str>> = stdout
        .lines()
        .skip_while(|l| *l != "Routes:")
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        table,
        [
            ["/exact", "->", "exact"],
            ["/api/...", "->", "api"],
            ["/api/v2/...", "->", "v2"],
            ["/users/:id", "->", "user"],
            ["/...", "->", "fallback"],
        ],
        "stdout:\n{stdout}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_route_is_404() -> Result<()> {
    let server = shared()?;
    for path in ["/", "/nothing", "/hello/below", "/echo-not"] {
        let resp = get(&server.url(path)).await?;
        resp.assert_status(404);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_hello() -> Result<()> {
    let resp = get(&shared()?.url("/hello")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "Hello from Skiff!\n");
    assert_eq!(resp.headers["content-type"], "text/plain");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_echo() -> Result<()> {
    let server = shared()?;
    let req = http::Request::put(server.url("/echo/shape?x=1&y=two%20words"))
        .header("host", "skiff.test:8080")
        .header("x-custom", "custom value")
        .header("x-repeated", "one")
        .header("x-repeated", "two")
        .header("content-type", "text/plain")
        .body(full("the request body"))?;
    let resp = send(req).await?;
    resp.assert_status(200);
    assert_eq!(resp.headers["content-type"], "application/json");
    let json = resp.json()?;
    assert_eq!(json["method"], "PUT");
    assert_eq!(json["path_with_query"], "/echo/shape?x=1&y=two%20words");
    assert_eq!(json["scheme"], "http");
    assert_eq!(json["authority"], "skiff.test:8080");
    assert_eq!(json["body"], "the request body");
    assert_eq!(json["env"], serde_json::json!({ "NAME": "echo" }));
    let headers: Vec<(String, String)> = serde_json::from_value(json["headers"].clone())?;
    let has = |name: &str, value: &str| headers.iter().any(|(n, v)| n == name && v == value);
    assert!(has("x-custom", "custom value"), "{headers:?}");
    assert!(
        has("x-repeated", "one") && has("x-repeated", "two"),
        "{headers:?}"
    );
    assert!(has("content-type", "text/plain"), "{headers:?}");
    assert!(has("content-length", "16"), "{headers:?}");

    // Methods beyond the common ones reach the guest by name.
    let req = http::Request::builder()
        .method(http::Method::from_bytes(b"PURGE")?)
        .uri(server.url("/echo/purge"))
        .body(empty())?;
    let json = send(req).await?.json()?;
    assert_eq!(json["method"], "PURGE");
    assert_eq!(json["body"], "");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_serves_two_requests_on_one_connection() -> Result<()> {
    let server = shared()?;
    let mut conn = Connection::open(server.addr()).await?;
    let first = conn
        .send(http::Request::get("/echo/first").body(empty())?)
        .await?;
    assert_eq!(first.json()?["path_with_query"], "/echo/first");
    assert_ne!(
        first.headers.get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    let second = conn
        .send(http::Request::post("/echo/second").body(full("again"))?)
        .await?;
    let json = second.json()?;
    assert_eq!(json["path_with_query"], "/echo/second");
    assert_eq!(json["body"], "again");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_trap() -> Result<()> {
    let server = shared()?;
    let resp = get(&server.url("/trap")).await?;
    resp.assert_status(500);
    assert_eq!(resp.text(), "Internal Server Error\n");
    // The server keeps serving, other components and the one that trapped.
    get(&server.url("/hello")).await?.assert_status(200);
    get(&server.url("/trap")).await?.assert_status(500);
    // The guest's panic message reaches the log.
    server
        .stderr()
        .wait_for("http_trap panicked on purpose", Duration::from_secs(10))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_loop() -> Result<()> {
    let server = shared()?;
    // Back to back on one connection, as a sequential client retrying at once
    // would: `spin` has one concurrency slot, and a request that was answered
    // must have given it back (never a 503 for a client that is not concurrent).
    let mut conn = Connection::open(server.addr()).await?;
    for _ in 0..3 {
        let start = Instant::now();
        let resp = conn
            .send(http::Request::get("/loop").body(empty())?)
            .await?;
        let elapsed = start.elapsed();
        resp.assert_status(504);
        assert!(
            elapsed < Duration::from_secs(1) + Duration::from_secs(5),
            "a 1s timeout took {elapsed:?} to answer"
        );
    }
    // The server still serves.
    get(&server.url("/hello")).await?.assert_status(200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_oom() -> Result<()> {
    let server = shared()?;
    // Twice: `oom` has one concurrency slot, which the first request must free.
    for _ in 0..2 {
        get(&server.url("/oom")).await?.assert_status(500);
        get(&server.url("/hello")).await?.assert_status(200);
    }
    server
        .stderr()
        .wait_for("memory limit", Duration::from_secs(10))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_sleep() -> Result<()> {
    let server = shared()?;
    let slow = server.url("/sleep?ms=3000");
    let first = tokio::spawn(async move { get(&slow).await });
    // Let the first request take the component's only slot.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let second = get(&server.url("/sleep?ms=0")).await?;
    second.assert_status(503);
    assert!(
        second.headers.contains_key("retry-after"),
        "{:?}",
        second.headers
    );
    let first = first.await??;
    first.assert_status(200);
    assert_eq!(first.text(), "slept 3000");
    // The slot is free again.
    let third = get(&server.url("/sleep?ms=0")).await?;
    third.assert_status(200);
    assert_eq!(third.text(), "slept 0");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn max_body_with_content_length() -> Result<()> {
    let server = shared()?;
    let resp = post(&server.url("/small/ok"), full(vec![b'a'; 1024])).await?;
    resp.assert_status(200);
    assert_eq!(resp.json()?["body"].as_str().map(str::len), Some(1024));

    let resp = post(&server.url("/small/big"), full(vec![b'a'; 2048])).await?;
    resp.assert_status(413);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn max_body_chunked() -> Result<()> {
    let server = shared()?;
    let chunks = |n: usize| (0..n).map(|_| Bytes::from(vec![b'b'; 256]));
    // Under the limit: the whole body arrives, and it really was chunked.
    let resp = post(&server.url("/small/ok"), chunked(chunks(3))).await?;
    resp.assert_status(200);
    let json = resp.json()?;
    assert_eq!(json["body"].as_str().map(str::len), Some(768));
    let headers: Vec<(String, String)> = serde_json::from_value(json["headers"].clone())?;
    assert!(
        !headers.iter().any(|(n, _)| n == "content-length"),
        "{headers:?}"
    );

    let resp = post(&server.url("/small/big"), chunked(chunks(8))).await?;
    resp.assert_status(413);
    // The server is fine afterwards.
    post(&server.url("/small/ok"), full("x"))
        .await?
        .assert_status(200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_files() -> Result<()> {
    let shared = shared_app()?;
    let url = |q: &str| shared.server.url(&format!("/files?{q}"));
    let resp = get(&url("path=/index.html")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "<h1>static</h1>\n");
    let resp = get(&url("path=/sub/page.txt")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "a page");
    let resp = get(&url("ls=/")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "index.html\nsub\n");

    // Files are read-only: creating or overwriting is refused.
    for target in ["/new.txt", "/index.html"] {
        let resp = post(&url(&format!("write={target}")), full("overwritten")).await?;
        resp.assert_status(403);
        assert!(resp.text().starts_with("error: "), "{}", resp.text());
    }
    let host = shared.app.path().join("static");
    assert!(!host.join("new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(host.join("index.html"))?,
        "<h1>static</h1>\n"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn files_glob_grant() -> Result<()> {
    let shared = shared_app()?;
    let url = |q: &str| shared.server.url(&format!("/glob?{q}"));
    let resp = get(&url("path=/assets/a.txt")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "asset a");
    let resp = get(&url("ls=/assets")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "a.txt\nb.txt\n");
    // What the glob did not match is not there.
    get(&url("path=/assets/notes.md")).await?.assert_status(404);
    for target in ["/assets/c.txt", "/assets/a.txt"] {
        let resp = post(&url(&format!("write={target}")), full("new")).await?;
        resp.assert_status(403);
    }
    let host = shared.app.path().join("assets");
    assert!(!host.join("c.txt").exists());
    assert_eq!(std::fs::read_to_string(host.join("a.txt"))?, "asset a");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_output_is_logged_with_the_component_id() -> Result<()> {
    let server = shared()?;
    get(&server.url("/echo/log-marker-7f3a"))
        .await?
        .assert_status(200);
    let marker = "[echo stdout] http_echo: GET /echo/log-marker-7f3a";
    server.stderr().wait_for(marker, Duration::from_secs(10))?;
    // Its stderr line comes after it (the guest writes it next), and may be
    // read a moment later.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stderr = server.stderr().text();
        let after = stderr.find(marker).map_or("", |at| &stderr[at..]);
        if after.contains("[echo stderr] http_echo stderr") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stderr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Guest output never reaches the server's stdout, which holds only the banner.
    assert!(!server.stdout().text().contains("http_echo"));
    Ok(())
}

/// A body the guest is still writing streams: the head and each chunk go out
/// as the guest writes them (chunked, since no length is known), not once the
/// guest is done. The guest pauses `GAP` after each chunk but the last, so if
/// the host held the body back, the whole of it would arrive at once.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_stream() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const GAP: Duration = Duration::from_millis(300);
    let server = shared()?;
    let mut conn = tokio::net::TcpStream::connect(server.addr()).await?;
    conn.write_all(
        format!(
            "GET /stream?chunks=4&gap_ms={} HTTP/1.1\r\nhost: skiff\r\nconnection: close\r\n\r\n",
            GAP.as_millis()
        )
        .as_bytes(),
    )
    .await?;
    let mut wire = Vec::new();
    let has =
        |wire: &[u8], needle: &str| wire.windows(needle.len()).any(|w| w == needle.as_bytes());
    while !has(&wire, "chunk 0\n") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(30), conn.read(&mut buf)).await??;
        anyhow::ensure!(
            n > 0,
            "closed before the first chunk: {}",
            String::from_utf8_lossy(&wire)
        );
        wire.extend_from_slice(&buf[..n]);
    }
    let first_chunk = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut wire)).await??;
    let rest = first_chunk.elapsed();
    let wire = String::from_utf8(wire)?;
    let (head, body) = wire
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no head: {wire}"))?;
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("\r\ntransfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    let sent: Vec<&str> = body.split("\r\n").collect();
    assert_eq!(
        sent,
        [
            "8",
            "chunk 0\n",
            "8",
            "chunk 1\n",
            "8",
            "chunk 2\n",
            "8",
            "chunk 3\n",
            "0",
            "",
            ""
        ],
        "{wire}"
    );
    // Three pauses follow the first chunk; allow one for a late read.
    assert!(
        rest >= 2 * GAP,
        "the body after its first chunk took {rest:?}: held back?"
    );
    Ok(())
}

/// A body the guest finished before its response went out leaves whole, with
/// its length: no chunk framing, and a length for clients that want one (an
/// HTTP/1.0 client gets it too, instead of a body ended by closing).
#[tokio::test(flavor = "multi_thread")]
async fn a_body_finished_with_the_response_carries_its_length() -> Result<()> {
    let server = shared()?;
    // The guest's run is decided in one poll unless it is interrupted (its
    // thread descheduled past an epoch tick, on a loaded machine): then the
    // head goes out once the first chunk is there, chunked. A few tries.
    let mut lengths = Vec::new();
    for _ in 0..5 {
        let resp = get(&server.url("/stream?chunks=1")).await?;
        resp.assert_status(200);
        assert_eq!(resp.text(), "chunk 0\n");
        let length = resp.headers.get("content-length").cloned();
        assert_eq!(
            length.is_none(),
            resp.headers.contains_key("transfer-encoding"),
            "{:?}",
            resp.headers
        );
        lengths.push(length);
        if lengths.last() != Some(&None) {
            break;
        }
    }
    assert_eq!(
        lengths.last(),
        Some(&Some(http::HeaderValue::from_static("8"))),
        "{lengths:?}"
    );

    // As many chunks as the guest writes without waiting, with or without a
    // length: whole and in order either way.
    let resp = get(&server.url("/stream")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
    if let Some(len) = resp.headers.get("content-length") {
        assert_eq!(len, "40", "{:?}", resp.headers);
    }

    // HTTP/1.0 has no chunked coding: without a length its body would end by
    // the connection closing (as it still may, if the guest is interrupted).
    let mut answers = Vec::new();
    for _ in 0..5 {
        let wire = raw(
            server.addr(),
            "GET /stream?chunks=1 HTTP/1.0\r\nhost: skiff\r\n\r\n",
        )
        .await?
        .to_ascii_lowercase();
        assert!(wire.starts_with("http/1.0 200"), "{wire}");
        assert!(wire.ends_with("\r\n\r\nchunk 0\n"), "{wire}");
        let length = wire.contains("\r\ncontent-length: 8\r\n");
        answers.push(wire);
        if length {
            break;
        }
    }
    assert!(
        answers
            .last()
            .is_some_and(|wire| wire.contains("content-length: 8")),
        "no length in any of {answers:?}"
    );

    let resp = get(&server.url("/stream?chunks=x")).await?;
    resp.assert_status(400);
    assert!(resp.text().contains("bad chunks `x`"), "{}", resp.text());
    Ok(())
}

/// Sends `sent` as it is on a fresh connection to `addr` and reads what comes
/// back until the server closes it (a reset, for unread bytes left behind,
/// closes it too); an error if it is still open after 30 s.
pub(crate) async fn raw(addr: std::net::SocketAddr, sent: impl AsRef<[u8]>) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sent = sent.as_ref();
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(sent).await?;
    let mut wire = Vec::new();
    match tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut wire)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => anyhow::bail!("{:?}: still open after 30 s", String::from_utf8_lossy(sent)),
    }
    Ok(String::from_utf8_lossy(&wire).into_owned())
}

/// A request that names no authority: HTTP/1.0 may omit `Host`, and the guest
/// then sees the address the connection arrived on (RFC 9112 §3.3); an
/// HTTP/1.1 request without `Host` is malformed and gets `400` saying why,
/// without reaching a guest.
#[tokio::test(flavor = "multi_thread")]
async fn requests_without_a_host() -> Result<()> {
    let server = shared()?;
    let wire = raw(server.addr(), "GET /echo/no-host?q=1 HTTP/1.0\r\n\r\n").await?;
    let (head, body) = wire
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("{wire}"))?;
    assert!(head.starts_with("HTTP/1.0 200"), "{wire}");
    let json: serde_json::Value = serde_json::from_str(body)?;
    assert_eq!(json["authority"], server.addr().to_string(), "{json}");
    assert_eq!(json["path_with_query"], "/echo/no-host?q=1", "{json}");
    let headers: Vec<(String, String)> = serde_json::from_value(json["headers"].clone())?;
    assert!(
        !headers.iter().any(|(n, _)| n == "host"),
        "no Host of ours: {headers:?}"
    );

    let wire = raw(
        server.addr(),
        "GET /echo/no-host HTTP/1.1\r\nconnection: close\r\n\r\n",
    )
    .await?;
    assert!(wire.starts_with("HTTP/1.1 400"), "{wire}");
    assert!(
        wire.ends_with("Bad Request: an HTTP/1.1 request needs a Host header\n"),
        "{wire}"
    );
    assert!(
        !server.stderr().text().contains("missing authority"),
        "{}",
        server.stderr().text()
    );
    Ok(())
}

/// HTTP/2 with prior knowledge (h2c) on the same port as HTTP/1.1: many
/// requests at once on one connection, each its own instance; streaming
/// bodies; `HEAD` answered with the `GET`'s length and no DATA (which an
/// HTTP/2 client takes for a protocol error); the `:authority` reaches the
/// guest as its authority.
#[tokio::test(flavor = "multi_thread")]
async fn http2_prior_knowledge() -> Result<()> {
    use http_body_util::BodyExt;
    let server = shared()?;
    let stream = tokio::net::TcpStream::connect(server.addr()).await?;
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await?;
    tokio::spawn(conn);
    let exchange = |method: http::Method, path: String| {
        let mut sender = sender.clone();
        let url = server.url(&path);
        async move {
            let req = http::Request::builder()
                .method(method)
                .uri(url)
                .body(empty())?;
            let resp =
                tokio::time::timeout(Duration::from_secs(30), sender.send_request(req)).await??;
            assert_eq!(resp.version(), http::Version::HTTP_2);
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            anyhow::Ok((parts, body))
        }
    };

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let get = exchange(http::Method::GET, format!("/echo/h2/{i}"));
        tasks.spawn(async move { (i, get.await) });
    }
    while let Some(done) = tasks.join_next().await {
        let (i, answer) = done?;
        let (parts, body) = answer?;
        assert_eq!(parts.status, 200);
        let json: serde_json::Value = serde_json::from_slice(&body)?;
        assert_eq!(json["path_with_query"], format!("/echo/h2/{i}"), "{json}");
        assert_eq!(json["authority"], server.addr().to_string(), "{json}");
    }

    let (get, get_body) = exchange(http::Method::GET, "/hello".into()).await?;
    assert_eq!(get.status, 200);
    assert_eq!(get.headers["content-length"], get_body.len().to_string());
    let (head, head_body) = exchange(http::Method::HEAD, "/hello".into()).await?;
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["content-length"], get_body.len().to_string());
    assert!(head_body.is_empty());
    // A body still streaming has no length to state.
    let (head, head_body) =
        exchange(http::Method::HEAD, "/stream?chunks=3&gap_ms=50".into()).await?;
    assert_eq!(head.status, 200);
    assert!(
        !head.headers.contains_key("content-length"),
        "{:?}",
        head.headers
    );
    assert!(head_body.is_empty());

    let (streamed, body) = exchange(http::Method::GET, "/stream?chunks=3&gap_ms=50".into()).await?;
    assert_eq!(streamed.status, 200);
    assert_eq!(body, "chunk 0\nchunk 1\nchunk 2\n");
    Ok(())
}

/// `skiff up -e KEY=VALUE` / `--env KEY` (Spin's `-e`) sets a variable for
/// every component, over the manifest's `environment` and beside the rest of
/// it; `--env KEY` passes the host's value through, and a host variable that
/// is not set, or a pair with no name, stops the start.
#[tokio::test(flavor = "multi_thread")]
async fn env_flag_reaches_every_component() -> Result<()> {
    let manifest = [
        component(
            "/one/...",
            "one",
            HTTP_ECHO_COMPONENT,
            "environment = { NAME = \"manifest\", OTHER = \"kept\" }",
        ),
        component("/two/...", "two", HTTP_ECHO_COMPONENT, ""),
    ]
    .concat();
    let app = AppDir::with_manifest(&manifest)?;
    let cache = tempdir()?;
    let server = Server::start_with(app.path(), cache.path(), |cmd| {
        cmd.args([
            "-e",
            "NAME=cli",
            "--env",
            "SKIFF_TEST_FROM_HOST",
            "--env=EQ=a=b",
        ])
        .env("SKIFF_TEST_FROM_HOST", "host value");
    })?;
    for (path, other) in [("/one/", Some("kept")), ("/two/", None)] {
        let resp = get(&server.url(path)).await?;
        resp.assert_status(200);
        let json: serde_json::Value = serde_json::from_slice(&resp.body)?;
        let env = &json["env"];
        assert_eq!(env["NAME"], "cli", "{path}: {json}");
        assert_eq!(env["SKIFF_TEST_FROM_HOST"], "host value", "{path}: {json}");
        assert_eq!(env["EQ"], "a=b", "{path}: {json}");
        assert_eq!(env["OTHER"].as_str(), other, "{path}: {json}");
    }
    drop(server);

    crate::harness::up_fails(app.path(), cache.path(), |cmd| {
        cmd.args(["--env", "SKIFF_TEST_NOT_SET"])
            .env_remove("SKIFF_TEST_NOT_SET");
    })?
    .assert_stderr_contains(
        "--env SKIFF_TEST_NOT_SET: the host has no environment variable `SKIFF_TEST_NOT_SET` to pass through",
    );
    crate::harness::up_fails(app.path(), cache.path(), |cmd| {
        cmd.args(["--env", "=x"]);
    })?
    .assert_stderr_contains("--env =x: the variable needs a name before `=`");
    Ok(())
}

/// `HEAD` over HTTP/1.1: the `GET`'s headers and length, no body.
#[tokio::test(flavor = "multi_thread")]
async fn head_over_http1() -> Result<()> {
    let server = shared()?;
    let wire = raw(
        server.addr(),
        "HEAD /hello HTTP/1.1\r\nhost: skiff\r\nconnection: close\r\n\r\n",
    )
    .await?;
    let get = get(&server.url("/hello")).await?;
    let length = format!("\r\ncontent-length: {}\r\n", get.body.len());
    assert!(wire.starts_with("HTTP/1.1 200"), "{wire}");
    assert!(wire.to_ascii_lowercase().contains(&length), "{wire}");
    assert!(wire.ends_with("\r\n\r\n"), "a body after the head: {wire}");
    Ok(())
}

/// `--idle-timeout`: a connection with no request in progress for longer —
/// silent, part of HTTP/2's preface, half a head, idle after a response, an
/// HTTP/2 connection with no stream open — is closed; a request in progress
/// (a slow guest, a body streaming with pauses longer than the timeout) is not.
#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_are_closed() -> Result<()> {
    let manifest = [
        component("/hello", "hello", HTTP_HELLO_COMPONENT, ""),
        component("/sleep", "sleep", HTTP_SLEEP_COMPONENT, ""),
        component("/stream", "stream", HTTP_STREAM_COMPONENT, ""),
    ]
    .concat();
    let app = AppDir::with_manifest(&manifest)?;
    let cache = tempdir()?;
    let server = Server::start_with(app.path(), cache.path(), |cmd| {
        cmd.args(["--idle-timeout", "1s"]);
    })?;
    let until_closed = |sent: &'static [u8]| raw(server.addr(), sent);
    assert_eq!(until_closed(b"").await?, "");
    assert_eq!(until_closed(b"PRI * HTTP/2.0\r\n").await?, "");
    assert_eq!(
        until_closed(b"GET /hello HTTP/1.1\r\nhost: skiff\r\n").await?,
        ""
    );
    let kept_alive = until_closed(b"GET /hello HTTP/1.1\r\nhost: skiff\r\n\r\n").await?;
    assert!(kept_alive.starts_with("HTTP/1.1 200"), "{kept_alive}");
    assert!(kept_alive.ends_with("Hello from Skiff!\n"), "{kept_alive}");
    // HTTP/2: the preface and an empty SETTINGS frame, then nothing: the
    // server's own SETTINGS come back, then the connection closes.
    let h2 = until_closed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await?;
    assert!(!h2.is_empty(), "no HTTP/2 SETTINGS from the server");

    let slow_guest = get(&server.url("/sleep?ms=2500")).await?;
    slow_guest.assert_status(200);
    assert_eq!(slow_guest.text(), "slept 2500");
    let slow_body = get(&server.url("/stream?chunks=3&gap_ms=1500")).await?;
    slow_body.assert_status(200);
    assert_eq!(slow_body.text(), "chunk 0\nchunk 1\nchunk 2\n");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_component_does_not_affect_another() -> Result<()> {
    let server = shared()?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let trap = server.url("/trap");
        let echo = server.url(&format!("/echo/isolated/{i}"));
        tasks.spawn(async move { ("trap", get(&trap).await) });
        tasks.spawn(async move { ("echo", post(&echo, full(format!("body {i}"))).await) });
    }
    let (mut echoes, mut traps) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        let (kind, resp) = joined?;
        let resp = resp?;
        if kind == "echo" {
            resp.assert_status(200);
            let json = resp.json()?;
            let path = json["path_with_query"].as_str().unwrap_or_default();
            let i = path.trim_start_matches("/echo/isolated/");
            assert_eq!(json["body"], format!("body {i}"));
            echoes += 1;
        } else {
            resp.assert_status(500);
            traps += 1;
        }
    }
    assert_eq!((echoes, traps), (24, 24));
    Ok(())
}

/// Outbound HTTP: denied without a grant, allowed by an explicit grant (IP or name),
/// and — the SSRF guard — a wildcard grant never reaches a loopback address.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_outbound() -> Result<()> {
    let target_app = AppDir::with_manifest(&component("/...", "hello", HTTP_HELLO_COMPONENT, ""))?;
    let cache = tempdir()?;
    let target = Server::start(target_app.path(), cache.path())?;
    let port = target.addr().port();
    let grant = |hosts: &str| format!("allowed_outbound_hosts = [{hosts}]");
    let manifest = [
        component("/none", "none", HTTP_OUTBOUND_COMPONENT, ""),
        component(
            "/ip",
            "by-ip",
            HTTP_OUTBOUND_COMPONENT,
            &grant(&format!("\"http://127.0.0.1:{port}\"")),
        ),
        component(
            "/name",
            "by-name",
            HTTP_OUTBOUND_COMPONENT,
            &grant(&format!("\"http://localhost:{port}\"")),
        ),
        component(
            "/wild",
            "wild",
            HTTP_OUTBOUND_COMPONENT,
            &grant("\"http://*:*\", \"*://*:*\""),
        ),
    ]
    .concat();
    let app = AppDir::with_manifest(&manifest)?;
    let server = Server::start(app.path(), cache.path())?;
    let fetch = |route: &str, url: String| {
        let url = server.url(&format!("{route}?url={url}"));
        async move {
            let resp = get(&url).await?;
            resp.assert_status(200);
            anyhow::Ok(resp.text())
        }
    };
    let ok = "status: 200\nHello from Skiff!\n".to_string();
    let loopback = format!("http://127.0.0.1:{port}/");
    let localhost = format!("http://localhost:{port}/");

    let denied = fetch("/none", loopback.clone()).await?;
    assert!(denied.contains("HttpRequestDenied"), "{denied}");
    assert_eq!(fetch("/ip", loopback.clone()).await?, ok);
    assert_eq!(fetch("/name", localhost.clone()).await?, ok);
    // Granted by IP, not by name (and not on another port).
    let by_name = fetch("/ip", localhost.clone()).await?;
    assert!(by_name.contains("HttpRequestDenied"), "{by_name}");
    let other_port = fetch("/ip", format!("http://127.0.0.1:{}/", port ^ 1)).await?;
    assert!(other_port.contains("HttpRequestDenied"), "{other_port}");
    // Wildcards allow the name but not a loopback address behind it.
    for url in [&loopback, &localhost] {
        let text = fetch("/wild", url.clone()).await?;
        assert!(text.contains("HttpRequestDenied"), "{url}: {text}");
    }
    let log = server
        .stderr()
        .wait_for("wildcard entries", Duration::from_secs(10))?;
    assert!(log.contains("outbound HTTP request denied"), "{log}");
    assert!(
        log.contains("component=\"none\"") || log.contains("component=none"),
        "{log}"
    );
    assert!(
        log.contains("component=\"wild\"") || log.contains("component=wild"),
        "{log}"
    );
    drop(target);
    Ok(())
}

/// An `openssl s_server -www` (an HTTPS server answering every `GET` with a
/// status page) on a free loopback port, with a certificate for `127.0.0.1`
/// signed by a CA made for the test; killed on drop.
pub(crate) struct HttpsServer {
    child: std::process::Child,
    /// Its loopback port.
    pub(crate) port: u16,
    /// Holds `ca.crt` (its CA), `server.crt`/`server.key` and, when it asks
    /// for one, `client.crt`/`client.key` (a client certificate of that CA).
    pub(crate) dir: tempfile::TempDir,
}

impl HttpsServer {
    /// `openssl s_server -www` (a status page for every `GET`) with a
    /// certificate for `127.0.0.1` from a CA of its own.
    pub(crate) fn start() -> Result<Self> {
        Self::launch(false)
    }

    /// [`HttpsServer::start`], also requiring a client certificate of its CA.
    pub(crate) fn start_requiring_client_certificate() -> Result<Self> {
        Self::launch(true)
    }

    fn launch(client_certificate: bool) -> Result<Self> {
        let dir = tempdir()?;
        skiff_test_support::make_certificates(dir.path())?;
        if client_certificate {
            skiff_test_support::make_client_certificate(
                dir.path(),
                "client",
                "/CN=skiff-test-client",
                "",
            )?;
        }
        let port = skiff_test_support::free_port()?;
        let mut cmd = std::process::Command::new("openssl");
        cmd.args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
            .args(["-cert", "server.crt", "-key", "server.key"]);
        if client_certificate {
            cmd.args(["-Verify", "1", "-CAfile", "ca.crt"]);
        }
        let mut child = cmd
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|err| anyhow!("could not run `openssl s_server` ({err})"))?;
        skiff_test_support::wait_until_listening(
            "openssl s_server",
            port,
            &mut child,
            Duration::from_secs(20),
        )?;
        Ok(HttpsServer { child, port, dir })
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Outbound HTTPS reaches the TLS handshake and verifies the server: a
/// certificate from a CA outside the trusted roots is the guest's
/// `TLS-certificate-error` (more in `client_tls`),
/// and the host keeps serving (it once panicked building its TLS client, with
/// two rustls providers linked and none chosen).
#[tokio::test(flavor = "multi_thread")]
async fn https_outbound_verifies_the_server() -> Result<()> {
    let https = HttpsServer::start()?;
    let url = format!("https://127.0.0.1:{}/", https.port);
    let manifest = [
        component(
            "/out",
            "out",
            HTTP_OUTBOUND_COMPONENT,
            &format!(
                "allowed_outbound_hosts = [\"https://127.0.0.1:{}\"]",
                https.port
            ),
        ),
        component("/...", "hello", HTTP_HELLO_COMPONENT, ""),
    ]
    .concat();
    let app = AppDir::with_manifest(&manifest)?;
    let cache = tempdir()?;
    let server = Server::start(app.path(), cache.path())?;
    for _ in 0..2 {
        let resp = get(&server.url(&format!("/out?url={url}"))).await?;
        resp.assert_status(200);
        let text = resp.text();
        assert_eq!(text, "error: ErrorCode::TlsCertificateError\n");
    }
    let hello = get(&server.url("/")).await?;
    hello.assert_status(200);
    assert!(
        !server.stderr().text().contains("panicked"),
        "{}",
        server.stderr().text()
    );
    Ok(())
}
