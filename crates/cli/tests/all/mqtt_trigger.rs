//! The MQTT trigger through `skiff up`: the `trigger_mqtt` guest (Spin's
//! MQTT plugin's `handle-message` export) subscribed on a real `mosquitto`.
//! It prints `mqtt message on TOPIC: PAYLOAD` (skiff logs it as
//! `[ID stdout] …` on stderr) and, when told, publishes `TOPIC PAYLOAD` back
//! to a reply topic through outbound MQTT, which the test watches with
//! `mosquitto_sub`; it traps on `trap`, fails on `fail` and sleeps on `slow …`.
//!
//! Readiness is read from skiff's log (the trigger's `subscribed` lines, shown
//! by the default log filter); every wait is bounded, nothing asserts how
//! fast anything is.

use std::time::Duration;

use anyhow::Result;
use test_programs_artifacts::{HTTP_HELLO_COMPONENT, TRIGGER_MQTT_COMPONENT};

use crate::harness::{AppDir, BOUND, Server, get, shared_cache, toml_path, up_fails};
use crate::mosquitto_server::{MosquittoServer, Subscriber};

/// How long a subscription or a delivery may take to show.
const EFFECT_BOUND: Duration = Duration::from_secs(30);

/// The `n`th `subscribed` line for `topic`, waited for.
fn wait_subscribed(server: &Server, topic: &str, n: usize) -> Result<String> {
    server.stderr().wait_for_count(
        &format!("mqtt trigger subscribed to `{topic}`"),
        n,
        EFFECT_BOUND,
    )
}

/// Component `handler` of `trigger_mqtt`, replying on `replies` at `broker`
/// (logging in as `login`).
fn handler(broker: &MosquittoServer, login: Option<(&str, &str)>) -> String {
    let url = broker.url();
    let login = login
        .map(|(u, p)| format!(", REPLY_USER = \"{u}\", REPLY_PASSWORD = \"{p}\""))
        .unwrap_or_default();
    format!(
        "[component.handler]\nsource = {}\n\
         environment = {{ REPLY_ADDRESS = \"{url}\", REPLY_TOPIC = \"replies\"{login} }}\n\
         allowed_outbound_hosts = [\"{url}\"]\n",
        toml_path(TRIGGER_MQTT_COMPONENT)
    )
}

/// The next reply, `TOPIC PAYLOAD`, with its QoS checked.
fn reply(replies: &Subscriber) -> Result<String> {
    let (qos, text) = replies.next_message()?;
    assert_eq!(qos, 1, "replies are published at QoS 1");
    Ok(text)
}

