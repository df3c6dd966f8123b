//! `[[trigger.messaging]]` and the component key `message_brokers` (skiff.toml only).
//! `skiff_err` prepends three lines, so the text given starts at line 4.

use skiff_manifest::{App, ManifestError, MessagingTrigger};

use crate::{Fixture, SKIFF_HEAD, check, skiff_err};

/// Loads `SKIFF_HEAD` + `rest` (with `api.wasm` present).
fn skiff_ok(rest: &str) -> (Fixture, App) {
    let f = Fixture::new();
    f.file("api.wasm", "")
        .file("skiff.toml", &format!("{SKIFF_HEAD}{rest}"));
    let app = skiff_manifest::load(f.path()).unwrap_or_else(|e| panic!("{e}"));
    (f, app)
}

/// A messaging trigger (line 4) with `body` from line 5, then component `api`.
fn trigger_err(body: &str) -> ManifestError {
    skiff_err(&format!(
        "[[trigger.messaging]]\n{body}[component.api]\nsource = \"api.wasm\"\n"
    ))
}

const TWO_TRIGGERS: &str = r#"[variables]
region = { default = "eu" }

[[trigger.http]]
route = "/..."
component = "api"

[[trigger.messaging]]
subject = "orders.*.created"
queue_group = "billing"
broker = "events"
component = "api"

[[trigger.messaging]]
subject = "audit.{{ region }}.>"
component = { source = "api.wasm", message_brokers = ["default"] }

[component.api]
source = "api.wasm"
key_value_stores = ["default"]
message_brokers = ["default", "events_bus", "orders-out"]
"#;

#[test]
fn loads_messaging_triggers_and_message_brokers() {
    let (f, app) = skiff_ok(TWO_TRIGGERS);
    assert_eq!(
        app.messaging_triggers,
        [
            MessagingTrigger {
                subject: "orders.*.created".into(),
                queue_group: Some("billing".into()),
                broker: "events".into(),
                component: "api".into(),
                line: 12,
            },
            MessagingTrigger {
                subject: "audit.{{ region }}.>".into(),
                queue_group: None,
                broker: "default".into(),
                component: "messaging-trigger1-component".into(),
                line: 18,
            },
        ]
    );
    assert_eq!(app.http_triggers.len(), 1);
    assert!(app.redis_triggers.is_empty());

    let api = &app.components["api"];
    assert_eq!(api.message_brokers, ["default", "events_bus", "orders-out"]);
    assert_eq!(api.key_value_stores, ["default"]);

    // The inline component has Spin-style generated id and its own grant.
    let inline = &app.components["messaging-trigger1-component"];
    assert_eq!(inline.key, "trigger.messaging[1].component");
    assert_eq!(inline.source, f.path().join("api.wasm"));
    assert_eq!(inline.message_brokers, ["default"]);
}

#[test]
fn a_triggers_broker_needs_no_grant_on_its_component() {
    let (_f, app) = skiff_ok(
        "[[trigger.messaging]]\nid = \"orders\"\nsubject = \"orders\"\ncomponent = { source = \"api.wasm\" }\n",
    );
    assert!(app.http_triggers.is_empty());
    let t = &app.messaging_triggers[0];
    assert_eq!(
        (t.subject.as_str(), t.broker.as_str(), t.line),
        ("orders", "default", 6)
    );
    // The trigger's `id` names its inline component, as for the other triggers.
    assert_eq!(t.component, "orders-component");
    // The trigger's broker is its own grant: the component needs none.
    assert!(
        app.components["orders-component"]
            .message_brokers
            .is_empty()
    );
}

