//! Spin apps served unmodified: a `spin.toml` with a guest written with Spin's
//! Rust SDK (`#[http_component]`), the request headers Spin's HTTP trigger sets,
//! and responses passed through without headers of the host's own.

use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use test_programs_artifacts::{
    CLI_ECHO_P1_MODULE, HTTP_HELLO_COMPONENT, HTTP_OUTBOUND_COMPONENT, HTTP_OUTBOUND3_COMPONENT,
    HTTP_SPIN_COMPONENT, HTTP_SPIN_P1_MODULE, HTTP_TCP_COMPONENT,
};

use crate::harness::{AppDir, Server, empty, send, shared_cache, tempdir, toml_path, up_fails};

/// The shared Spin app: one spin-sdk component on three kinds of route.
fn shared() -> Result<&'static Server> {
    static SHARED: OnceLock<Result<(AppDir, tempfile::TempDir, Server), String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let start = || -> Result<_> {
                let app = AppDir::new()?;
                let source = toml_path(HTTP_SPIN_COMPONENT);
                app.write(
                    "spin.toml",
                    format!(
                        r#"spin_manifest_version = 2
[application]
name = "spin-headers"

[[trigger.http]]
route = "/users/:id/..."
component = "users"

[[trigger.http]]
route = "/hello"
component = "hello"

[[trigger.http]]
route = "/..."
component = "rest"

[component.users]
source = {source}
[component.hello]
source = {source}
[component.rest]
source = {source}
"#
                    ),
                )?;
                let cache = tempdir()?;
                let server = Server::start(app.path(), cache.path())?;
                Ok((app, cache, server))
            };
            start().map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map(|(_, _, server)| server)
        .map_err(|e| anyhow!("the Spin app did not start: {e}"))
}

/// `name: value` lines the guest saw, as a map (last value wins).
fn seen(body: &str) -> std::collections::BTreeMap<String, String> {
    body.lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The `http_spin` guest gets Spin's request headers on every kind of route.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_spin() -> Result<()> {
    let server = shared()?;

    let req = http::Request::get(server.url("/users/42/posts/7?x=1"))
        .header("host", "spin.test:3000")
        // Forged by the client: replaced or dropped by the host.
        .header("spin-client-addr", "6.6.6.6:6")
        .header("spin-path-match-evil", "1")
        .body(empty())?;
    let resp = send(req).await?;
    resp.assert_status(200);
    let h = seen(&resp.text());
    assert_eq!(
        h["uri"], "http://spin.test:3000/users/42/posts/7?x=1",
        "{h:?}"
    );
    assert_eq!(
        h["spin-full-url"],
        "http://spin.test:3000/users/42/posts/7?x=1"
    );
    assert_eq!(h["spin-path-info"], "/posts/7");
    assert_eq!(h["spin-matched-route"], "/users/:id/...");
    assert_eq!(h["spin-raw-component-route"], "/users/:id/...");
    assert_eq!(h["spin-component-route"], "/users/:id");
    assert_eq!(h["spin-base-path"], "/");
    assert_eq!(h["spin-path-match-id"], "42");
    assert!(!h.contains_key("spin-path-match-evil"), "{h:?}");
    let client = &h["spin-client-addr"];
    assert!(client.starts_with("127.0.0.1:"), "{client}");
    assert_ne!(client, "127.0.0.1:0");

    // An exact route: no path info, the route as written.
    let resp = send(http::Request::get(server.url("/hello")).body(empty())?).await?;
    resp.assert_status(200);
    let h = seen(&resp.text());
    assert_eq!(h["spin-path-info"], "");
    assert_eq!(h["spin-matched-route"], "/hello");
    assert_eq!(h["spin-component-route"], "/hello");
    assert_eq!(h["spin-full-url"], server.url("/hello"));

    // The catch-all: the whole path is path info, the component route is empty.
    let resp = send(http::Request::get(server.url("/a/b/")).body(empty())?).await?;
    resp.assert_status(200);
    let h = seen(&resp.text());
    assert_eq!(h["spin-path-info"], "/a/b/");
    assert_eq!(h["spin-matched-route"], "/...");
    assert_eq!(h["spin-raw-component-route"], "/...");
    assert_eq!(h.get("spin-component-route").map(String::as_str), Some(""));
    Ok(())
}