/// A skiff.toml app of only an MQTT trigger (QoS 1, a wildcard topic): no
/// HTTP listener, a banner line; every message reaches a fresh instance with
/// the topic it was published on; a trap and an error are logged with the
/// component and topic and later messages still arrive; the broker going
/// down (and staying down a while) and coming back is survived; SIGTERM
/// stops it cleanly.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn trigger_mqtt() -> Result<()> {
    let mut broker = MosquittoServer::start()?;
    let manifest = format!(
        "[application.trigger.mqtt]\naddress = \"{}\"\n\
         [[trigger.mqtt]]\ntopic = \"sensors/+/temperature\"\nqos = \"1\"\ncomponent = \"handler\"\n{}",
        broker.url(),
        handler(&broker, None)
    );
    let app = AppDir::with_manifest(&manifest)?;
    let mut server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    let banner = server.stdout().wait_for("-> handler", BOUND)?;
    assert!(
        banner.contains(&format!(
            "MQTT triggers:\n  {} `sensors/+/temperature` (QoS 1)  -> handler",
            broker.url()
        )) && !banner.contains("Serving http"),
        "{banner}"
    );
    wait_subscribed(&server, "sensors/+/temperature", 1)?;
    let replies = broker.subscribe("replies", None)?;

    broker.publish("sensors/kitchen/temperature", "21.5", 1, None)?;
    assert_eq!(reply(&replies)?, "sensors/kitchen/temperature 21.5");
    broker.publish("sensors/kitchen/temperature", "trap", 1, None)?;
    broker.publish("sensors/hall/temperature", "fail", 1, None)?;
    // Not matched by the filter: never delivered.
    broker.publish("sensors/hall/humidity", "60", 1, None)?;
    broker.publish("sensors/hall/temperature", "19", 0, None)?;
    assert_eq!(reply(&replies)?, "sensors/hall/temperature 19");
    let log = server.stderr().wait_for(
        "component `handler` failed handling a message on mqtt topic \
         `sensors/kitchen/temperature` (subscription `sensors/+/temperature`)",
        BOUND,
    )?;
    assert!(
        log.contains("asked to trap on sensors/kitchen/temperature"),
        "{log}"
    );
    let log = server.stderr().wait_for(
        "component `handler` returned an error for a message on mqtt topic \
         `sensors/hall/temperature` (subscription `sensors/+/temperature`): asked to fail on \
         sensors/hall/temperature",
        BOUND,
    )?;
    assert!(!log.contains("humidity"), "{log}");

    // The broker goes away and stays away a while: the trigger retries,
    // and subscribes again once it is back.
    broker.stop()?;
    server.stderr().wait_for(
        "mqtt trigger lost its connection for `sensors/+/temperature`",
        BOUND,
    )?;
    server.stderr().wait_for(
        "mqtt trigger could not subscribe to `sensors/+/temperature`",
        EFFECT_BOUND,
    )?;
    broker.resume()?;
    wait_subscribed(&server, "sensors/+/temperature", 2)?;
    let replies = broker.subscribe("replies", None)?;
    broker.publish("sensors/attic/temperature", "30", 1, None)?;
    assert_eq!(reply(&replies)?, "sensors/attic/temperature 30");

    server.signal("TERM")?;
    let status = server.wait_exit(BOUND)?;
    assert!(status.success(), "exit status {status}");
    Ok(())
}

/// The plugin's spin.toml shape, unchanged, beside an HTTP route: a broker
/// that wants a login (the password from a variable), keep-alive as a
/// string, a templated topic, QoS 0.
#[tokio::test(flavor = "multi_thread")]
async fn spin_toml_app_with_a_login() -> Result<()> {
    let (user, password) = ("reader", "s3cret");
    let broker = MosquittoServer::start_with_user(user, password)?;
    let app = AppDir::new()?;
    app.write(
        "spin.toml",
        format!(
            r#"spin_manifest_version = 2

[application]
name = "mqtt-app"

[variables]
password = {{ required = true, secret = true }}
room = {{ default = "kitchen" }}

[application.trigger.mqtt]
address = "{}"
username = "{user}"
password = "{{{{ password }}}}"
keep_alive_interval = "30"

[[trigger.http]]
route = "/hello"
component = "hello"

[[trigger.mqtt]]
id = "trigger-mqtt-c01"
component = "handler"
topic = "rooms/{{{{ room }}}}"
qos = "0"

[component.hello]
source = {}

{}"#,
            broker.url(),
            toml_path(HTTP_HELLO_COMPONENT),
            handler(&broker, Some((user, password)))
        ),
    )?;
    let server = Server::start_with(&app.path().join("spin.toml"), shared_cache()?, |cmd| {
        cmd.env("SKIFF_VARIABLE_PASSWORD", password);
    })?;
    let banner = server.stdout().text();
    assert!(
        banner.contains(&format!(
            "  {} `rooms/kitchen` (QoS 0)  -> handler",
            broker.url()
        )),
        "{banner}"
    );
    get(&server.url("/hello")).await?.assert_status(200);
    wait_subscribed(&server, "rooms/kitchen", 1)?;
    let login = Some((user, password));
    let replies = broker.subscribe("replies", login)?;
    broker.publish("rooms/kitchen", "lights on", 0, login)?;
    assert_eq!(reply(&replies)?, "rooms/kitchen lights on");
    assert!(
        !server.stderr().text().contains(password),
        "the password was logged:\n{}",
        server.stderr().text()
    );
    Ok(())
}