#[test]
fn bad_subjects() {
    let subject = |s: &str| trigger_err(&format!("subject = \"{s}\"\ncomponent = \"api\"\n"));
    let e = subject("orders..new");
    check(
        &e,
        Some(5),
        "trigger.messaging[0].subject",
        "subject `orders..new` has an empty token (a leading or trailing `.`, or `..`)",
        Some("did you mean \"orders.new\"?"),
    );
    assert_eq!(e.column, Some(11));
    assert!(
        e.to_string().ends_with(
            "skiff.toml:5:11: `trigger.messaging[0].subject`: subject `orders..new` has an empty token (a leading or trailing `.`, or `..`)\n  hint: did you mean \"orders.new\"?"
        ),
        "{e}"
    );
    check(
        &subject("a.>.b"),
        Some(5),
        "trigger.messaging[0].subject",
        "subject `a.>.b`: `>` is only allowed as the last token (`prefix.>`)",
        Some("`>` matches all the remaining tokens; `*` matches one: \"a.*.b\""),
    );
    check(
        &subject("with space"),
        Some(5),
        "trigger.messaging[0].subject",
        "subject `with space` contains whitespace or a control character (' ')",
        Some("a subject is `.`-separated tokens without spaces, e.g. \"orders.created\""),
    );
    check(
        &subject("orders.new*"),
        Some(5),
        "trigger.messaging[0].subject",
        "subject `orders.new*`: token `new*` mixes a wildcard with other characters",
        Some(
            "a wildcard is a whole token: `*` matches one token (`orders.*`), a final `>` the rest (`orders.>`)",
        ),
    );
    check(
        &subject(""),
        Some(5),
        "trigger.messaging[0].subject",
        "must not be empty",
        None,
    );
    check(
        &trigger_err("subject = 7\ncomponent = \"api\"\n"),
        Some(5),
        "trigger.messaging[0].subject",
        "expected a string, found an integer",
        None,
    );
}

#[test]
fn templated_subjects_are_checked_for_variables_not_syntax() {
    // The syntax waits for expansion: a variable's value may hold several tokens.
    let (_f, app) = skiff_ok(
        "[variables]\nprefix = { default = \"orders.eu\" }\n[[trigger.messaging]]\nsubject = \"{{ prefix }}.>\"\ncomponent = { source = \"api.wasm\" }\n",
    );
    assert_eq!(app.messaging_triggers[0].subject, "{{ prefix }}.>");
    check(
        &trigger_err("subject = \"orders.{{ regoin }}\"\ncomponent = \"api\"\n"),
        Some(5),
        "trigger.messaging[0].subject",
        "`{{ regoin }}` refers to undeclared variable `regoin`",
        Some("declare it: [variables] regoin = { default = \"…\" }"),
    );
    check(
        &trigger_err("subject = \"orders.{{ region\"\ncomponent = \"api\"\n"),
        Some(5),
        "trigger.messaging[0].subject",
        "unclosed `{{` in `orders.{{ region` (a template looks like `{{ name }}`)",
        None,
    );
}

#[test]
fn bad_queue_groups_and_brokers() {
    let e =
        trigger_err("subject = \"orders\"\nqueue_group = \"my workers\"\ncomponent = \"api\"\n");
    check(
        &e,
        Some(6),
        "trigger.messaging[0].queue_group",
        "queue group `my workers` contains whitespace or a control character (' ')",
        Some("a queue group is one name, e.g. \"workers\""),
    );
    assert_eq!(e.column, Some(15));
    check(
        &trigger_err("subject = \"orders\"\nqueue_group = \" \"\ncomponent = \"api\"\n"),
        Some(6),
        "trigger.messaging[0].queue_group",
        "must not be empty",
        None,
    );
    check(
        &trigger_err("subject = \"orders\"\nbroker = \"b@d\"\ncomponent = \"api\"\n"),
        Some(6),
        "trigger.messaging[0].broker",
        "invalid label `b@d`: expected kebab-case or snake_case (letters, digits, and `-` or `_`), starting with a letter",
        None,
    );
    check(
        &trigger_err("subject = \"orders\"\nbroker = [\"default\"]\ncomponent = \"api\"\n"),
        Some(6),
        "trigger.messaging[0].broker",
        "expected a string, found an array",
        None,
    );
}

