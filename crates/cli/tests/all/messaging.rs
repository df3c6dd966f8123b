//! Messaging through `skiff up`: the `messaging_wasi` guest
//! (`wasi:messaging@0.2.0-draft`) and the `messaging_wasmcloud` guest
//! (`wasmcloud:messaging@0.2.0`), each an HTTP front that sends and
//! requests and a handler the messaging trigger calls, on both backends:
//! the embedded broker (no runtime config) and a real `nats-server`
//! (`[message_broker.default] type = "nats"`), by one suite.
//!
//! Handlers record what they got in key-value store `default`, which the
//! HTTP front reads back; every wait is bounded.

use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use skiff_messaging::{Broker, Message, NatsBroker, NatsConfig};
use skiff_test_support::nats_server::NatsServer;
use test_programs_artifacts::{
    HTTP_HELLO_COMPONENT, MESSAGING_WASI_COMPONENT, MESSAGING_WASMCLOUD_COMPONENT,
};

use crate::harness::{AppDir, BOUND, Server, get, shared_cache, toml_path, up_fails};
use crate::outbound_redis::enc;

/// How long a subscription or a delivery may take to show.
const EFFECT_BOUND: Duration = Duration::from_secs(30);

/// Which broker backs label `default` in a test.
enum Backend {
    Embedded,
    Nats(NatsServer),
}

impl Backend {
    fn nats() -> Result<Self> {
        Ok(Backend::Nats(NatsServer::start()?))
    }

    /// Starts `skiff up` on `app` with this backend's runtime config.
    fn serve(&self, app: &AppDir) -> Result<Server> {
        self.serve_with(app, &[])
    }

    /// [`Backend::serve`] with more arguments.
    fn serve_with(&self, app: &AppDir, args: &[&str]) -> Result<Server> {
        let runtime_config = match self {
            Backend::Embedded => None,
            Backend::Nats(nats) => Some(app.write(
                "runtime-config.toml",
                format!(
                    "[message_broker.default]\ntype = \"nats\"\nurl = \"{}\"\n",
                    nats.url()
                ),
            )?),
        };
        Server::start_with(app.path(), shared_cache()?, |cmd| {
            if let Some(rc) = runtime_config {
                cmd.arg("--runtime-config").arg(rc);
            }
            cmd.args(args);
        })
    }
}

/// Runs `$body(backend)` once per backend, as `$name::embedded` and
/// `$name::nats`.
macro_rules! messaging_test {
    ($name:ident, $body:ident) => {
        pub mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn embedded() -> anyhow::Result<()> {
                super::$body(super::Backend::Embedded).await
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn nats() -> anyhow::Result<()> {
                super::$body(super::Backend::nats()?).await
            }
        }
    };
}

messaging_test!(messaging_wasi, wasi_suite);
messaging_test!(messaging_wasmcloud, wasmcloud_suite);
messaging_test!(messaging_reload, reload_suite);

/// `GET /ID?query`; the guest answers 200. Returns the body.
async fn call(server: &Server, id: &str, query: &str) -> Result<String> {
    let resp = get(&server.url(&format!("/{id}?{query}"))).await?;
    ensure!(
        resp.status == 200,
        "GET /{id}?{query}: {} {}",
        resp.status,
        resp.text()
    );
    Ok(resp.text())
}

