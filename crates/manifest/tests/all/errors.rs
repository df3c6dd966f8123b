//! Validation errors shared by both formats, each asserted in full (line, key, message, hint).
//! `skiff_err` prepends three lines, so the text given starts at line 4.

use crate::{Fixture, check, skiff_err};

/// A trigger for component `api` (lines 4–6) and the start of its table (lines 7–8).
const API: &str = "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\n";

#[test]
fn unknown_key_with_a_suggestion() {
    let e = skiff_err(&format!(
        "{API}allowed_outbound_host = [\"https://example.com\"]\n"
    ));
    check(
        &e,
        Some(9),
        "component.api.allowed_outbound_host",
        "unknown key `allowed_outbound_host`",
        Some("did you mean `allowed_outbound_hosts`?"),
    );
    assert_eq!(e.column, Some(1));
    assert!(
        e.to_string().ends_with(
            "skiff.toml:9:1: `component.api.allowed_outbound_host`: unknown key `allowed_outbound_host`\n  hint: did you mean `allowed_outbound_hosts`?"
        ),
        "{e}"
    );
}

#[test]
fn unknown_key_lists_expected_keys() {
    let e = skiff_err(&format!("{API}wat = 1\n"));
    check(
        &e,
        Some(9),
        "component.api.wat",
        "unknown key `wat`",
        Some(
            "expected one of: `source`, `description`, `files`, `exclude_files`, `environment`, `allowed_outbound_hosts`, `key_value_stores`, `sqlite_databases`, `message_brokers`, `blob_stores`, `variables`, `build`, `limits`, `dependencies`, `dependencies_inherit_configuration`, `ai_models`",
        ),
    );
    let e = skiff_err(&format!(
        "{API}[component.api.build]\ncommand = \"make\"\nworkdri = \".\"\n"
    ));
    check(
        &e,
        Some(11),
        "component.api.build.workdri",
        "unknown key `workdri`",
        Some("did you mean `workdir`?"),
    );
    let e = skiff_err(&format!("nmae = \"x\"\n{API}"));
    check(
        &e,
        Some(4),
        "application.nmae",
        "unknown key `nmae`",
        Some("did you mean `name`?"),
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    let e = skiff_err(&format!("{API}key_value_stores = \"default\"\n"));
    check(
        &e,
        Some(9),
        "component.api.key_value_stores",
        "expected an array of strings, found a string",
        Some("write a list: `key_value_stores = [\"default\"]`"),
    );
    assert_eq!(e.column, Some(20));
    let e = skiff_err(&format!("{API}environment = [\"A=1\"]\n"));
    check(
        &e,
        Some(9),
        "component.api.environment",
        "expected a table of strings (`{ NAME = \"value\" }`), found an array",
        None,
    );
    let e = skiff_err(&format!(
        "{API}allowed_outbound_hosts = [\"https://a.com\", 42]\n"
    ));
    check(
        &e,
        Some(9),
        "component.api.allowed_outbound_hosts[1]",
        "expected a string, found an integer",
        None,
    );
    let e = skiff_err("[[trigger.http]]\nroute = \"/\"\ncomponent = 7\n");
    check(
        &e,
        Some(6),
        "trigger.http[0].component",
        "expected a component id string or an inline component table, found an integer",
        None,
    );
    let e = skiff_err("[trigger.http]\nroute = \"/\"\ncomponent = \"api\"\n");
    check(
        &e,
        Some(4),
        "trigger.http",
        "expected an array of tables ([[trigger.http]]), found a table",
        None,
    );
}

#[test]
fn application_and_name_are_required() {
    let f = Fixture::new();
    f.file(
        "skiff.toml",
        "skiff_manifest_version = 1\n[application]\nversion = \"1\"\n",
    );
    check(
        &f.load_err(),
        Some(2),
        "application.name",
        "missing required key `name`",
        None,
    );

    // Misspelt, it is reported where it was written, with the fix.
    let f = Fixture::new();
    f.file(
        "skiff.toml",
        "skiff_manifest_version = 1\n[application]\nversion = \"1\"\nnmae = \"x\"\n",
    );
    check(
        &f.load_err(),
        Some(4),
        "application.nmae",
        "unknown key `nmae`",
        Some("did you mean `name`?"),
    );
    let e = skiff_err(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n[component.a]\nsorce = \"a.wasm\"\n",
    );
    assert_eq!(e.line, Some(8), "{e}");
    assert!(e.to_string().contains("did you mean `source`?"), "{e}");

    let f = Fixture::new();
    f.file("skiff.toml", "skiff_manifest_version = 1\n");
    check(
        &f.load_err(),
        None,
        "application",
        "missing [application] table",
        Some("add `[application]` with `name = \"my-app\"`"),
    );

    let e = skiff_err("");
    check(
        &e,
        None,
        "trigger",
        "the manifest has no triggers",
        Some("add a [[trigger.http]] with `route = \"/...\"` and `component = \"ID\"`"),
    );
}

#[test]
fn bad_routes() {
    let route = |r: &str| {
        skiff_err(&format!(
            "[[trigger.http]]\nroute = \"{r}\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\n"
        ))
    };
    check(
        &route("api"),
        Some(5),
        "trigger.http[0].route",
        "route `api` must start with `/`",
        Some("did you mean \"/api\"?"),
    );
    check(
        &route("/a/.../b"),
        Some(5),
        "trigger.http[0].route",
        "route `/a/.../b`: `...` is only allowed as the final segment (`/prefix/...`)",
        None,
    );
    check(
        &route("/a b"),
        Some(5),
        "trigger.http[0].route",
        "route `/a b` contains whitespace or a control character (' ')",
        Some("percent-encode it, e.g. `%20` for a space"),
    );
    check(
        &route("/search?q=1"),
        Some(5),
        "trigger.http[0].route",
        "route `/search?q=1` contains `?`; routes match paths only, not queries or fragments",
        None,
    );
    check(
        &route("/a#top"),
        Some(5),
        "trigger.http[0].route",
        "route `/a#top` contains `#`; routes match paths only, not queries or fragments",
        None,
    );
    let e = skiff_err(
        "[[trigger.http]]\nroute = { private = false }\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(5),
        "trigger.http[0].route.private",
        "`private = false` is not a route",
        Some("write a route string like \"/api/...\", or `{ private = true }`"),
    );
}

#[test]
fn duplicate_routes_name_both_lines() {
    let e = skiff_err(
        "[[trigger.http]]\nroute = \"/api/...\"\ncomponent = \"a\"\n\n\n[[trigger.http]]\nroute = \"/api/...\"\ncomponent = \"b\"\n[component.a]\nsource = \"api.wasm\"\n[component.b]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(10),
        "trigger.http[1].route",
        "route `/api/...` is used by component `a` (line 5) and component `b` (line 10)",
        Some("each route can belong to one trigger only: change or remove one of them"),
    );
    // Parameter names do not make routes different.
    let e = skiff_err(
        "[[trigger.http]]\nroute = \"/u/:id\"\ncomponent = \"a\"\n[[trigger.http]]\nroute = \"/u/:name\"\ncomponent = \"a\"\n[component.a]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(8),
        "trigger.http[1].route",
        "routes `/u/:id` (component `a`, line 5) and `/u/:name` (component `a`, line 8) match the same requests",
        Some("each route can belong to one trigger only: change or remove one of them"),
    );
}

#[test]
fn bad_component_ids() {
    let e = skiff_err(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"My_Api\"\n[component.My_Api]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(7),
        "component.My_Api",
        "invalid component id `My_Api`: words must be separated by `-`, not `_`",
        Some(
            "component ids are lowercase letters, digits and `-`, starting with a letter, e.g. `my-api`",
        ),
    );
    let e = skiff_err(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"2fa\"\n[component.2fa]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(7),
        "component.2fa",
        "invalid component id `2fa`: must start with a letter",
        Some(
            "component ids are lowercase letters, digits and `-`, starting with a letter, e.g. `fa`",
        ),
    );
}

#[test]
fn trigger_naming_a_missing_component() {
    let e = skiff_err(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"apx\"\n[component.api]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(6),
        "trigger.http[0].component",
        "no component `apx` (there is no [component.apx] table)",
        Some("did you mean `api`?"),
    );
    let e = skiff_err(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"zzz\"\n[component.api]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(6),
        "trigger.http[0].component",
        "no component `zzz` (there is no [component.zzz] table)",
        Some("components in this manifest: `api`"),
    );
}

#[test]
fn unused_component() {
    let e = skiff_err(&format!("{API}[component.extra]\nsource = \"api.wasm\"\n"));
    check(
        &e,
        Some(9),
        "component.extra",
        "component `extra` is not used by any trigger",
        Some(
            "add a [[trigger.http]] with component = \"extra\", name it in a component's \
             dependencies (`component = \"extra\"`), or remove it",
        ),
    );
}

#[test]
fn variables() {
    let e = skiff_err(&format!(
        "[variables]\nApi_Key = {{ default = \"x\" }}\n{API}"
    ));
    check(
        &e,
        Some(5),
        "variables.Api_Key",
        "invalid variable name `Api_Key`: must be lowercase",
        Some(
            "variable names are lowercase letters, digits and `_`, starting with a letter, e.g. `api_key`",
        ),
    );
    let e = skiff_err(&format!(
        "[variables]\ntoken = {{ required = true, default = \"x\" }}\n{API}"
    ));
    check(
        &e,
        Some(5),
        "variables.token",
        "variable `token` is `required = true` and has a `default`",
        Some("a required variable has no default: remove one of them"),
    );
    let e = skiff_err(&format!("[variables]\ntoken = {{ secret = true }}\n{API}"));
    check(
        &e,
        Some(5),
        "variables.token",
        "variable `token` needs a `default` or `required = true`",
        Some("e.g. `token = { default = \"…\" }`"),
    );
    let e = skiff_err(&format!(
        "[variables]\ngreeting = {{ default = \"hi\" }}\n{API}variables = {{ msg = \"{{{{ greting }}}}!\", plain = \"ok\" }}\n"
    ));
    check(
        &e,
        Some(11),
        "component.api.variables.msg",
        "`{{ greting }}` refers to undeclared variable `greting`",
        Some("did you mean `greeting`?"),
    );
    let e = skiff_err(&format!(
        "{API}allowed_outbound_hosts = [\"https://{{{{ host }}}}\"]\n"
    ));
    check(
        &e,
        Some(9),
        "component.api.allowed_outbound_hosts[0]",
        "`{{ host }}` refers to undeclared variable `host`",
        Some("declare it: [variables] host = { default = \"…\" }"),
    );
    let e = skiff_err(&format!("{API}variables = {{ msg = \"{{{{ greeting\" }}\n"));
    check(
        &e,
        Some(9),
        "component.api.variables.msg",
        "unclosed `{{` in `{{ greeting` (a template looks like `{{ name }}`)",
        None,
    );
    let e = skiff_err(&format!("{API}variables = {{ Msg = \"x\" }}\n"));
    check(
        &e,
        Some(9),
        "component.api.variables.Msg",
        "invalid variable name `Msg`: must be lowercase",
        Some("e.g. `msg`"),
    );
}

#[test]
fn environment_keys() {
    let e = skiff_err(&format!("{API}environment = {{ \"A=B\" = \"x\" }}\n"));
    check(
        &e,
        Some(9),
        "component.api.environment.\"A=B\"",
        "environment variable name `A=B` must not contain `=`",
        None,
    );
    let e = skiff_err(&format!("{API}environment = {{ \"\" = \"x\" }}\n"));
    check(
        &e,
        Some(9),
        "component.api.environment.\"\"",
        "environment variable names must not be empty",
        None,
    );
}

#[test]
fn store_labels() {
    let e = skiff_err(&format!("{API}key_value_stores = [\"default\", \"b@d\"]\n"));
    check(
        &e,
        Some(9),
        "component.api.key_value_stores[1]",
        "invalid label `b@d`: expected kebab-case or snake_case (letters, digits, and `-` or `_`), starting with a letter",
        None,
    );
}

#[test]
fn missing_source_file() {
    let f = Fixture::new();
    f.file(
        "skiff.toml",
        "skiff_manifest_version = 1\n[application]\nname = \"t\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\n[component.api]\nsource = \"target/api.wasm\"\n[component.api.build]\ncommand = \"cargo build\"\n",
    );
    let e = f.load_err();
    let abs = f.path().join("target/api.wasm");
    check(
        &e,
        Some(8),
        "component.api.source",
        &format!("source file {} does not exist", abs.display()),
        Some("run `skiff build` first (it runs `cargo build`)"),
    );
    // Without a build command there is nothing to suggest running.
    let f = Fixture::new();
    f.file(
        "skiff.toml",
        "skiff_manifest_version = 1\n[application]\nname = \"t\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\n",
    );
    let e = f.load_err();
    check(
        &e,
        Some(8),
        "component.api.source",
        &format!(
            "source file {} does not exist",
            f.path().join("api.wasm").display()
        ),
        None,
    );
    // `load_for_build` does not need it.
    let app = skiff_manifest::load_for_build(f.path()).unwrap();
    let e = app.check_sources().unwrap_err();
    assert_eq!(e.key.as_deref(), Some("component.api.source"));
}

#[test]
fn build_workdir_must_exist() {
    let e = skiff_err(&format!(
        "{API}[component.api.build]\ncommand = \"make\"\nworkdir = \"nope\"\n"
    ));
    assert_eq!(e.key.as_deref(), Some("component.api.build.workdir"));
    assert_eq!(e.line, Some(11));
    assert!(
        e.message.starts_with("build directory /") && e.message.ends_with("/nope does not exist"),
        "{e}"
    );
}

#[test]
fn toml_syntax_errors_have_positions() {
    let f = Fixture::new();
    f.file(
        "skiff.toml",
        "skiff_manifest_version = 1\n[application]\nname = \n",
    );
    let e = f.load_err();
    assert_eq!((e.line, e.column), (Some(3), Some(8)));
    assert_eq!(e.key, None);
    assert!(e.message.contains("string values must be quoted"), "{e}");
}

#[test]
fn errors_come_in_file_order() {
    // Two problems: the one on the earlier line is reported.
    let e = skiff_err(&format!("{API}wat = 1\nkey_value_stores = \"default\"\n"));
    assert_eq!(e.line, Some(9));
    assert_eq!(e.key.as_deref(), Some("component.api.wat"));
}
