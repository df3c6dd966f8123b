//! `skiff up --watch`: the app reloaded while it serves, when its manifest,
//! a component's source or a build's `watch` files change. New requests
//! (kept-alive connections too) get the new version; a request in progress
//! finishes on the old; a version that fails to load leaves the old one
//! serving; a cron schedule beside HTTP and a Redis trigger's connection are
//! handed to the new version (the messaging and MQTT hand-overs are tested
//! in `messaging.rs` and `mqtt_trigger.rs`).
//!
//! Every wait is bounded; nothing asserts how fast anything is.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use test_programs_artifacts::{
    HTTP_ECHO_COMPONENT, HTTP_FILES_COMPONENT, HTTP_HELLO_COMPONENT, HTTP_SLEEP_COMPONENT,
    TRIGGER_CRON_COMPONENT, TRIGGER_REDIS_COMPONENT, VARS_SPIN2_COMPONENT,
};

use crate::harness::{
    AppDir, BOUND, Connection, HEAD, Server, empty, get, install, replace_file, shared_cache,
    skiff_in, toml_path,
};

/// `skiff up --watch` on `app`.
fn start_watching(app: &AppDir) -> Result<Server> {
    Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--watch");
    })
}

/// The `env.VERSION` an `http_echo` response shows.
async fn version(conn: &mut Connection, path: &str) -> Result<String> {
    let resp = conn.send(http::Request::get(path).body(empty())?).await?;
    resp.assert_status(200);
    let json = resp.json()?;
    Ok(json["env"]["VERSION"].as_str().unwrap_or("").to_string())
}

/// An app whose `/echo/...` is `app.wasm` (VERSION `version`), with
/// `/slow` on `http_sleep` when `slow`.
fn echo_manifest(version: &str, slow: bool) -> String {
    let mut text = format!(
        "{HEAD}[[trigger.http]]\nroute = \"/echo/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = \"app.wasm\"\nenvironment = {{ VERSION = \"{version}\" }}\n"
    );
    if slow {
        text.push_str(&format!(
            "[[trigger.http]]\nroute = \"/slow\"\ncomponent = \"slow\"\n\
             [component.slow]\nsource = {}\n",
            toml_path(HTTP_SLEEP_COMPONENT)
        ));
    }
    text
}