/// The guest's headers pass through as they are: no `date`, `server` or default
/// `content-type` of the host's own; an empty body is `content-length: 0`, and
/// a body of undeclared length the guest finished before its response went out
/// carries its length (Spin and `wasmtime serve` send it chunked; either is
/// valid HTTP, and a length is the better answer for a complete body).
#[tokio::test(flavor = "multi_thread")]
async fn responses_carry_only_the_guests_headers() -> Result<()> {
    let server = shared()?;

    let resp = send(http::Request::get(server.url("/empty")).body(empty())?).await?;
    resp.assert_status(200);
    let names: Vec<&str> = resp.headers.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["content-length"], "{:?}", resp.headers);
    assert_eq!(resp.headers["content-length"], "0");
    assert!(resp.body.is_empty());

    let resp = send(http::Request::get(server.url("/hello")).body(empty())?).await?;
    resp.assert_status(200);
    let mut names: Vec<&str> = resp.headers.keys().map(|k| k.as_str()).collect();
    names.sort();
    // The SDK declares no length; hello's body is complete once it returns.
    assert_eq!(
        names,
        ["content-length", "content-type"],
        "{:?}",
        resp.headers
    );
    assert_eq!(resp.headers["content-type"], "text/plain");
    assert_eq!(resp.headers["content-length"], resp.body.len().to_string());
    Ok(())
}