/// A wrong password is logged (the broker refuses the connection) and
/// retried, not fatal; `mqtts://` verifies the broker's certificate against
/// the roots `SSL_CERT_FILE` names.
#[tokio::test(flavor = "multi_thread")]
async fn logins_and_tls() -> Result<()> {
    let broker = MosquittoServer::start_with_user("reader", "right")?;
    let app = AppDir::with_manifest(&format!(
        "[application.trigger.mqtt]\naddress = \"{}\"\nusername = \"reader\"\npassword = \"wrong\"\n\
         [[trigger.mqtt]]\ntopic = \"t\"\ncomponent = \"handler\"\n{}",
        broker.url(),
        handler(&broker, None)
    ))?;
    let server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    server
        .stderr()
        .wait_for_count("mqtt trigger could not subscribe to `t`", 2, EFFECT_BOUND)?;
    assert!(
        server
            .stderr()
            .text()
            .contains("the broker refused the connection"),
        "{}",
        server.stderr().text()
    );
    drop(server);

    let tls = MosquittoServer::start_tls()?;
    let ca = tls.ca_file().expect("a TLS broker").to_path_buf();
    let address = format!("mqtts://localhost:{}", tls.port());
    let app = AppDir::with_manifest(&format!(
        "[[trigger.mqtt]]\naddress = \"{address}\"\ntopic = \"secure/#\"\nqos = 2\n\
         component = \"handler\"\n[component.handler]\nsource = {}\n",
        toml_path(TRIGGER_MQTT_COMPONENT)
    ))?;
    let server = Server::start_triggers_only_with(app.path(), shared_cache()?, |cmd| {
        cmd.env("SSL_CERT_FILE", &ca);
    })?;
    wait_subscribed(&server, "secure/#", 1)?;
    tls.publish("secure/door", "opened", 2, None)?;
    server.stderr().wait_for(
        "[handler stdout] mqtt message on secure/door: opened",
        EFFECT_BOUND,
    )?;
    Ok(())
}

/// QoS 1 messages are acknowledged once handled: a `skiff up` killed in
/// the middle of a handler gets the message again from the broker when it
/// starts again (the same subscription resumes its session), and the
/// handler finishes it then.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_interrupted_by_a_kill_is_delivered_again() -> Result<()> {
    let broker = MosquittoServer::start()?;
    let app = AppDir::with_manifest(&format!(
        "[application.trigger.mqtt]\naddress = \"{}\"\n\
         [[trigger.mqtt]]\ntopic = \"jobs\"\nqos = 1\ncomponent = \"handler\"\n{}",
        broker.url(),
        handler(&broker, None)
    ))?;
    let replies = broker.subscribe("replies", None)?;
    let mut server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    wait_subscribed(&server, "jobs", 1)?;
    broker.publish("jobs", "slow job 1", 1, None)?;
    server.stderr().wait_for(
        "[handler stdout] mqtt message on jobs: slow job 1",
        EFFECT_BOUND,
    )?;
    server.signal("KILL")?;
    server.wait_exit(BOUND)?;
    drop(server);

    let server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    server.stderr().wait_for(
        "[handler stdout] mqtt message on jobs: slow job 1",
        EFFECT_BOUND,
    )?;
    assert_eq!(reply(&replies)?, "jobs slow job 1");
    Ok(())
}