/// A manifest edit and a new `source` each reload the app: a kept-alive
/// connection's next request gets the new version, a request in progress
/// finishes on the old one (its route is gone from the new), and a removed
/// route is a `404` from then on.
#[tokio::test(flavor = "multi_thread")]
async fn reloads_on_manifest_and_source_changes_keeping_connections() -> Result<()> {
    let app = AppDir::with_manifest(&echo_manifest("1", true)[HEAD.len()..])?;
    install(HTTP_ECHO_COMPONENT, &app.path().join("app.wasm"))?;
    let server = start_watching(&app)?;
    let mut conn = Connection::open(server.addr()).await?;
    assert_eq!(version(&mut conn, "/echo/a").await?, "1");

    // A request the old version is serving when the new one takes over.
    let slow_url = server.url("/slow?ms=3000");
    let slow = tokio::spawn(async move { get(&slow_url).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    replace_file(&app.manifest(), &echo_manifest("2", false))?;
    let out = server.stdout().wait_for("Reloaded app `test`", BOUND)?;
    assert!(out.contains("/echo/...  -> app"), "{out}");
    assert_eq!(version(&mut conn, "/echo/b").await?, "2");
    let resp = slow.await??;
    resp.assert_status(200);
    assert_eq!(resp.text(), "slept 3000");
    get(&server.url("/slow")).await?.assert_status(404);

    // A new build of the component's source.
    install(HTTP_HELLO_COMPONENT, &app.path().join("app.wasm"))?;
    server
        .stdout()
        .wait_for_count("Reloaded app `test`", 2, BOUND)?;
    let resp = conn
        .send(http::Request::get("/echo/c").body(empty())?)
        .await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "Hello from Skiff!\n");
    let log = server.stderr().text();
    assert!(log.contains("reloaded app `test`"), "{log}");
    Ok(())
}

/// A manifest error, a source that is not a component and a required
/// variable with no value are each reported, naming what is wrong, while the
/// version serving stays; the next good version is served.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_that_fails_to_load_leaves_the_old_one_serving() -> Result<()> {
    let app = AppDir::with_manifest(&echo_manifest("1", false)[HEAD.len()..])?;
    install(HTTP_ECHO_COMPONENT, &app.path().join("app.wasm"))?;
    let server = start_watching(&app)?;
    let mut conn = Connection::open(server.addr()).await?;
    assert_eq!(version(&mut conn, "/echo/a").await?, "1");

    // A misspelt key.
    replace_file(
        &app.manifest(),
        &echo_manifest("2", false).replace("source =", "sorce ="),
    )?;
    // The hint is the error's second line, which may arrive after its first.
    let log = server.stderr().wait_for("did you mean `source`?", BOUND)?;
    assert!(log.contains("app not reloaded"), "{log}");
    assert!(log.contains("skiff.toml:8:"), "{log}");
    assert!(log.contains("unknown key `sorce`"), "{log}");
    assert_eq!(version(&mut conn, "/echo/b").await?, "1");

    // Not a component.
    app.write("garbage.wasm", b"not wasm at all")?;
    replace_file(
        &app.manifest(),
        &echo_manifest("3", false).replace("\"app.wasm\"", "\"garbage.wasm\""),
    )?;
    let log = server
        .stderr()
        .wait_for_count("app not reloaded", 2, BOUND)?;
    assert!(log.contains("garbage.wasm"), "{log}");
    assert_eq!(version(&mut conn, "/echo/c").await?, "1");

    // A required variable nothing gives a value.
    replace_file(
        &app.manifest(),
        &format!(
            "{}[variables]\napi_key = {{ required = true }}\n",
            echo_manifest("4", false)
        ),
    )?;
    let log = server
        .stderr()
        .wait_for_count("app not reloaded", 3, BOUND)?;
    assert!(log.contains("api_key"), "{log}");
    assert_eq!(version(&mut conn, "/echo/d").await?, "1");
    assert!(!server.stdout().text().contains("Reloaded app"));

    // Fixed.
    replace_file(&app.manifest(), &echo_manifest("5", false))?;
    server.stdout().wait_for("Reloaded app `test`", BOUND)?;
    assert_eq!(version(&mut conn, "/echo/e").await?, "5");
    Ok(())
}

/// A change to a file a component's `build.watch` names runs its build
/// command, whose output reloads the app; a failing build is reported and
/// changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn build_watch_files_rebuild_then_reload() -> Result<()> {
    let app = AppDir::with_manifest(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = \"app.wasm\"\n\
         [component.app.build]\n\
         command = \"cp \\\"$(cat src/pick.txt)\\\" app.wasm.tmp && mv app.wasm.tmp app.wasm\"\n\
         watch = [\"src/*.txt\"]\n",
    )?;
    app.write("src/pick.txt", HTTP_ECHO_COMPONENT)?;
    // `--build` first, then `--watch`.
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.args(["--build", "--watch"]);
    })?;
    let resp = get(&server.url("/x")).await?;
    resp.assert_status(200);
    assert!(resp.json().is_ok(), "{}", resp.text());

    app.write("src/pick.txt", HTTP_HELLO_COMPONENT)?;
    server.stdout().wait_for("Reloaded app `test`", BOUND)?;
    let log = server.stderr().text();
    assert!(log.contains("Building component `app` with `cp "), "{log}");
    let resp = get(&server.url("/x")).await?;
    assert_eq!(resp.text(), "Hello from Skiff!\n");

    app.write("src/pick.txt", "/nonexistent/skiff-test.wasm")?;
    let log = server.stderr().wait_for("build command `cp ", BOUND)?;
    assert!(log.contains("of component `app` failed"), "{log}");
    assert!(log.contains("still serving the previous version"), "{log}");
    let resp = get(&server.url("/x")).await?;
    assert_eq!(resp.text(), "Hello from Skiff!\n");
    ensure!(
        server.stdout().text().matches("Reloaded app").count() == 1,
        "a failed build reloaded the app:\n{}",
        server.stdout().text()
    );
    Ok(())
}