/// Service chaining and self requests never leave the process: `http://ID.spin.internal`
/// reaches component ID (even on a private route) when granted; `http://self.alt`
/// and a relative URL (`/path`, sent with no authority, or by the Spin SDK as
/// `https://:443/path`) are routed by path when `http://self` is granted; otherwise
/// the guest gets `HTTP-request-denied`.
#[tokio::test(flavor = "multi_thread")]
async fn service_chaining_and_self_requests() -> Result<()> {
    let app = AppDir::new()?;
    let outbound = toml_path(HTTP_OUTBOUND_COMPONENT);
    let spin = toml_path(HTTP_SPIN_COMPONENT);
    app.write(
        "spin.toml",
        format!(
            r#"spin_manifest_version = 2
[application]
name = "chaining"

[[trigger.http]]
route = "/front"
component = "front"
[[trigger.http]]
route = "/only-backend"
component = "narrow"
[[trigger.http]]
route = "/closed"
component = "closed"
[[trigger.http]]
route = {{ private = true }}
component = "backend"
[[trigger.http]]
route = "/public/..."
component = "public"
[[trigger.http]]
route = "/sdk"
component = "sdk"
[[trigger.http]]
route = "/sdk-closed"
component = "sdk-closed"

[component.front]
source = {outbound}
allowed_outbound_hosts = ["http://*.spin.internal", "http://self"]
[component.narrow]
source = {outbound}
allowed_outbound_hosts = ["http://backend.spin.internal"]
[component.closed]
source = {outbound}
allowed_outbound_hosts = ["https://example.com"]
[component.backend]
source = {spin}
[component.public]
source = {spin}
[component.sdk]
source = {spin}
allowed_outbound_hosts = ["http://self"]
[component.sdk-closed]
source = {spin}
"#
        ),
    )?;
    let cache = tempdir()?;
    let server = Server::start(app.path(), cache.path())?;
    let fetch = |from: &str, url: &str| {
        let uri = server.url(&format!("{from}?url={url}"));
        async move {
            let resp = send(http::Request::get(uri).body(empty())?).await?;
            resp.assert_status(200);
            Ok::<_, anyhow::Error>(resp.text())
        }
    };

    // To a component on a private route, by name.
    let text = fetch("/front", "http://backend.spin.internal/deep/path?q=1").await?;
    assert!(text.starts_with("status: 200\n"), "{text}");
    let h = seen(&text);
    assert_eq!(
        h["spin-full-url"],
        "http://backend.spin.internal/deep/path?q=1"
    );
    assert_eq!(h["spin-path-info"], "/deep/path");
    assert!(h["spin-client-addr"].starts_with("127.0.0.1:"), "{h:?}");
    // A guest cannot claim a client certificate for the component it calls:
    // only the server sets `x-forwarded-client-cert`, for an mTLS client.
    let text = fetch(
        "/front",
        "http://backend.spin.internal/x&header=x-forwarded-client-cert:Hash=forged",
    )
    .await?;
    assert!(text.starts_with("status: 200\n"), "{text}");
    assert!(!text.contains("x-forwarded-client-cert"), "{text}");
    let text = fetch(
        "/front",
        "http://self.alt/public/x&header=x-skiff-test:kept",
    )
    .await?;
    assert!(text.contains("x-skiff-test: kept"), "{text}");

    // To the app itself, routed by path.
    let text = fetch("/front", "http://self.alt/public/x").await?;
    assert!(text.starts_with("status: 200\n"), "{text}");
    let h = seen(&text);
    assert_eq!(h["spin-matched-route"], "/public/...");
    assert_eq!(h["spin-path-info"], "/x");
    let text = fetch("/front", "http://self.alt/nowhere").await?;
    assert!(text.starts_with("status: 404\n"), "{text}");

    // A relative URL: no scheme, no authority (wasmtime alone refuses its URI).
    let text = fetch("/front", "/public/x?q=2").await?;
    assert!(text.starts_with("status: 200\n"), "{text}");
    let h = seen(&text);
    assert_eq!(h["spin-matched-route"], "/public/...");
    assert_eq!(h["spin-path-info"], "/x");
    assert_eq!(h["spin-full-url"], "http://self.alt/public/x?q=2");
    let text = fetch("/front", "/nowhere").await?;
    assert!(text.starts_with("status: 404\n"), "{text}");

    // The same through the Spin SDK's `send(Request::get("/public/y"))`, whose
    // request has the authority `:443` and no host.
    let sdk = |from: &str, to: &str| {
        let uri = server.url(&format!("{from}?relative={to}"));
        async move {
            let resp = send(http::Request::get(uri).body(empty())?).await?;
            resp.assert_status(200);
            Ok::<_, anyhow::Error>(resp.text())
        }
    };
    let text = sdk("/sdk", "/public/y").await?;
    assert!(text.starts_with("status: 200\n"), "{text}");
    let h = seen(&text);
    assert_eq!(h["spin-matched-route"], "/public/...");
    assert_eq!(h["spin-path-info"], "/y");
    assert_eq!(h["spin-full-url"], "http://self.alt/public/y");
    let text = sdk("/sdk-closed", "/public/y").await?;
    assert!(text.starts_with("error: "), "{text}");
    assert!(text.contains("HttpRequestDenied"), "{text}");

    // A component the app does not have.
    let text = fetch("/front", "http://ghost.spin.internal/").await?;
    assert!(text.starts_with("error: "), "{text}");
    assert!(text.contains("DestinationNotFound"), "{text}");

    // Grants: one component by name only; none at all.
    let text = fetch("/only-backend", "http://backend.spin.internal/").await?;
    assert!(text.starts_with("status: 200\n"), "{text}");
    let text = fetch("/only-backend", "http://public.spin.internal/").await?;
    assert!(text.contains("HttpRequestDenied"), "{text}");
    let text = fetch("/only-backend", "http://self.alt/public/x").await?;
    assert!(text.contains("HttpRequestDenied"), "{text}");
    let text = fetch("/only-backend", "/public/x").await?;
    assert!(text.contains("HttpRequestDenied"), "{text}");
    let text = fetch("/closed", "http://backend.spin.internal/").await?;
    assert!(text.contains("HttpRequestDenied"), "{text}");
    server.stderr().wait_for(
        "add `http://public.spin.internal`",
        std::time::Duration::from_secs(10),
    )?;
    Ok(())
}