#[test]
fn required_keys() {
    // A missing key is reported at its table's `[[trigger.messaging]]` header.
    check(
        &trigger_err("component = \"api\"\n"),
        Some(4),
        "trigger.messaging[0].subject",
        "missing required key `subject`",
        None,
    );
    check(
        &trigger_err("subject = \"orders\"\n"),
        Some(4),
        "trigger.messaging[0].component",
        "missing required key `component`",
        None,
    );
    // The second entry is reported at its own header.
    check(
        &trigger_err(
            "subject = \"a\"\ncomponent = \"api\"\n[[trigger.messaging]]\ncomponent = \"api\"\n",
        ),
        Some(7),
        "trigger.messaging[1].subject",
        "missing required key `subject`",
        None,
    );
}

#[test]
fn trigger_naming_a_missing_component() {
    check(
        &trigger_err("subject = \"orders\"\ncomponent = \"apx\"\n"),
        Some(6),
        "trigger.messaging[0].component",
        "no component `apx` (there is no [component.apx] table)",
        Some("did you mean `api`?"),
    );
    check(
        &trigger_err("subject = \"orders\"\ncomponent = 7\n"),
        Some(6),
        "trigger.messaging[0].component",
        "expected a component id string or an inline component table, found an integer",
        None,
    );
}

#[test]
fn unknown_keys_in_a_messaging_trigger() {
    check(
        &trigger_err("subject = \"orders\"\nqueue-group = \"w\"\ncomponent = \"api\"\n"),
        Some(6),
        "trigger.messaging[0].queue-group",
        "unknown key `queue-group`",
        Some("did you mean `queue_group`?"),
    );
    check(
        &trigger_err("channel = \"orders\"\nsubject = \"orders\"\ncomponent = \"api\"\n"),
        Some(5),
        "trigger.messaging[0].channel",
        "unknown key `channel`",
        Some("expected one of: `subject`, `component`, `queue_group`, `broker`, `id`"),
    );
    check(
        &skiff_err("[trigger.messaging]\nsubject = \"orders\"\ncomponent = \"api\"\n"),
        Some(4),
        "trigger.messaging",
        "expected an array of tables ([[trigger.messaging]]), found a table",
        None,
    );
}

#[test]
fn unknown_trigger_types_name_messaging() {
    check(
        &skiff_err("[[trigger.mesaging]]\nsubject = \"orders\"\ncomponent = \"api\"\n"),
        Some(4),
        "trigger.mesaging",
        "trigger type `mesaging` is not supported",
        Some("did you mean `messaging`?"),
    );
    check(
        &skiff_err(
            "[[trigger.sqs]]\nqueue_url = \"https://sqs.example.com/q\"\ncomponent = \"api\"\n",
        ),
        Some(4),
        "trigger.sqs",
        "trigger type `sqs` is not supported",
        Some("Skiff runs `http`, `redis`, `messaging`, `cron` and `mqtt` triggers"),
    );
}

#[test]
fn message_broker_labels() {
    const API: &str = "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\n";
    check(
        &skiff_err(&format!("{API}message_brokers = [\"default\", \"b@d\"]\n")),
        Some(9),
        "component.api.message_brokers[1]",
        "invalid label `b@d`: expected kebab-case or snake_case (letters, digits, and `-` or `_`), starting with a letter",
        None,
    );
    let e = skiff_err(&format!("{API}message_brokers = \"default\"\n"));
    check(
        &e,
        Some(9),
        "component.api.message_brokers",
        "expected an array of strings, found a string",
        Some("write a list: `message_brokers = [\"default\"]`"),
    );
    assert_eq!(e.column, Some(19));
    check(
        &skiff_err(&format!("{API}message_broker = [\"default\"]\n")),
        Some(9),
        "component.api.message_broker",
        "unknown key `message_broker`",
        Some("did you mean `message_brokers`?"),
    );
}