/// Waits until `GET /ID?get=KEY` answers `want`.
async fn wait_value(server: &Server, id: &str, key: &str, want: &str) -> Result<()> {
    let deadline = Instant::now() + EFFECT_BOUND;
    loop {
        let got = call(server, id, &format!("get={}", enc(key))).await?;
        if got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("key `{key}` is `{got}`, not `{want}`, after {EFFECT_BOUND:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An HTTP-routed component `id` running `source`, with its grants.
fn component(id: &str, source: &str, brokers: &[&str]) -> String {
    let brokers = brokers
        .iter()
        .map(|b| format!("\"{b}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[[trigger.http]]\nroute = \"/{id}\"\ncomponent = \"{id}\"\n\
         [component.{id}]\nsource = {}\nkey_value_stores = [\"default\"]\n\
         message_brokers = [{brokers}]\n",
        toml_path(source)
    )
}

/// `[[trigger.messaging]]` on `subject` for component `id`.
fn subscription(subject: &str, id: &str, group: Option<&str>) -> String {
    let group = group
        .map(|g| format!("queue_group = \"{g}\"\n"))
        .unwrap_or_default();
    format!("[[trigger.messaging]]\nsubject = \"{subject}\"\ncomponent = \"{id}\"\n{group}")
}

/// Waits until the trigger logged its subscription to `subject`.
fn wait_subscribed(server: &Server, subject: &str) -> Result<()> {
    server.stderr().wait_for(
        &format!("messaging trigger subscribed to `{subject}`"),
        EFFECT_BOUND,
    )?;
    Ok(())
}

/// `wasi:messaging`: a sent message reaches the subscribed handler with its
/// content type and metadata; a request gets the handler's reply; a
/// request nobody answers fails at once; a trapping or failing handler
/// costs its own message only; grants, metadata and subjects are checked.
/// On NATS, the messages really cross the server: the test's own client
/// sees what the guest sends, and what it publishes reaches the handler.
async fn wasi_suite(backend: Backend) -> Result<()> {
    let manifest = [
        component("app", MESSAGING_WASI_COMPONENT, &["default"]),
        component("nogrant", MESSAGING_WASI_COMPONENT, &[]),
        subscription("orders.>", "app", None),
        subscription("echo.*", "app", Some("echoers")),
    ]
    .concat();
    let app = AppDir::with_manifest(&manifest)?;
    let server = backend.serve(&app)?;
    let banner = server.stdout().wait_for("-> app", BOUND)?;
    let want = match &backend {
        Backend::Embedded => "default (embedded) `echo.*` (queue group `echoers`)  -> app".into(),
        Backend::Nats(nats) => format!(
            "default ({}) `echo.*` (queue group `echoers`)  -> app",
            nats.url()
        ),
    };
    server.stdout().wait_for(&want, BOUND)?;
    assert!(banner.contains("Messaging triggers:"), "{banner}");
    wait_subscribed(&server, "orders.>")?;
    wait_subscribed(&server, "echo.*")?;

    // On NATS, a client of the test's own watches what the guest sends.
    let watcher = match &backend {
        Backend::Nats(nats) => {
            let broker = NatsBroker::connect(&NatsConfig::new(nats.url())).await?;
            let watch = broker.subscribe("orders.new", None).await?;
            Some((broker, watch))
        }
        Backend::Embedded => None,
    };

    // A message with content type and metadata reaches the handler.
    assert_eq!(
        call(
            &server,
            "app",
            "send=orders.new&body=hello&ct=text%2Fplain&meta=k%3Dv"
        )
        .await?,
        "sent"
    );
    wait_value(&server, "app", "count:orders.new", "1").await?;
    wait_value(
        &server,
        "app",
        "msg:orders.new:1",
        "topic=orders.new|data=hello|ct=text/plain|meta=k=v",
    )
    .await?;
    if let Some((broker, mut watch)) = watcher {
        use futures_util::StreamExt as _;
        let seen = tokio::time::timeout(EFFECT_BOUND, watch.next()).await?;
        let seen = seen.expect("the subscription is open");
        assert_eq!(&seen.payload[..], b"hello");
        assert_eq!(seen.content_type(), Some("text/plain"));
        assert_eq!(seen.header("k"), Some("v"));
        // And a message published outside Skiff reaches the handler.
        broker
            .publish(Message::new("orders.external", "from outside"))
            .await?;
        wait_value(&server, "app", "count:orders.external", "1").await?;
        wait_value(
            &server,
            "app",
            "msg:orders.external:1",
            "topic=orders.external|data=from outside|ct=|meta=",
        )
        .await?;
        // A request from outside gets the handler's reply.
        let replies = broker
            .request(Message::new("echo.outside", "ping"), Some(EFFECT_BOUND), 1)
            .await?;
        assert_eq!(&replies[0].payload[..], b"PING");
        assert_eq!(replies[0].header("handled-by"), Some("wasi"));
    }

    // A request gets the handler's reply, content type and metadata.
    let reply = call(&server, "app", "request=echo.x&body=ping&timeout=10000").await?;
    assert!(
        reply.ends_with("|data=PING|ct=text/plain|meta=handled-by=wasi"),
        "{reply}"
    );
    // Nobody subscribed: an error at once, not a timeout.
    assert_eq!(
        call(&server, "app", "request=nobody.home&body=x&timeout=10000").await?,
        "error: other: no subscriber answers requests on `nobody.home`"
    );

    // A handler that traps or fails costs its own message only.
    for body in ["trap", "fail", "after"] {
        assert_eq!(
            call(&server, "app", &format!("send=orders.bad&body={body}")).await?,
            "sent"
        );
    }
    wait_value(&server, "app", "count:orders.bad", "1").await?;
    let log = server.stderr().wait_for(
        "component `app` failed handling a message on subject `orders.bad`",
        BOUND,
    )?;
    assert!(log.contains("asked to trap"), "{log}");
    let log = server.stderr().wait_for(
        "component `app` returned an error for a message on subject `orders.bad`",
        BOUND,
    )?;
    assert!(log.contains("asked to fail"), "{log}");

    // Grants: no `message_brokers`, or a label it lacks.
    assert_eq!(
        call(&server, "nogrant", "send=orders.new&body=x").await?,
        "error: permission-denied: component `nogrant` may not use message broker `default`: \
         add \"default\" to its `message_brokers`"
    );
    assert_eq!(
        call(&server, "app", "send=orders.new&body=x&broker=audit").await?,
        "error: permission-denied: component `app` may not use message broker `audit`: \
         add \"audit\" to its `message_brokers`"
    );
    // Metadata and subjects that cannot travel.
    let refused = call(&server, "app", "send=orders.new&body=x&meta=bad%20key%3Dv").await?;
    assert!(
        refused.starts_with("error: metadata: MetadataError::Invalid(Some(")
            && refused.contains("bad key"),
        "{refused}"
    );
    let refused = call(&server, "app", "send=orders..new&body=x").await?;
    assert!(
        refused.starts_with("error: other: ") && refused.contains("orders..new"),
        "{refused}"
    );
    // Nothing of the refused sends arrived.
    assert_eq!(call(&server, "app", "get=count%3Aorders.new").await?, "1");
    Ok(())
}

/// `wasmcloud:messaging`: a published message reaches the handler with its
/// `reply-to`; a request is answered by a handler that publishes to the
/// `reply-to` subject without any grant of its own; a request nobody
/// answers is an error string.
async fn wasmcloud_suite(backend: Backend) -> Result<()> {
    let manifest = [
        component("wc", MESSAGING_WASMCLOUD_COMPONENT, &["default"]),
        format!(
            "[component.worker]\nsource = {}\nkey_value_stores = [\"default\"]\n",
            toml_path(MESSAGING_WASMCLOUD_COMPONENT)
        ),
        subscription("jobs.*", "wc", None),
        subscription("work.>", "worker", Some("workers")),
    ]
    .concat();
    let app = AppDir::with_manifest(&manifest)?;
    let server = backend.serve(&app)?;
    wait_subscribed(&server, "jobs.*")?;
    wait_subscribed(&server, "work.>")?;

    assert_eq!(
        call(&server, "wc", "publish=jobs.a&body=one&reply_to=nowhere").await?,
        "published"
    );
    wait_value(&server, "wc", "wc-msg:jobs.a:1", "one|nowhere").await?;

    // `worker` has no `message_brokers`, yet answers on the reply subject.
    let reply = call(&server, "wc", "request=work.x.y&body=job&timeout=10000").await?;
    assert!(
        reply.starts_with("subject=") && reply.ends_with("|body=JOB"),
        "{reply}"
    );
    wait_value(&server, "wc", "wc-count:work.x.y", "1").await?;
    assert_eq!(
        call(&server, "wc", "request=nobody.home&body=x&timeout=500").await?,
        "error: no subscriber answers requests on `nobody.home`"
    );
    // The worker's grant is only the reply: publishing anywhere else is refused.
    if let Backend::Nats(nats) = &backend {
        // A request from outside Skiff gets the worker's reply.
        let broker = NatsBroker::connect(&NatsConfig::new(nats.url())).await?;
        let replies = broker
            .request(Message::new("work.z", "abc"), Some(EFFECT_BOUND), 1)
            .await?;
        assert_eq!(&replies[0].payload[..], b"ABC");
    }
    Ok(())
}

/// An app of only a messaging trigger on NATS serves no HTTP; started while
/// NATS is down, it keeps trying, subscribes once NATS is up, and answers
/// requests from outside.
#[tokio::test(flavor = "multi_thread")]
async fn trigger_only_app_waits_for_nats() -> Result<()> {
    let mut nats = NatsServer::start()?;
    let url = nats.url();
    nats.stop()?;
    let manifest = format!(
        "[component.worker]\nsource = {}\nkey_value_stores = [\"default\"]\n{}",
        toml_path(MESSAGING_WASMCLOUD_COMPONENT),
        subscription("work.*", "worker", None)
    );
    let app = AppDir::with_manifest(&manifest)?;
    let rc = app.write(
        "runtime-config.toml",
        format!("[message_broker.default]\ntype = \"nats\"\nurl = \"{url}\"\n"),
    )?;
    let mut server = Server::start_triggers_only_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(rc);
    })?;
    let banner = server.stdout().wait_for("-> worker", BOUND)?;
    assert!(!banner.contains("Serving http"), "{banner}");
    server.stderr().wait_for(
        "messaging trigger could not subscribe to `work.*` on broker `default`",
        EFFECT_BOUND,
    )?;
    nats.restart()?;
    wait_subscribed(&server, "work.*")?;
    let broker = NatsBroker::connect(&NatsConfig::new(url)).await?;
    let replies = broker
        .request(Message::new("work.now", "late"), Some(EFFECT_BOUND), 1)
        .await?;
    assert_eq!(&replies[0].payload[..], b"LATE");

    server.signal("TERM")?;
    let status = server.wait_exit(BOUND)?;
    assert!(status.success(), "exit status {status}");
    Ok(())
}

/// A component that exports no message handler, a subject that cannot be
/// subscribed and a broker type Skiff has not got each stop the start,
/// saying what and where.
#[tokio::test(flavor = "multi_thread")]
async fn bad_messaging_setups_fail_the_start() -> Result<()> {
    let hello = AppDir::with_manifest(&format!(
        "[component.hello]\nsource = {}\n{}",
        toml_path(HTTP_HELLO_COMPONENT),
        subscription("a.b", "hello", None)
    ))?;
    up_fails(hello.path(), shared_cache()?, |_| {})?.assert_stderr_contains(
        "component `hello` cannot handle messages: it must export \
         `wasi:messaging/incoming-handler@0.2.0-draft` or `wasmcloud:messaging/handler@0.2.0`",
    );

    let app = AppDir::with_manifest(&component("app", MESSAGING_WASI_COMPONENT, &["default"]))?;
    let rc = app.write(
        "runtime-config.toml",
        "[message_broker.default]\ntype = \"kafka\"\n",
    )?;
    up_fails(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(&rc);
    })?
    .assert_stderr_contains("message_broker.default.type");
    Ok(())
}

/// `skiff up --watch`: the messaging trigger hands its subscription to the
/// new version. Messages sent (each on a subject of its own) while the app
/// reloads are each handled exactly once, the subscription is never made
/// again, and the subject the new version adds is subscribed.
async fn reload_suite(backend: Backend) -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let manifest = |more: bool| {
        let mut text = [
            component("app", MESSAGING_WASI_COMPONENT, &["default"]),
            subscription("orders.>", "app", None),
        ]
        .concat();
        if more {
            text.push_str(&subscription("more.*", "app", None));
        }
        text
    };
    let app = AppDir::with_manifest(&manifest(false))?;
    let server = backend.serve_with(&app, &["--watch"])?;
    wait_subscribed(&server, "orders.>")?;

    // A sender runs through the reload, one subject per message.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (base, stop) = (server.url("/app"), stop.clone());
        tokio::spawn(async move {
            let mut sent = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let resp = get(&format!("{base}?send=orders.n{sent}&body=m")).await?;
                ensure!(
                    resp.status == 200 && resp.text() == "sent",
                    "send {sent}: {}",
                    resp.text()
                );
                sent += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<_, anyhow::Error>(sent)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    crate::harness::replace_file(
        &app.manifest(),
        &format!("{}{}", crate::harness::HEAD, manifest(true)),
    )?;
    server.stdout().wait_for("Reloaded app `test`", BOUND)?;
    wait_subscribed(&server, "more.*")?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let sent = sender.await??;
    ensure!(sent > 50, "only {sent} messages were sent");
    for n in 0..sent {
        wait_value(&server, "app", &format!("count:orders.n{n}"), "1").await?;
    }
    let subscribed = server
        .stderr()
        .text()
        .matches("messaging trigger subscribed to `orders.>`")
        .count();
    assert_eq!(subscribed, 1, "`orders.>` was subscribed again");

    call(&server, "app", "send=more.x&body=m").await?;
    wait_value(&server, "app", "count:more.x", "1").await?;
    Ok(())
}

/// A runtime-config reload that puts NATS behind label `default` moves the
/// trigger's subscription there (subscribed on NATS before the change is put
/// in use, so what the guest sends right after it is delivered) and the
/// guest's sends with it; a reload naming a NATS
/// server that is down is refused and changes nothing; dropping the section
/// moves everything back to the embedded broker.
#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_config_reload_moves_the_trigger_to_another_broker() -> Result<()> {
    use futures_util::StreamExt as _;

    let nats = NatsServer::start()?;
    let app = AppDir::with_manifest(
        &[
            component("app", MESSAGING_WASI_COMPONENT, &["default"]),
            subscription("orders.>", "app", None),
        ]
        .concat(),
    )?;
    let rc = app.write("runtime-config.toml", "")?;
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config").arg(&rc);
    })?;
    wait_subscribed(&server, "orders.>")?;
    assert_eq!(call(&server, "app", "send=orders.a&body=m").await?, "sent");
    wait_value(&server, "app", "count:orders.a", "1").await?;

    let applied = format!("runtime config `{}` applied", rc.display());
    let moved = "subscription to `orders.>` on broker `default` moved from embedded to nats://";
    let on_nats = format!(
        "[message_broker.default]\ntype = \"nats\"\nurl = \"{}\"\n",
        nats.url()
    );
    crate::harness::replace_file(&rc, &on_nats)?;
    let log = tokio::task::block_in_place(|| server.stderr().wait_for(&applied, EFFECT_BOUND))?;
    ensure!(log.contains(moved), "{log}");
    // The subscription moved before the change was put in use: what the
    // guest sends at once (now on NATS) reaches the handler.
    assert_eq!(
        call(&server, "app", "send=orders.now&body=m").await?,
        "sent"
    );
    wait_value(&server, "app", "count:orders.now", "1").await?;
    // A message published on the NATS server reaches the handler, and what
    // the guest sends now crosses the server.
    let client = NatsBroker::connect(&NatsConfig::new(nats.url())).await?;
    let mut watch = client.subscribe("orders.c", None).await?;
    client.publish(Message::new("orders.b", "m")).await?;
    wait_value(&server, "app", "count:orders.b", "1").await?;
    assert_eq!(call(&server, "app", "send=orders.c&body=m").await?, "sent");
    let seen = tokio::time::timeout(EFFECT_BOUND, watch.next()).await?;
    assert_eq!(&seen.expect("the subscription is open").payload[..], b"m");
    wait_value(&server, "app", "count:orders.c", "1").await?;

    // A NATS server that is down: refused, saying why, and the whole
    // config with it (its key-value change too); still on the first.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let down = format!("nats://{}", closed.local_addr()?);
    drop(closed);
    crate::harness::replace_file(
        &rc,
        &format!(
            "[key_value_store.default]\ntype = \"memory\"\n\
             [message_broker.default]\ntype = \"nats\"\nurl = \"{down}\"\n\
             connect_timeout = \"1s\"\n"
        ),
    )?;
    tokio::task::block_in_place(|| {
        server.stderr().wait_for(
            "not applied, still serving with the previous one",
            EFFECT_BOUND,
        )
    })?;
    let log = server.stderr().text();
    ensure!(
        log.contains("message broker `default`") && log.contains(&down[7..]),
        "the refusal does not name the label and the server:\n{log}"
    );
    client.publish(Message::new("orders.d", "m")).await?;
    wait_value(&server, "app", "count:orders.d", "1").await?;
    assert_eq!(
        call(&server, "app", "get=count%3Aorders.a").await?,
        "1",
        "the refused config's key-value store was put in use"
    );

    // No section: back to the embedded broker, which NATS no longer feeds.
    crate::harness::replace_file(&rc, "")?;
    tokio::task::block_in_place(|| {
        server.stderr().wait_for_count(&applied, 2, EFFECT_BOUND)?;
        server.stderr().wait_for(
            "subscription to `orders.>` on broker `default` moved from nats://",
            EFFECT_BOUND,
        )
    })?;
    assert_eq!(call(&server, "app", "send=orders.e&body=m").await?, "sent");
    wait_value(&server, "app", "count:orders.e", "1").await?;
    client.publish(Message::new("orders.f", "m")).await?;
    assert_eq!(call(&server, "app", "send=orders.g&body=m").await?, "sent");
    wait_value(&server, "app", "count:orders.g", "1").await?;
    assert_eq!(call(&server, "app", "get=count%3Aorders.f").await?, "none");
    let subscribed = server
        .stderr()
        .text()
        .matches("messaging trigger subscribed to `orders.>`")
        .count();
    assert_eq!(subscribed, 1, "the subscription was made again, not moved");
    Ok(())
}
