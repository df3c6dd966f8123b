//! `[[trigger.cron]]` (Spin's cron trigger plugin's syntax) in skiff.toml and
//! spin.toml: what loads, and errors naming file, line, key, field and value.
//! `skiff_err` prepends three lines, so the text given starts at line 4.

use skiff_manifest::{App, CronTrigger, ManifestError, ManifestKind};

use crate::{Fixture, SKIFF_HEAD, check, skiff_err};

/// Loads `SKIFF_HEAD` + `rest` (with `api.wasm` present).
fn skiff_ok(rest: &str) -> (Fixture, App) {
    let f = Fixture::new();
    f.file("api.wasm", "")
        .file("skiff.toml", &format!("{SKIFF_HEAD}{rest}"));
    let app = skiff_manifest::load(f.path()).unwrap_or_else(|e| panic!("{e}"));
    (f, app)
}

/// A cron trigger (line 4) with `body` from line 5, then component `api`.
fn trigger_err(body: &str) -> ManifestError {
    skiff_err(&format!(
        "[[trigger.cron]]\n{body}[component.api]\nsource = \"api.wasm\"\n"
    ))
}

/// The error for `cron_expression = "expression"` (on line 5).
fn expression_err(expression: &str) -> ManifestError {
    trigger_err(&format!(
        "cron_expression = \"{expression}\"\ncomponent = \"api\"\n"
    ))
}

const SKIFF_CRON: &str = r#"[variables]
every = { default = "*/5" }

[[trigger.http]]
route = "/..."
component = "api"

[[trigger.cron]]
cron_expression = "1/2 * * * * *"
component = "api"

[[trigger.cron]]
cron_expression = "0 9 * * MON-FRI"
component = { source = "api.wasm", environment = { MODE = "weekday" } }

[[trigger.cron]]
id = "yearly"
component = "api"
cron_expression = "@yearly"

[[trigger.cron]]
cron_expression = "{{ every }} * * * * * 2030"
component = "api"

[component.api]
source = "api.wasm"
"#;

#[test]
fn loads_cron_triggers_from_a_skiff_toml() {
    let (f, app) = skiff_ok(SKIFF_CRON);
    assert_eq!(
        app.cron_triggers,
        [
            CronTrigger {
                expression: "1/2 * * * * *".into(),
                component: "api".into(),
                line: 12,
            },
            CronTrigger {
                expression: "0 9 * * MON-FRI".into(),
                component: "cron-trigger1-component".into(),
                line: 16,
            },
            CronTrigger {
                expression: "@yearly".into(),
                component: "api".into(),
                line: 22,
            },
            CronTrigger {
                expression: "{{ every }} * * * * * 2030".into(),
                component: "api".into(),
                line: 25,
            },
        ]
    );
    assert_eq!(app.http_triggers.len(), 1);
    let inline = &app.components["cron-trigger1-component"];
    assert_eq!(inline.key, "trigger.cron[1].component");
    assert_eq!(inline.source, f.path().join("api.wasm"));
    assert_eq!(inline.environment["MODE"], "weekday");
}

#[test]
fn loads_cron_triggers_from_a_spin_toml() {
    // Spin's cron trigger plugin's own example, and nothing else.
    let f = Fixture::new();
    f.file("cron.wasm", "").file(
        "spin.toml",
        r#"spin_manifest_version = 2

[application]
name = "hello-cron"

[[trigger.cron]]
component = "hello-cron"
cron_expression = "1/2 * * * * *"

[component.hello-cron]
source = "cron.wasm"
allowed_outbound_hosts = ["https://example.com"]
"#,
    );
    let app = skiff_manifest::load(f.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.kind, ManifestKind::Spin);
    assert!(app.http_triggers.is_empty());
    assert_eq!(
        app.cron_triggers,
        [CronTrigger {
            expression: "1/2 * * * * *".into(),
            component: "hello-cron".into(),
            line: 8,
        }]
    );
}