/// A reload gives components the new version's variables and keeps the
/// runtime config's providers, and a runtime-config change after it applies
/// to the new version.
#[tokio::test(flavor = "multi_thread")]
async fn variables_follow_the_new_version_and_the_runtime_config() -> Result<()> {
    let manifest = |default: &str| {
        format!(
            "[variables]\nwho = {{ default = \"{default}\" }}\ntoken = {{ required = true }}\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"vars\"\n\
             [component.vars]\nsource = {}\n\
             variables = {{ greeting = \"hello {{{{ who }}}}\", key = \"{{{{ token }}}}\" }}\n",
            toml_path(VARS_SPIN2_COMPONENT)
        )
    };
    let app = AppDir::with_manifest(&manifest("a"))?;
    let config = app.write(
        "runtime-config.toml",
        "[[variables_provider]]\ntype = \"static\"\nvalues = { token = \"t1\" }\n",
    )?;
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--watch").arg("--runtime-config").arg(&config);
    })?;
    let value = |name: &'static str| {
        let url = server.url(&format!("/v?name={name}"));
        async move { get(&url).await.map(|r| r.text()) }
    };
    assert_eq!(value("greeting").await?, "hello a");
    assert_eq!(value("key").await?, "t1");

    replace_file(&app.manifest(), &format!("{HEAD}{}", manifest("b")))?;
    server.stdout().wait_for("Reloaded app `test`", BOUND)?;
    assert_eq!(value("greeting").await?, "hello b");
    assert_eq!(value("key").await?, "t1");

    replace_file(
        &config,
        "[[variables_provider]]\ntype = \"static\"\nvalues = { token = \"t2\" }\n",
    )?;
    server.stderr().wait_for("applied", BOUND)?;
    assert_eq!(value("key").await?, "t2");
    Ok(())
}

/// The cron trigger beside HTTP is handed to the new version: after the
/// reload its runs are the new version's, none of the old one's follow, the
/// schedule was never started again, and no time ran twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_cron_schedule_is_handed_to_the_new_version() -> Result<()> {
    let manifest = |mode: &str| {
        format!(
            "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n\
             [component.hello]\nsource = {}\n\
             [[trigger.cron]]\ncron_expression = \"* * * * * *\"\ncomponent = \"tick\"\n\
             [component.tick]\nsource = {}\nenvironment = {{ CRON_MODE = \"{mode}\" }}\n",
            toml_path(HTTP_HELLO_COMPONENT),
            toml_path(TRIGGER_CRON_COMPONENT)
        )
    };
    let app = AppDir::with_manifest(&manifest("first"))?;
    let server = start_watching(&app)?;
    server
        .stderr()
        .wait_for("[tick stdout] cron tick ", BOUND)?;
    assert!(server.stderr().text().contains(" mode first"));

    replace_file(&app.manifest(), &format!("{HEAD}{}", manifest("second")))?;
    server.stdout().wait_for("Reloaded app `test`", BOUND)?;
    let out = server.stdout().text();
    assert!(out.contains("Cron triggers:"), "{out}");
    let log = server.stderr().wait_for_count(" mode second", 3, BOUND)?;
    // Past the second run of the new version, no run of the old one.
    let after = log
        .match_indices(" mode second")
        .nth(1)
        .map(|(i, _)| &log[i..])
        .expect("two runs of the new version");
    assert!(!after.contains(" mode first"), "{log}");
    let started = log.matches("runs component `tick`; next run").count();
    assert_eq!(started, 1, "the schedule was started again: {log}");
    let mut times: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("cron tick ").nth(1)?.split(' ').next())
        .collect();
    let runs = times.len();
    times.sort();
    times.dedup();
    assert_eq!(times.len(), runs, "a time ran twice: {log}");
    get(&server.url("/")).await?.assert_status(200);
    Ok(())
}

