//! `[[trigger.mqtt]]` and `[application.trigger.mqtt]` (Spin's MQTT trigger
//! plugin's syntax) in spin.toml and skiff.toml: what loads, and errors
//! naming file, line and key. `skiff_err` prepends three lines, so the text
//! given starts at line 4.

use skiff_manifest::mqtt::Qos;
use skiff_manifest::{ManifestError, ManifestKind, MqttSettings, MqttTrigger};

use crate::{Fixture, SKIFF_HEAD, check, skiff_err};

/// The plugin's own example, unchanged (strings for numbers, a templated
/// password).
const SPIN_MQTT: &str = r#"spin_manifest_version = 2

[application]
name = "mqtt-app"

[variables]
password = { required = true, secret = true }

[application.trigger.mqtt]
address = "mqtt://localhost:1883"
username = "user"
password = "{{ password }}"
keep_alive_interval = "30"

[[trigger.mqtt]]
id = "trigger-mqtt-c01"
component = "mqtt-c01"
topic = "messages-in01"
qos = "1"

[[trigger.mqtt]]
component = "mqtt-c02"
topic = "sensors/+/temperature"
qos = "0"

[component.mqtt-c01]
source = "a.wasm"

[component.mqtt-c02]
source = "a.wasm"
"#;

#[test]
fn loads_the_plugins_spin_toml() {
    let f = Fixture::new();
    f.file("a.wasm", "").file("spin.toml", SPIN_MQTT);
    let app = skiff_manifest::load(f.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.kind, ManifestKind::Spin);
    assert!(app.http_triggers.is_empty());
    assert_eq!(
        app.mqtt,
        MqttSettings {
            address: Some("mqtt://localhost:1883".into()),
            username: Some("user".into()),
            password: Some("{{ password }}".into()),
            keep_alive: 30,
        }
    );
    assert_eq!(
        app.mqtt_triggers,
        [
            MqttTrigger {
                topic: "messages-in01".into(),
                qos: Qos::AtLeastOnce,
                address: None,
                component: "mqtt-c01".into(),
                line: 18,
            },
            MqttTrigger {
                topic: "sensors/+/temperature".into(),
                qos: Qos::AtMostOnce,
                address: None,
                component: "mqtt-c02".into(),
                line: 23,
            },
        ]
    );
    assert_eq!(
        app.mqtt_triggers[1].effective_address(&app),
        Some("mqtt://localhost:1883")
    );
}

#[test]
fn skiff_toml_takes_integers_defaults_and_a_trigger_address() {
    let f = Fixture::new();
    f.file("api.wasm", "").file(
        "skiff.toml",
        &format!(
            "{SKIFF_HEAD}[variables]\nroom = {{ default = \"kitchen\" }}\n\
             [application.trigger.mqtt]\naddress = \"mqtts://broker.example:8883\"\n\
             keep_alive_interval = 0\n\
             [[trigger.mqtt]]\ntopic = \"rooms/{{{{ room }}}}/#\"\nqos = 2\ncomponent = \"api\"\n\
             [[trigger.mqtt]]\ntopic = \"other\"\naddress = \"mqtt://127.0.0.1:1884\"\n\
             component = {{ source = \"api.wasm\" }}\n\
             [component.api]\nsource = \"api.wasm\"\n"
        ),
    );
    let app = skiff_manifest::load(f.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.mqtt.keep_alive, 0);
    assert_eq!(app.mqtt.username, None);
    assert_eq!(app.mqtt_triggers[0].topic, "rooms/{{ room }}/#");
    assert_eq!(app.mqtt_triggers[0].qos, Qos::ExactlyOnce);
    // No `qos`: MQTT's default, 0.
    assert_eq!(app.mqtt_triggers[1].qos, Qos::AtMostOnce);
    assert_eq!(
        app.mqtt_triggers[1].effective_address(&app),
        Some("mqtt://127.0.0.1:1884")
    );
    assert_eq!(app.mqtt_triggers[1].component, "mqtt-trigger1-component");
    assert_eq!(
        app.mqtt_triggers[0].effective_address(&app),
        Some("mqtts://broker.example:8883")
    );
    // Without the table, keep-alive is 30 s.
    assert_eq!(MqttSettings::default().keep_alive, 30);
}

/// `[application.trigger.mqtt]` with `address` (line 5), then a trigger
/// (line 6) with `body` from line 7, then component `api`.
fn trigger_err(body: &str) -> ManifestError {
    skiff_err(&format!(
        "[application.trigger.mqtt]\naddress = \"mqtt://127.0.0.1:1883\"\n[[trigger.mqtt]]\n\
         {body}component = \"api\"\n[component.api]\nsource = \"api.wasm\"\n"
    ))
}

