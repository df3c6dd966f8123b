//! A complete, valid skiff.toml, and what is particular to skiff.toml.

use std::time::Duration;

use skiff_manifest::{Build, FileMount, Limits, ManifestKind, Route, Variable};

use crate::{Fixture, check, skiff_err};

const EVERYTHING: &str = r#"skiff_manifest_version = 1

[application]
name = "shop"
version = "1.2.0"
description = "A shop"
authors = ["Ann <ann@example.com>"]

[application.limits]
memory = "64MiB"
timeout = "5s"

[variables]
greeting = { default = "hi" }
api_key = { required = true, secret = true }
redis_host = { default = "127.0.0.1" }

[[trigger.http]]
route = "/api/..."
component = "api"

[[trigger.http]]
route = "/"
component = "web"

[[trigger.http]]
route = "/users/:id"
component = "api"

[component.api]
source = "target/api.wasm"
description = "The API"
allowed_outbound_hosts = ["https://api.example.com", "redis://{{ redis_host }}:6379"]
key_value_stores = ["default"]
sqlite_databases = ["default", "analytics"]
environment = { LOG = "info" }
variables = { message = "{{ greeting }}, world", literal = "plain" }
[component.api.build]
command = "cargo build --release"
workdir = "api"
watch = ["src/**/*.rs"]
[component.api.limits]
memory = "32MiB"
max_concurrency = 4

[component.web]
source = "web.wasm"
files = ["static/**/*", "index.html", { source = "assets", destination = "/assets" }]
exclude_files = ["static/private/*"]
"#;

fn everything() -> Fixture {
    let f = Fixture::new();
    f.file("skiff.toml", EVERYTHING)
        .file("target/api.wasm", "")
        .file("web.wasm", "")
        .dir("api")
        .file("static/a.css", "")
        .file("static/js/app.js", "")
        .file("static/private/secret.txt", "")
        .file("index.html", "")
        .file("assets/logo.png", "");
    f
}

#[test]
fn loads_a_complete_skiff_toml() {
    let f = everything();
    let app = skiff_manifest::load(f.path()).unwrap();
    let base = f.path();
    assert_eq!(app.kind, ManifestKind::Skiff);
    assert_eq!(app.manifest_path, base.join("skiff.toml"));
    assert_eq!(app.base_dir, base);
    assert_eq!(app.name, "shop");
    assert_eq!(app.version.as_deref(), Some("1.2.0"));
    assert_eq!(app.description.as_deref(), Some("A shop"));
    assert_eq!(app.authors, ["Ann <ann@example.com>"]);
    assert_eq!(
        app.variables["greeting"],
        Variable {
            default: Some("hi".into()),
            required: false,
            secret: false
        }
    );
    assert_eq!(
        app.variables["api_key"],
        Variable {
            default: None,
            required: true,
            secret: true
        }
    );

    let routes: Vec<_> = app
        .http_triggers
        .iter()
        .map(|t| (t.route.clone(), t.component.as_str(), t.line))
        .collect();
    assert_eq!(
        routes,
        [
            (Route::Wildcard("/api".into()), "api", 19),
            (Route::Exact("/".into()), "web", 23),
            (Route::Exact("/users/:id".into()), "api", 27),
        ]
    );
    assert!(app.redis_triggers.is_empty());
    assert_eq!(app.redis_address, None);

    let api = &app.components["api"];
    assert_eq!(api.id, "api");
    assert_eq!(api.key, "component.api");
    assert_eq!(api.description.as_deref(), Some("The API"));
    assert_eq!(api.source, base.join("target/api.wasm"));
    assert_eq!(api.source_line, 31);
    assert_eq!(
        api.allowed_outbound_hosts,
        ["https://api.example.com", "redis://{{ redis_host }}:6379"]
    );
    assert_eq!(api.key_value_stores, ["default"]);
    assert_eq!(api.sqlite_databases, ["default", "analytics"]);
    assert_eq!(api.environment["LOG"], "info");
    assert_eq!(api.variables["message"], "{{ greeting }}, world");
    assert_eq!(api.variables["literal"], "plain");
    assert_eq!(
        api.build,
        Some(Build {
            command: "cargo build --release".into(),
            workdir: base.join("api"),
            watch: vec!["src/**/*.rs".into()],
        })
    );
    // Component over application over defaults, field by field.
    assert_eq!(
        api.limits,
        Limits {
            memory: 32 << 20,
            timeout: Duration::from_secs(5),
            max_concurrency: Some(4),
            max_body: Limits::default().max_body,
        }
    );
    assert!(api.files.is_empty());

    let web = &app.components["web"];
    assert_eq!(web.limits.memory, 64 << 20);
    assert_eq!(web.limits.max_concurrency, None);
    assert_eq!(web.build, None);
    let mount = |source: &str, destination: &str| FileMount {
        source: base.join(source),
        destination: destination.into(),
    };
    assert_eq!(
        web.files,
        [
            mount("static/a.css", "/static/a.css"),
            mount("static/js/app.js", "/static/js/app.js"),
            mount("index.html", "/index.html"),
            mount("assets", "/assets"),
        ]
    );
}