/// A file added where a `files` glob looks is mounted by a reload (globs
/// are expanded at load); an edit to a mounted file needs none.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_added_beside_a_globbed_mount_is_mounted() -> Result<()> {
    let app = AppDir::with_manifest(&format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"files\"\n\
         [component.files]\nsource = {}\nfiles = [\"static/*.txt\"]\n",
        toml_path(HTTP_FILES_COMPONENT)
    ))?;
    app.write("static/a.txt", "first")?;
    let mut server = start_watching(&app)?;
    let read = |path: &'static str| {
        let url = server.url(&format!("/?path={path}"));
        async move { get(&url).await }
    };
    assert_eq!(read("/static/a.txt").await?.text(), "first");
    read("/static/b.txt").await?.assert_status(404);

    app.write("static/b.txt", "second")?;
    server.stdout().wait_for("Reloaded app `test`", BOUND)?;
    assert_eq!(read("/static/b.txt").await?.text(), "second");
    assert_eq!(read("/static/a.txt").await?.text(), "first");

    // Shutdown is as without `--watch`.
    server.signal("TERM")?;
    let status = server.wait_exit(BOUND)?;
    assert!(status.success(), "exit status {status}");
    Ok(())
}

/// Counters carry on across a reload: a component of both versions keeps
/// its counts (a monitoring system sees no reset), one that is new starts
/// from zero, and so does nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_carry_on_across_a_reload() -> Result<()> {
    let app = AppDir::with_manifest(&echo_manifest("1", false)[HEAD.len()..])?;
    install(HTTP_ECHO_COMPONENT, &app.path().join("app.wasm"))?;
    let port = crate::redis_server::free_port()?;
    let at = format!("127.0.0.1:{port}");
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.args(["--watch", "--metrics", &at]);
    })?;
    let metrics_url = format!("http://{at}/metrics");
    let count = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1.0)
    };
    let ok = "skiff_http_responses_total{component=\"app\",class=\"2xx\"} ";
    let unrouted = "skiff_http_unrouted_requests_total ";
    for _ in 0..3 {
        get(&server.url("/echo/x")).await?.assert_status(200);
    }
    get(&server.url("/nowhere")).await?.assert_status(404);
    let text = get(&metrics_url).await?.text();
    assert_eq!(count(&text, ok), 3.0, "{text}");
    assert_eq!(count(&text, unrouted), 1.0, "{text}");

    replace_file(&app.manifest(), &echo_manifest("2", true))?;
    server.stdout().wait_for("Reloaded app `test`", BOUND)?;
    let mut conn = Connection::open(server.addr()).await?;
    assert_eq!(version(&mut conn, "/echo/y").await?, "2");
    get(&server.url("/slow?ms=1")).await?.assert_status(200);
    let text = get(&metrics_url).await?.text();
    assert_eq!(count(&text, ok), 4.0, "{text}");
    assert_eq!(count(&text, unrouted), 1.0, "{text}");
    let slow = "skiff_http_responses_total{component=\"slow\",class=\"2xx\"} ";
    assert_eq!(count(&text, slow), 1.0, "{text}");
    Ok(())
}

/// `--watch` needs local files: a registry reference is refused before
/// anything is pulled.
#[test]
fn watch_refuses_a_registry_reference() -> Result<()> {
    let cache = crate::harness::tempdir()?;
    let out = skiff_in(
        cache.path(),
        ["up", "--watch", "--from", "127.0.0.1:9/nothing/here:1"],
        |_| {},
    )?;
    ensure!(!out.status.success(), "{}", out.stderr);
    out.assert_stderr_contains("`--watch` cannot watch `127.0.0.1:9/nothing/here:1`");
    Ok(())
}