#[test]
fn bad_qos_is_named() {
    let hint =
        Some("0: at most once, 1: at least once (acknowledged once handled), 2: exactly once");
    let e = trigger_err("topic = \"t\"\nqos = \"3\"\n");
    check(
        &e,
        Some(8),
        "trigger.mqtt[0].qos",
        "qos \"3\" is not 0, 1 or 2",
        hint,
    );
    let e = trigger_err("topic = \"t\"\nqos = \"once\"\n");
    check(
        &e,
        Some(8),
        "trigger.mqtt[0].qos",
        "qos \"once\" is not 0, 1 or 2",
        hint,
    );
    let e = trigger_err("topic = \"t\"\nqos = -1\n");
    check(
        &e,
        Some(8),
        "trigger.mqtt[0].qos",
        "qos -1 is not 0, 1 or 2",
        hint,
    );
    let e = trigger_err("topic = \"t\"\nqos = true\n");
    check(
        &e,
        Some(8),
        "trigger.mqtt[0].qos",
        "expected a QoS level: \"0\", \"1\" or \"2\", found a boolean",
        None,
    );
}

#[test]
fn topics_are_checked() {
    let e = trigger_err("qos = \"1\"\n");
    check(
        &e,
        Some(6),
        "trigger.mqtt[0].topic",
        "missing required key `topic`",
        None,
    );
    let hint = Some(
        "MQTT topic filters: `+` matches one level, a final `#` the rest \
         (`sensors/+/temperature`, `sensors/#`)",
    );
    let e = trigger_err("topic = \"sensors/#/x\"\n");
    check(
        &e,
        Some(7),
        "trigger.mqtt[0].topic",
        "topic \"sensors/#/x\": `#` must be a whole level and the last one (`sensors/#`)",
        hint,
    );
    let e = trigger_err("topic = \"a+/b\"\n");
    check(
        &e,
        Some(7),
        "trigger.mqtt[0].topic",
        "topic \"a+/b\": `+` must be a whole level (`sensors/+/temperature`)",
        hint,
    );
    let e = trigger_err("topic = \"\"\n");
    check(
        &e,
        Some(7),
        "trigger.mqtt[0].topic",
        "must not be empty",
        None,
    );
}

#[test]
fn unknown_keys_are_named() {
    let e = trigger_err("topic = \"t\"\nqs = \"1\"\n");
    check(
        &e,
        Some(8),
        "trigger.mqtt[0].qs",
        "unknown key `qs`",
        Some("did you mean `qos`?"),
    );
    let e = skiff_err(
        "[application.trigger.mqtt]\naddress = \"mqtt://h\"\nkeep_alive_intervall = \"30\"\n\
         [[trigger.mqtt]]\ntopic = \"t\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(6),
        "application.trigger.mqtt.keep_alive_intervall",
        "unknown key `keep_alive_intervall`",
        Some("did you mean `keep_alive_interval`?"),
    );
}

#[test]
fn a_broker_address_is_needed() {
    let e = skiff_err(
        "[[trigger.mqtt]]\ntopic = \"t\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(5),
        "trigger.mqtt[0]",
        "the mqtt trigger for topic `t` has no broker address",
        Some("set `address = \"mqtt://…\"` in [application.trigger.mqtt], or on the trigger"),
    );
    let e = skiff_err(
        "[application.trigger.mqtt]\naddress = \"redis://127.0.0.1:6379\"\n[[trigger.mqtt]]\n\
         topic = \"t\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(5),
        "application.trigger.mqtt.address",
        "\"redis://127.0.0.1:6379\" is not an MQTT broker address",
        Some("write `mqtt://host:port`, or `mqtts://host:port` for TLS"),
    );
    let e = skiff_err(
        "[application.trigger.mqtt]\naddress = \"mqtt://h\"\nkeep_alive_interval = \"70000\"\n\
         [[trigger.mqtt]]\ntopic = \"t\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(6),
        "application.trigger.mqtt.keep_alive_interval",
        "keep-alive interval 70000 is out of range 0-65535 (seconds)",
        Some("e.g. `keep_alive_interval = \"30\"`; 0 turns keep-alive off"),
    );
}

#[test]
fn spin_toml_errors_name_spin_toml() {
    let f = Fixture::new();
    f.file("a.wasm", "").file(
        "spin.toml",
        "spin_manifest_version = 2\n[application]\nname = \"m\"\n[[trigger.mqtt]]\n\
         component = \"a\"\ntopic = \"t\"\nqos = \"1\"\naddress = \"mqtt://h\"\n\
         [component.a]\nsource = \"a.wasm\"\n",
    );
    let e = f.load_err();
    assert_eq!(e.file, f.path().join("spin.toml"));
    // spin.toml keeps the plugin's keys: the address is app-wide there.
    assert_eq!(e.key.as_deref(), Some("trigger.mqtt[0].address"), "{e}");
    assert_eq!(e.line, Some(8), "{e}");
    assert_eq!(e.message, "unknown key `address`");

    f.file(
        "spin.toml",
        "spin_manifest_version = 2\n[application]\nname = \"m\"\n[[trigger.mqtt]]\n\
         component = \"a\"\ntopic = \"t\"\n[component.a]\nsource = \"a.wasm\"\n",
    );
    let e = f.load_err();
    check(
        &e,
        Some(6),
        "trigger.mqtt[0]",
        "the mqtt trigger for topic `t` has no broker address",
        Some("set `address = \"mqtt://…\"` in [application.trigger.mqtt]"),
    );
}