#[test]
fn bad_expressions_name_the_field_the_value_and_its_range() {
    let e = expression_err("*/2 * * 32 * *");
    check(
        &e,
        Some(5),
        "trigger.cron[0].cron_expression",
        "cron expression \"*/2 * * 32 * *\": day-of-month 32 is out of range 1-31",
        None,
    );
    assert_eq!(e.column, Some(19));
    assert!(
        e.to_string().ends_with(
            "skiff.toml:5:19: `trigger.cron[0].cron_expression`: cron expression \"*/2 * * 32 * *\": day-of-month 32 is out of range 1-31"
        ),
        "{e}"
    );
    check(
        &expression_err("0 0 25 * * *"),
        Some(5),
        "trigger.cron[0].cron_expression",
        "cron expression \"0 0 25 * * *\": hour 25 is out of range 0-23",
        None,
    );
    check(
        &expression_err("* * * * 8"),
        Some(5),
        "trigger.cron[0].cron_expression",
        "cron expression \"* * * * 8\": day-of-week 8 is out of range 0-7",
        Some("0 and 7 are Sunday, 1 is Monday … 6 is Saturday"),
    );
    check(
        &expression_err("0 0 0 * JANUAR *"),
        Some(5),
        "trigger.cron[0].cron_expression",
        "cron expression \"0 0 0 * JANUAR *\": month `JANUAR` is not a number or a month name (JAN-DEC)",
        Some("did you mean `JAN`?"),
    );
    check(
        &expression_err("0 0 0 30 FEB *"),
        Some(5),
        "trigger.cron[0].cron_expression",
        "cron expression \"0 0 0 30 FEB *\": day-of-month 30 never falls in month FEB",
        Some("February has at most 29 days; April, June, September and November 30"),
    );
    let e = expression_err("* * *");
    assert_eq!(
        e.message,
        "cron expression \"* * *\": 3 fields; expected 6 (second minute hour day-of-month month \
         day-of-week, as Spin writes it), 7 (the same and a year) or 5 (a crontab line: minute \
         hour day-of-month month day-of-week)"
    );
    // The second of several triggers is named by its index.
    let e = skiff_err(
        "[[trigger.cron]]\ncron_expression = \"* * * * * *\"\ncomponent = \"api\"\n\
         [[trigger.cron]]\ncron_expression = \"0 0 20-5 * * *\"\ncomponent = \"api\"\n\
         [component.api]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(8),
        "trigger.cron[1].cron_expression",
        "cron expression \"0 0 20-5 * * *\": hour range `20-5` is backwards (20 is after 5)",
        Some("write the smaller value first; for a range that wraps, a list: `20-23,0-5`"),
    );
}

#[test]
fn spin_toml_errors_name_spin_toml() {
    let f = Fixture::new();
    f.file("a.wasm", "").file(
        "spin.toml",
        "spin_manifest_version = 2\n[application]\nname = \"t\"\n[[trigger.cron]]\ncomponent = \"a\"\ncron_expression = \"0 60 * * * *\"\n[component.a]\nsource = \"a.wasm\"\n",
    );
    let e = f.load_err();
    assert_eq!(e.file, f.path().join("spin.toml"));
    check(
        &e,
        Some(6),
        "trigger.cron[0].cron_expression",
        "cron expression \"0 60 * * * *\": minute 60 is out of range 0-59",
        None,
    );
}

#[test]
fn missing_wrong_and_unknown_keys() {
    check(
        &trigger_err("component = \"api\"\n"),
        Some(4),
        "trigger.cron[0].cron_expression",
        "missing required key `cron_expression`",
        None,
    );
    check(
        &trigger_err("cron_expression = \"\"\ncomponent = \"api\"\n"),
        Some(5),
        "trigger.cron[0].cron_expression",
        "must not be empty",
        None,
    );
    check(
        &trigger_err("cron_expression = 5\ncomponent = \"api\"\n"),
        Some(5),
        "trigger.cron[0].cron_expression",
        "expected a string, found an integer",
        None,
    );
    check(
        &trigger_err(
            "cron_expression = \"* * * * * *\"\ncomponent = \"api\"\ncron_expresion = \"@daily\"\n",
        ),
        Some(7),
        "trigger.cron[0].cron_expresion",
        "unknown key `cron_expresion`",
        Some("did you mean `cron_expression`?"),
    );
    check(
        &trigger_err(
            "cron_expression = \"* * * * * *\"\ncomponent = \"api\"\ntimezone = \"UTC\"\n",
        ),
        Some(7),
        "trigger.cron[0].timezone",
        "unknown key `timezone`",
        Some("expected one of: `cron_expression`, `component`, `id`"),
    );
}

#[test]
fn an_unknown_component_is_named() {
    check(
        &trigger_err("cron_expression = \"* * * * * *\"\ncomponent = \"apj\"\n"),
        Some(6),
        "trigger.cron[0].component",
        "no component `apj` (there is no [component.apj] table)",
        Some("did you mean `api`?"),
    );
}

#[test]
fn templated_expressions_are_checked_for_variables_not_syntax() {
    check(
        &trigger_err("cron_expression = \"{{ evry }} * * * * *\"\ncomponent = \"api\"\n"),
        Some(5),
        "trigger.cron[0].cron_expression",
        "`{{ evry }}` refers to undeclared variable `evry`",
        Some("declare it: [variables] evry = { default = \"…\" }"),
    );
}