/// Publishes on `channel` through its own connection to `address` until
/// `stop` is set, waiting `pace` between messages (`m0`, `m1`, ...); returns
/// each message with the number of subscribers Redis says received it.
fn publish_until(
    address: &str,
    channel: &str,
    pace: Duration,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Vec<(String, i64)>> {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(BOUND))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut sent = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let message = format!("m{}", sent.len());
        let mut command = String::from("*3\r\n$7\r\nPUBLISH\r\n");
        for arg in [channel, &message] {
            command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        writer.write_all(command.as_bytes())?;
        let mut reply = String::new();
        reader.read_line(&mut reply)?;
        let receivers = reply
            .trim_end()
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("PUBLISH answered {reply:?}"))?;
        sent.push((message, receivers));
        std::thread::sleep(pace);
    }
    Ok(sent)
}

/// The ids of `redis`'s pub/sub client connections.
fn pubsub_clients(redis: &crate::redis_server::RedisServer) -> Result<Vec<String>> {
    let list = redis.cli(&["CLIENT", "LIST", "TYPE", "pubsub"])?;
    Ok(list
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(String::from)
        .collect())
}

/// A Redis trigger hands its subscription to the new version: the
/// connection stays (the same client), every message published while the
/// app reloads reaches exactly one subscriber and is handled once, and the
/// channel the new version adds is subscribed on that connection.
#[tokio::test(flavor = "multi_thread")]
async fn a_redis_trigger_loses_no_message_across_a_reload() -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::trigger_redis::{wait_received, wait_subscribed};

    let redis = crate::redis_server::RedisServer::start()?;
    let url = redis.url();
    let manifest = |channels: &[&str]| {
        let mut text = format!("[application.trigger.redis]\naddress = \"{url}\"\n");
        for channel in channels {
            text.push_str(&format!(
                "[[trigger.redis]]\nchannel = \"{channel}\"\ncomponent = \"handler\"\n"
            ));
        }
        text.push_str(&format!(
            "[component.handler]\nsource = {}\n\
             environment = {{ REDIS_ADDRESS = \"{url}\" }}\n\
             allowed_outbound_hosts = [\"{url}\"]\n",
            toml_path(TRIGGER_REDIS_COMPONENT)
        ));
        text
    };
    let app = AppDir::with_manifest(&manifest(&["messages"]))?;
    let server = Server::start_triggers_only_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--watch");
    })?;
    wait_subscribed(&redis, "messages", 1)?;
    let before = pubsub_clients(&redis)?;
    assert_eq!(before.len(), 1, "{before:?}");

    // A publisher runs through the reload.
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (address, stop) = (redis.address(), stop.clone());
        std::thread::spawn(move || {
            publish_until(&address, "messages", Duration::from_millis(2), &stop)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    replace_file(
        &app.manifest(),
        &format!("{HEAD}{}", manifest(&["messages", "more"])),
    )?;
    server.stdout().wait_for("Reloaded app `test`", BOUND)?;
    wait_subscribed(&redis, "more", 1)?;
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let sent = publisher.join().expect("the publisher thread")?;
    ensure!(
        sent.len() > 100,
        "only {} messages were published",
        sent.len()
    );
    let missed: Vec<_> = sent.iter().filter(|(_, n)| *n != 1).collect();
    assert!(
        missed.is_empty(),
        "messages not received by exactly one subscriber: {missed:?}"
    );
    assert_eq!(pubsub_clients(&redis)?, before, "the connection changed");

    // The new version's channel is served too; each message was handled once.
    redis.cli(&["PUBLISH", "more", "extra"])?;
    let received = wait_received(&redis, sent.len() + 1)?;
    let mut want: Vec<String> = sent.into_iter().map(|(m, _)| m).collect();
    want.push("extra".into());
    want.sort();
    assert_eq!(received, want);
    server.stderr().wait_for(
        "handed to the new version, subscribed to channel(s) `messages`, `more`",
        BOUND,
    )?;
    Ok(())
}