/// A WASI 0.3 guest's relative URL (`wasi:http/client@0.3.0`, no scheme and no
/// authority) reaches the app itself like one from a WASI 0.2 guest: routed by
/// path when `http://self` is granted, denied otherwise.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_outbound3() -> Result<()> {
    let app = AppDir::new()?;
    let outbound3 = toml_path(HTTP_OUTBOUND3_COMPONENT);
    let spin = toml_path(HTTP_SPIN_COMPONENT);
    app.write(
        "spin.toml",
        format!(
            r#"spin_manifest_version = 2
[application]
name = "relative3"

[[trigger.http]]
route = "/front"
component = "front"
[[trigger.http]]
route = "/closed"
component = "closed"
[[trigger.http]]
route = "/public/..."
component = "public"

[component.front]
source = {outbound3}
allowed_outbound_hosts = ["http://self"]
[component.closed]
source = {outbound3}
[component.public]
source = {spin}
"#
        ),
    )?;
    let cache = tempdir()?;
    let server = Server::start(app.path(), cache.path())?;
    let get = |path: &str| {
        let uri = server.url(path);
        async move { send(http::Request::get(uri).body(empty())?).await }
    };

    for url in ["/public/z?q=3", "http://self.alt/public/z?q=3"] {
        let resp = get(&format!("/front?url={url}")).await?;
        resp.assert_status(200);
        let h = seen(&resp.text());
        assert_eq!(h["spin-matched-route"], "/public/...", "{url}");
        assert_eq!(h["spin-path-info"], "/z", "{url}");
        assert_eq!(h["spin-full-url"], "http://self.alt/public/z?q=3", "{url}");
    }
    get("/front?url=/nowhere").await?.assert_status(404);

    let resp = get("/closed?url=/public/z").await?;
    assert_eq!(resp.status, 500, "{}", resp.text());
    server
        .stderr()
        .wait_for("add `http://self`", std::time::Duration::from_secs(10))?;
    Ok(())
}

/// A core module with embedded WIT — what older Spin SDKs build for
/// `wasm32-wasi` — is made a component at load (preview1 adapter included),
/// served like any other, and cached: a restart neither re-encodes nor
/// recompiles it. A module without WIT is refused with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn core_module_with_embedded_wit_is_componentized_and_cached() -> Result<()> {
    let app = AppDir::new()?;
    app.write(
        "spin.toml",
        format!(
            r#"spin_manifest_version = 2
[application]
name = "old-sdk"
[[trigger.http]]
route = "/old/..."
component = "old"
[component.old]
source = {}
"#,
            toml_path(HTTP_SPIN_P1_MODULE)
        ),
    )?;
    let cache = tempdir()?;
    for round in ["compiled", "from AOT cache"] {
        let server = Server::start_with(app.path(), cache.path(), |cmd| {
            cmd.env("SKIFF_LOG", "info");
        })?;
        server.stderr().wait_for(
            &format!("component `old` loaded {round}"),
            std::time::Duration::from_secs(10),
        )?;
        let resp = send(http::Request::get(server.url("/old/x")).body(empty())?).await?;
        resp.assert_status(200);
        let h = seen(&resp.text());
        assert_eq!(h["spin-path-info"], "/x", "{h:?}");
        let resp = send(http::Request::get(server.url("/old/empty")).body(empty())?).await?;
        resp.assert_status(200);
    }

    let plain = AppDir::new()?;
    plain.write(
        "spin.toml",
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"plain\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"plain\"\n[component.plain]\nsource = {}\n",
            toml_path(CLI_ECHO_P1_MODULE)
        ),
    )?;
    let out = up_fails(plain.path(), cache.path(), |_| {})?;
    assert!(
        out.stderr
            .contains("core WebAssembly module without embedded WIT"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("component `plain`"), "{}", out.stderr);
    Ok(())
}

/// A Spin manifest v1 app — a `wasm32-wasi` module from an older SDK, as
/// such apps were built — is served as Spin serves it: its `base` before
/// the component's route, the route's wildcard the guest's path info.
#[tokio::test(flavor = "multi_thread")]
async fn spin_v1_manifest_app_is_served() -> Result<()> {
    let app = AppDir::new()?;
    app.write(
        "spin.toml",
        format!(
            r#"spin_manifest_version = "1"
name = "v1-app"
version = "0.1.0"
trigger = {{ type = "http", base = "/base" }}

[[component]]
id = "old_sdk"
source = {}
[component.trigger]
route = "/old/..."
"#,
            toml_path(HTTP_SPIN_P1_MODULE)
        ),
    )?;
    let server = Server::start(app.path(), shared_cache()?)?;
    let banner = server
        .stdout()
        .wait_for("old-sdk", std::time::Duration::from_secs(10))?;
    assert!(banner.contains("/base/old/...  -> old-sdk"), "{banner}");
    let resp = send(http::Request::get(server.url("/base/old/x")).body(empty())?).await?;
    resp.assert_status(200);
    let h = seen(&resp.text());
    assert_eq!(h["spin-path-info"], "/x", "{h:?}");
    assert_eq!(h["spin-component-route"], "/base/old", "{h:?}");
    send(http::Request::get(server.url("/old/x")).body(empty())?)
        .await?
        .assert_status(404);
    Ok(())
}