/// A QoS 1 message over the 16 MiB a handler is given is read,
/// acknowledged and dropped with a warning, once: the connection stays up,
/// later messages are handled, and a restart (the same persistent session)
/// does not get it again. (Refused unread, it would end the connection and
/// come back on every reconnect.)
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_message_is_dropped_once() -> Result<()> {
    let broker = MosquittoServer::start()?;
    let app = AppDir::with_manifest(&format!(
        "[application.trigger.mqtt]\naddress = \"{}\"\n\
         [[trigger.mqtt]]\ntopic = \"big/+\"\nqos = 1\ncomponent = \"handler\"\n{}",
        broker.url(),
        handler(&broker, None)
    ))?;
    let replies = broker.subscribe("replies", None)?;
    let server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    wait_subscribed(&server, "big/+", 1)?;
    let big = app.write("big.bin", vec![b'x'; (16 << 20) + 1])?;
    broker.publish_file("big/a", &big, 1)?;
    broker.publish("big/b", "small", 1, None)?;
    let log = server.stderr().wait_for(
        "mqtt trigger dropped a message of 16777217 bytes on topic `big/a` (subscription \
         `big/+`): a handler is given at most 16 MiB; acknowledged, so the broker does not \
         send it again",
        EFFECT_BOUND,
    )?;
    assert!(!log.contains("mqtt message on big/a"), "{log}");
    assert_eq!(reply(&replies)?, "big/b small");
    // A clean stop sends the acknowledgements still queued (a kill would
    // leave `small` to be delivered again, as at-least-once allows).
    let mut server = server;
    server.signal("TERM")?;
    assert!(server.wait_exit(BOUND)?.success());
    drop(server);

    let server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    wait_subscribed(&server, "big/+", 1)?;
    broker.publish("big/c", "after", 1, None)?;
    assert_eq!(reply(&replies)?, "big/c after");
    let log = server.stderr().text();
    assert!(
        !log.contains("dropped a message") && !log.contains("lost its connection"),
        "the message was acknowledged the first time:\n{log}"
    );
    Ok(())
}

/// Bad setups stop `skiff up` naming the file, line and key (or the
/// component and the export it lacks).
#[tokio::test(flavor = "multi_thread")]
async fn bad_setups_fail_the_start() -> Result<()> {
    let cache = shared_cache()?;
    let source = toml_path(TRIGGER_MQTT_COMPONENT);
    let trigger = |body: &str| {
        format!(
            "[application.trigger.mqtt]\naddress = \"mqtt://127.0.0.1:1\"\n[[trigger.mqtt]]\n\
             {body}component = \"c\"\n[component.c]\nsource = {source}\n"
        )
    };
    // HEAD is three lines: the trigger's keys start on line 7.
    let cases = [
        (
            trigger("topic = \"t\"\nqos = \"3\"\n"),
            "8:7: `trigger.mqtt[0].qos`: qos \"3\" is not 0, 1 or 2",
        ),
        (
            trigger("qos = \"1\"\n"),
            "6:1: `trigger.mqtt[0].topic`: missing required key `topic`",
        ),
        (
            trigger("topic = \"a/#/b\"\n"),
            "7:9: `trigger.mqtt[0].topic`: topic \"a/#/b\": `#` must be a whole level and the \
             last one (`sensors/#`)",
        ),
        (
            trigger("topic = \"t\"\nqoss = \"1\"\n"),
            "8:1: `trigger.mqtt[0].qoss`: unknown key `qoss`",
        ),
        (
            format!(
                "[[trigger.mqtt]]\ntopic = \"t\"\ncomponent = \"c\"\n[component.c]\nsource = {source}\n"
            ),
            "5:1: `trigger.mqtt[0]`: the mqtt trigger for topic `t` has no broker address",
        ),
    ];
    for (manifest, want) in cases {
        let app = AppDir::with_manifest(&manifest)?;
        let out = up_fails(app.path(), cache, |_| {})?;
        out.assert_stderr_contains(&format!("{}:{want}", app.manifest().display()));
    }

    // A template is checked once its variable is known.
    let app = AppDir::with_manifest(&format!(
        "[variables]\nroom = {{ default = \"a+\" }}\n{}",
        trigger("topic = \"rooms/{{ room }}\"\n")
    ))?;
    up_fails(app.path(), cache, |_| {})?
        .assert_stderr_contains("invalid topic of the mqtt trigger on line 9")
        .assert_stderr_contains("topic \"rooms/a+\": `+` must be a whole level");

    // A component that does not export `handle-message`.
    let app = AppDir::with_manifest(&format!(
        "[[trigger.mqtt]]\naddress = \"mqtt://127.0.0.1:1\"\ntopic = \"t\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = {}\n",
        toml_path(HTTP_HELLO_COMPONENT)
    ))?;
    up_fails(app.path(), cache, |_| {})?.assert_stderr_contains(
        "component `hello` cannot handle mqtt messages: it must export the function \
         `handle-message: func(message: payload, metadata: metadata) -> result<_, error>` of \
         Spin's MQTT trigger (world `spin:mqtt-trigger/spin-mqtt`)",
    );
    Ok(())
}