#[test]
fn loads_from_the_file_path_too() {
    let f = everything();
    let app = skiff_manifest::load(&f.path().join("skiff.toml")).unwrap();
    assert_eq!(app.name, "shop");
}

#[test]
fn minimal_app_gets_default_limits() {
    let f = Fixture::new();
    f.file("a.wasm", "").file(
        "skiff.toml",
        "skiff_manifest_version = 1\n[application]\nname = \"a\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n",
    );
    let app = skiff_manifest::load(f.path()).unwrap();
    assert_eq!(app.components["a"].limits, Limits::default());
    assert_eq!(app.http_triggers[0].route, Route::Wildcard(String::new()));
    assert_eq!(app.http_triggers[0].route.to_string(), "/...");
}

#[test]
fn missing_version() {
    let f = Fixture::new();
    f.file("skiff.toml", "[application]\nname = \"a\"\n");
    let e = f.load_err();
    check(
        &e,
        None,
        "skiff_manifest_version",
        "missing `skiff_manifest_version = 1`",
        Some("add `skiff_manifest_version = 1` as the first line"),
    );
    assert_eq!(
        e.to_string(),
        format!(
            "{}: `skiff_manifest_version`: missing `skiff_manifest_version = 1`\n  hint: add `skiff_manifest_version = 1` as the first line",
            f.path().join("skiff.toml").display()
        )
    );
}

#[test]
fn wrong_version() {
    let f = Fixture::new();
    f.file("skiff.toml", "skiff_manifest_version = 2\n");
    let e = f.load_err();
    check(
        &e,
        Some(1),
        "skiff_manifest_version",
        "unsupported version 2; this Skiff reads version 1",
        Some("upgrade Skiff to read newer manifests"),
    );
    assert_eq!(e.column, Some(26));

    let f = Fixture::new();
    f.file("skiff.toml", "skiff_manifest_version = \"1\"\n");
    check(
        &f.load_err(),
        Some(1),
        "skiff_manifest_version",
        "expected the integer 1, found a string",
        Some("write `skiff_manifest_version = 1`"),
    );
}

#[test]
fn both_version_keys() {
    let f = Fixture::new();
    f.file(
        "skiff.toml",
        "skiff_manifest_version = 1\nspin_manifest_version = 2\n",
    );
    let e = f.load_err();
    assert_eq!(
        e.message,
        "the manifest has both `skiff_manifest_version` and `spin_manifest_version`"
    );
}

#[test]
fn limits_errors_say_the_format() {
    let e = skiff_err("[application.limits]\nmemory = \"64 potatoes\"\n");
    check(
        &e,
        Some(5),
        "application.limits.memory",
        "invalid size `64 potatoes`: unknown unit `potatoes`; expected a size like \"64MiB\", \"10MB\" or \"512KiB\" (units: B, KB, KiB, MB, MiB, GB, GiB)",
        None,
    );
    assert_eq!(e.column, Some(10));

    let e = skiff_err("[application.limits]\ntimeout = \"5\"\n");
    check(
        &e,
        Some(5),
        "application.limits.timeout",
        "invalid duration `5`: missing unit; expected a duration like \"5s\", \"500ms\", \"1m\" or \"2.5s\" (units: ns, us, ms, s, m, h)",
        None,
    );

    let e = skiff_err("[application.limits]\nmax_concurrency = 0\n");
    check(
        &e,
        Some(5),
        "application.limits.max_concurrency",
        "max_concurrency must be an integer from 1 to 4294967295, found 0",
        None,
    );

    let e = skiff_err("[application.limits]\nmax_body = 1024\n");
    check(
        &e,
        Some(5),
        "application.limits.max_body",
        "expected a size string like \"64MiB\", found an integer",
        Some("write the unit: `\"1024MiB\"`, or `\"1024B\"` for bytes"),
    );

    let e = skiff_err("[application.limits]\nmemory = \"1KiB\"\n");
    check(
        &e,
        Some(5),
        "application.limits.memory",
        "memory limit `1KiB` is below one WebAssembly page (64KiB)",
        None,
    );

    let e = skiff_err("[application.limits]\ntimeout = \"0s\"\n");
    check(
        &e,
        Some(5),
        "application.limits.timeout",
        "timeout must be greater than zero",
        None,
    );

    let e = skiff_err(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\nlimits = { memroy = \"1MiB\" }\n",
    );
    check(
        &e,
        Some(9),
        "component.api.limits.memroy",
        "unknown key `memroy`",
        Some("did you mean `memory`?"),
    );
}

#[test]
fn spin_only_keys_are_unknown_in_skiff_toml() {
    let e = skiff_err(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\nexecutor = { type = \"spin\" }\n[component.api]\nsource = \"api.wasm\"\n",
    );
    check(
        &e,
        Some(7),
        "trigger.http[0].executor",
        "unknown key `executor`",
        Some("expected one of: `route`, `component`, `static_response`, `id`"),
    );

    let e = skiff_err(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\nallowed_http_hosts = [\"example.com\"]\n",
    );
    check(
        &e,
        Some(9),
        "component.api.allowed_http_hosts",
        "unknown key `allowed_http_hosts`",
        Some(
            "replaced by `allowed_outbound_hosts`, whose entries name the scheme: `allowed_outbound_hosts = [\"https://example.com\"]`",
        ),
    );
}