/// Spin's reserved routes are the host's, before any app route (even a
/// catch-all): `/.well-known/spin/health` is `200 OK`, `…/info` the app's
/// name and version as JSON, anything else there `404`; an app route under
/// the prefix is warned about at start and never reached.
#[tokio::test(flavor = "multi_thread")]
async fn spin_reserved_routes_are_answered_by_the_host() -> Result<()> {
    let app = AppDir::new()?;
    app.write(
        "spin.toml",
        format!(
            r#"spin_manifest_version = 2
[application]
name = "reserved"
version = "3.1.4"
[[trigger.http]]
route = "/..."
component = "all"
[[trigger.http]]
route = "/.well-known/spin/mine"
component = "mine"
[component.all]
source = {hello}
[component.mine]
source = {hello}
"#,
            hello = toml_path(HTTP_HELLO_COMPONENT)
        ),
    )?;
    let server = Server::start(app.path(), shared_cache()?)?;
    server.stderr().wait_for(
        "route `/.well-known/spin/mine` (component `mine`) is under `/.well-known/spin/`",
        std::time::Duration::from_secs(10),
    )?;
    let get = |path: &str| send(http::Request::get(server.url(path)).body(empty()).unwrap());
    let health = get("/.well-known/spin/health").await?;
    health.assert_status(200);
    assert_eq!(health.text(), "OK\n");
    let info = get("/.well-known/spin/info").await?;
    info.assert_status(200);
    assert_eq!(info.headers["content-type"], "application/json");
    let json = info.json()?;
    assert_eq!(json["name"], "reserved");
    assert_eq!(json["version"], "3.1.4");
    get("/.well-known/spin/mine").await?.assert_status(404);
    get("/.well-known/spin/").await?.assert_status(404);
    let other = get("/.well-known/other").await?;
    other.assert_status(200);
    assert_eq!(
        other.text(),
        "Hello from Skiff!\n",
        "only the reserved prefix is the host's"
    );
    Ok(())
}

/// Spin's `static_response` triggers are answered by the host with no
/// component: status, headers and body as written (a redirect, a
/// `robots.txt`), beside component routes, listed in the banner.
#[tokio::test(flavor = "multi_thread")]
async fn static_response_triggers_need_no_component() -> Result<()> {
    let app = AppDir::new()?;
    app.write(
        "spin.toml",
        format!(
            r#"spin_manifest_version = 2
[application]
name = "statics"
[[trigger.http]]
route = "/old/..."
static_response = {{ status_code = 301, headers = {{ location = "/new", cache-control = "max-age=60" }} }}
[[trigger.http]]
route = "/robots.txt"
static_response = {{ headers = {{ content-type = "text/plain" }}, body = "User-agent: *\nDisallow: /\n" }}
[[trigger.http]]
route = "/new"
component = "hello"
[component.hello]
source = {}
"#,
            toml_path(HTTP_HELLO_COMPONENT)
        ),
    )?;
    let server = Server::start(app.path(), shared_cache()?)?;
    // The banner's last line (its lines may be read one by one).
    let banner = server
        .stdout()
        .wait_for("-> hello", std::time::Duration::from_secs(10))?;
    let line = |route: &str| {
        banner
            .lines()
            .find(|l| l.trim_start().starts_with(route))
            .map(|l| l.split("-> ").nth(1).unwrap_or_default().to_string())
    };
    assert_eq!(
        line("/old/...").as_deref(),
        Some("(static 301)"),
        "{banner}"
    );
    assert_eq!(
        line("/robots.txt").as_deref(),
        Some("(static 200)"),
        "{banner}"
    );
    assert!(
        banner.find("/old/...") < banner.find("/new "),
        "in manifest order: {banner}"
    );
    let get = |path: &str| send(http::Request::get(server.url(path)).body(empty()).unwrap());
    let moved = get("/old/page?x=1").await?;
    moved.assert_status(301);
    assert_eq!(moved.headers["location"], "/new");
    assert_eq!(moved.headers["cache-control"], "max-age=60");
    assert_eq!(moved.text(), "");
    let robots = get("/robots.txt").await?;
    robots.assert_status(200);
    assert_eq!(robots.headers["content-type"], "text/plain");
    assert_eq!(robots.text(), "User-agent: *\nDisallow: /\n");
    assert_eq!(get("/new").await?.text(), "Hello from Skiff!\n");
    Ok(())
}