/// `skiff up --watch`: the MQTT trigger hands its connection to the new
/// version. QoS 0 messages (each on a topic of its own) published while the
/// app reloads are each handled exactly once, the trigger never subscribes
/// again, and the topic the new version adds is subscribed.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_keeps_the_connection() -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};

    let broker = MosquittoServer::start()?;
    let manifest = |topics: &[&str]| {
        let mut text = format!(
            "[application.trigger.mqtt]\naddress = \"{}\"\n",
            broker.url()
        );
        for topic in topics {
            text.push_str(&format!(
                "[[trigger.mqtt]]\ntopic = \"{topic}\"\nqos = 0\ncomponent = \"handler\"\n"
            ));
        }
        text + &handler(&broker, None)
    };
    let app = AppDir::with_manifest(&manifest(&["reload/+"]))?;
    let server = Server::start_triggers_only_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--watch");
    })?;
    wait_subscribed(&server, "reload/+", 1)?;

    // A publisher runs through the reload, one topic per message.
    let stop = AtomicBool::new(false);
    let sent = std::thread::scope(|scope| -> Result<usize> {
        let publisher = scope.spawn(|| -> Result<usize> {
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) {
                // The dot ends the payload, so no line's text holds another's.
                broker.publish(&format!("reload/{sent}"), &format!("m{sent}."), 0, None)?;
                sent += 1;
            }
            Ok(sent)
        });
        let reloaded = (|| -> Result<()> {
            std::thread::sleep(Duration::from_millis(300));
            crate::harness::replace_file(
                &app.manifest(),
                &format!(
                    "{}{}",
                    crate::harness::HEAD,
                    manifest(&["reload/+", "more"])
                ),
            )?;
            server.stdout().wait_for("Reloaded app `test`", BOUND)?;
            wait_subscribed(&server, "more", 1)?;
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        })();
        stop.store(true, Ordering::SeqCst);
        let sent = publisher.join().expect("the publisher thread")?;
        reloaded?;
        Ok(sent)
    })?;
    anyhow::ensure!(sent > 20, "only {sent} messages were published");
    let last = format!(
        "[handler stdout] mqtt message on reload/{0}: m{0}",
        sent - 1
    );
    server.stderr().wait_for(&last, EFFECT_BOUND)?;
    broker.publish("more", "extra", 0, None)?;
    server
        .stderr()
        .wait_for("[handler stdout] mqtt message on more: extra", EFFECT_BOUND)?;
    let log = server.stderr().text();
    for n in 0..sent {
        let line = format!("mqtt message on reload/{n}: m{n}.");
        let times = log.matches(&line).count();
        assert_eq!(times, 1, "`{line}` was handled {times} times");
    }
    let subscribed = log.matches("mqtt trigger subscribed to `reload/+`").count();
    assert_eq!(subscribed, 1, "`reload/+` was subscribed again");
    Ok(())
}