/// `wasi:sockets` TCP connect, gated by `tcp://` entries of
/// `allowed_outbound_hosts`: an exact address, a CIDR range and a port range
/// allow it; another port, another range or no grant fail with `access-denied`
/// (std's `PermissionDenied`) before any connection is attempted.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_tcp() -> Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut line = String::new();
            let mut reader = BufReader::new(&stream);
            if reader.read_line(&mut line).is_ok() && line == "ping\n" {
                let _ = (&stream).write_all(b"pong\n");
            }
        }
    });
    let other = if port == u16::MAX { port - 1 } else { port + 1 };
    let (low, high) = (port.saturating_sub(1), port.saturating_add(1));
    let grants = [
        ("exact", format!("\"tcp://127.0.0.1:{port}\"")),
        ("cidr", format!("\"tcp://127.0.0.0/24:{port}\"")),
        ("range", format!("\"tcp://127.0.0.1:{low}-{high}\"")),
        ("otherport", format!("\"tcp://127.0.0.1:{other}\"")),
        ("otherrange", "\"tcp://10.0.0.0/8:*\"".to_string()),
        ("http", format!("\"http://127.0.0.1:{port}\"")),
        ("none", String::new()),
    ];
    let source = toml_path(HTTP_TCP_COMPONENT);
    let mut manifest = "spin_manifest_version = 2\n[application]\nname = \"sockets\"\n".to_string();
    for (id, grant) in &grants {
        manifest.push_str(&format!(
            "[[trigger.http]]\nroute = \"/{id}\"\ncomponent = \"{id}\"\n[component.{id}]\nsource = {source}\nallowed_outbound_hosts = [{grant}]\n"
        ));
    }
    let app = AppDir::new()?;
    app.write("spin.toml", manifest)?;
    let cache = tempdir()?;
    let server = Server::start(app.path(), cache.path())?;
    for (id, _) in &grants {
        let uri = server.url(&format!("/{id}?addr=127.0.0.1:{port}"));
        let resp = send(http::Request::get(uri).body(empty())?).await?;
        resp.assert_status(200);
        let expected = match *id {
            "exact" | "cidr" | "range" => "connected: pong\n",
            _ => "error: PermissionDenied\n",
        };
        assert_eq!(resp.text(), expected, "component `{id}`");
    }
    // Only the three allowed connects reached the listener.
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    Ok(())
}

/// The outbound HTTP client reads an HTTP/1.0 response without a
/// `content-length` to the end of the connection, as Spin's does.
#[tokio::test(flavor = "multi_thread")]
async fn outbound_http10_response_without_length_ends_at_close() -> Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nold server, ");
            let _ = stream.write_all(b"body until close\n");
            // Dropping the stream closes it: that ends the body.
        }
    });
    let app = AppDir::new()?;
    app.write(
        "spin.toml",
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"http10\"\n[[trigger.http]]\nroute = \"/fetch\"\ncomponent = \"fetch\"\n[component.fetch]\nsource = {}\nallowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]\n",
            toml_path(HTTP_OUTBOUND_COMPONENT)
        ),
    )?;
    let cache = tempdir()?;
    let server = Server::start(app.path(), cache.path())?;
    let uri = server.url(&format!("/fetch?url=http://127.0.0.1:{port}/old"));
    let resp = send(http::Request::get(uri).body(empty())?).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "status: 200\nold server, body until close\n");
    Ok(())
}
