//! A complete, valid spin.toml, and Spin features Skiff reports as unsupported.

use skiff_manifest::{Build, FileMount, Limits, ManifestKind, RedisTrigger, Route};

use crate::{Fixture, check};

const EVERYTHING: &str = r#"spin_manifest_version = 2

[application]
name = "spin-app"
version = "0.1.0"
authors = ["Fermyon Engineering <engineering@fermyon.com>"]
description = "Everything Skiff reads from a spin.toml"
targets = ["spin-up:3.2"]

[application.trigger.redis]
address = "redis://localhost:6379"

[application.tool.lint]
level = "strict"

[variables]
host = { default = "example.com" }
token = { required = true, secret = true, description = "API token" }

[[trigger.http]]
route = "/..."
component = "hello"
executor = { type = "spin" }

[[trigger.http]]
route = { private = true }
component = "internal"

[[trigger.http]]
route = "/inline"
component = { source = "inline.wasm", allowed_outbound_hosts = ["https://{{ host }}"] }

[[trigger.http]]
id = "named"
route = "/named"
component = { source = "inline.wasm" }

[[trigger.redis]]
channel = "orders"
component = "orders"

[[trigger.redis]]
channel = "events"
address = "redis://other:6379"
component = "orders"

[component.hello]
source = "hello.wasm"
allowed_outbound_hosts = ["https://{{ host }}"]
allowed_http_hosts = ["legacy.example.com"]
files = [{ source = "static", destination = "/" }, "README.md"]
exclude_files = ["*.tmp"]
key_value_stores = ["default", "my_store"]
sqlite_databases = ["default"]
variables = { token = "{{ token }}", mode = "fast" }
environment = { RUST_LOG = "debug" }
dependencies_inherit_configuration = false
ai_models = []
[component.hello.build]
command = ["npm install", "npm run build"]
watch = ["src/**/*"]
[component.hello.tool.clean]
command = "rm -rf dist"

[component.internal]
source = "internal.wasm"

[component.orders]
source = "orders.wasm"
"#;

#[test]
fn loads_a_complete_spin_toml() {
    let f = Fixture::new();
    f.file("spin.toml", EVERYTHING)
        .file("hello.wasm", "")
        .file("inline.wasm", "")
        .file("internal.wasm", "")
        .file("orders.wasm", "")
        .file("static/index.html", "")
        .file("README.md", "")
        .file("notes.tmp", "");
    let app = skiff_manifest::load(f.path()).unwrap();
    let base = f.path();
    assert_eq!(app.kind, ManifestKind::Spin);
    assert_eq!(app.manifest_path, base.join("spin.toml"));
    assert_eq!(app.name, "spin-app");
    assert_eq!(app.version.as_deref(), Some("0.1.0"));
    assert_eq!(
        app.authors,
        ["Fermyon Engineering <engineering@fermyon.com>"]
    );
    assert!(app.variables["token"].secret);
    assert_eq!(app.redis_address.as_deref(), Some("redis://localhost:6379"));

    // Inline components get Spin's generated ids.
    let ids: Vec<&str> = app.components.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "hello",
            "http-trigger1-component",
            "internal",
            "named-component",
            "orders"
        ]
    );
    let inline = &app.components["http-trigger1-component"];
    assert_eq!(inline.key, "trigger.http[2].component");
    assert_eq!(inline.source, base.join("inline.wasm"));
    assert_eq!(inline.source_line, 31);
    assert_eq!(inline.allowed_outbound_hosts, ["https://{{ host }}"]);

    let routes: Vec<_> = app
        .http_triggers
        .iter()
        .map(|t| (t.route.clone(), t.component.as_str(), t.line))
        .collect();
    assert_eq!(
        routes,
        [
            (Route::Wildcard(String::new()), "hello", 21),
            (Route::Private, "internal", 26),
            (
                Route::Exact("/inline".into()),
                "http-trigger1-component",
                30
            ),
            (Route::Exact("/named".into()), "named-component", 35),
        ]
    );
    assert_eq!(
        app.redis_triggers,
        [
            RedisTrigger {
                channel: "orders".into(),
                address: None,
                component: "orders".into(),
                line: 39,
            },
            RedisTrigger {
                channel: "events".into(),
                address: Some("redis://other:6379".into()),
                component: "orders".into(),
                line: 43,
            },
        ]
    );
    assert_eq!(
        app.redis_triggers[0].effective_address(&app),
        Some("redis://localhost:6379")
    );
    assert_eq!(
        app.redis_triggers[1].effective_address(&app),
        Some("redis://other:6379")
    );

    let hello = &app.components["hello"];
    assert_eq!(
        hello.allowed_outbound_hosts,
        [
            "https://{{ host }}",
            "http://legacy.example.com",
            "https://legacy.example.com"
        ]
    );
    assert_eq!(
        hello.files,
        [
            FileMount {
                source: base.join("static"),
                destination: "/".into()
            },
            FileMount {
                source: base.join("README.md"),
                destination: "/README.md".into()
            },
        ]
    );
    assert_eq!(hello.key_value_stores, ["default", "my_store"]);
    assert_eq!(hello.sqlite_databases, ["default"]);
    assert_eq!(hello.variables["token"], "{{ token }}");
    assert_eq!(hello.environment["RUST_LOG"], "debug");
    assert_eq!(
        hello.build,
        Some(Build {
            command: "npm install && npm run build".into(),
            workdir: base.to_path_buf(),
            watch: vec!["src/**/*".into()],
        })
    );
    assert_eq!(hello.limits, Limits::default());
}

/// Writes a spin.toml (all `*.wasm` it names exist) and returns the load error.
fn spin_err(text: &str) -> skiff_manifest::ManifestError {
    let f = Fixture::new();
    f.file("spin.toml", text).file("a.wasm", "");
    let e = f.load_err();
    assert_eq!(e.file, f.path().join("spin.toml"));
    e
}

const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"test\"\n";

/// A Spin manifest v1 loads as Spin 2 reads it: the app's trigger and
/// each component's own `[component.trigger]` become v2 triggers, ids
/// kebab-case, `config` the component's variables, the HTTP `base` a
/// prefix of every route; a component without `allowed_outbound_hosts`
/// may reach any database, as v1 allowed.
#[test]
fn spin_v1_http_app_loads_as_v2() {
    let f = Fixture::new();
    f.file("hello.wasm", "").file("static/a.txt", "a").file(
        "spin.toml",
        r#"spin_manifest_version = "1"
name = "old-app"
version = "1.2.0"
authors = ["Ann"]
trigger = { type = "http", base = "/api" }

[variables]
greeting = { default = "hi" }

[[component]]
id = "Hello_World"
source = "hello.wasm"
allowed_http_hosts = ["example.com"]
environment = { MODE = "v1" }
files = ["static/*"]
key_value_stores = ["default"]
[component.trigger]
route = "/hello/..."
executor = { type = "spin" }
[component.config]
message = "{{ greeting }}"

[[component]]
id = "bare"
source = "hello.wasm"
allowed_outbound_hosts = ["https://api.example.com"]
[component.trigger]
route = "/"
"#,
    );
    let app = skiff_manifest::load(f.path()).unwrap();
    assert_eq!(app.kind, ManifestKind::Spin);
    assert_eq!(app.name, "old-app");
    assert_eq!(app.version.as_deref(), Some("1.2.0"));
    assert_eq!(app.authors, ["Ann"]);
    assert_eq!(app.variables["greeting"].default.as_deref(), Some("hi"));
    let routes: Vec<(String, String)> = app
        .http_triggers
        .iter()
        .map(|t| (t.route.to_string(), t.component.clone()))
        .collect();
    assert_eq!(
        routes,
        [
            ("/api/hello/...".to_string(), "hello-world".to_string()),
            ("/api".to_string(), "bare".to_string())
        ]
    );
    let hello = &app.components["hello-world"];
    assert_eq!(hello.environment["MODE"], "v1");
    assert_eq!(hello.variables["message"], "{{ greeting }}");
    assert_eq!(hello.key_value_stores, ["default"]);
    assert_eq!(hello.files.len(), 1);
    assert_eq!(
        hello.allowed_outbound_hosts,
        [
            "redis://*:*",
            "mysql://*:*",
            "postgres://*:*",
            "http://example.com",
            "https://example.com"
        ]
    );
    assert_eq!(
        app.components["bare"].allowed_outbound_hosts,
        ["https://api.example.com"],
        "explicit hosts only"
    );
}

/// A v1 Redis app (the older `spin_version` key too): the app's address,
/// each component's channel.
#[test]
fn spin_v1_redis_app_loads_as_v2() {
    let f = Fixture::new();
    f.file("echo.wasm", "").file(
        "spin.toml",
        r#"spin_version = "1"
name = "redis-app"
trigger = { type = "redis", address = "redis://localhost:6379" }
[[component]]
id = "echo"
source = "echo.wasm"
[component.trigger]
channel = "messages"
"#,
    );
    let app = skiff_manifest::load(f.path()).unwrap();
    assert_eq!(app.redis_address.as_deref(), Some("redis://localhost:6379"));
    assert_eq!(
        app.redis_triggers,
        [RedisTrigger {
            channel: "messages".into(),
            address: None,
            component: "echo".into(),
            line: 8,
        }]
    );
    assert!(app.http_triggers.is_empty());
}

/// Mistakes in a v1 manifest are reported at their v1 line.
#[test]
fn spin_v1_errors_point_at_the_v1_lines() {
    let head = "spin_manifest_version = \"1\"\nname = \"old\"\n";
    let e = spin_err(&format!("{head}trigger = {{ type = \"wagi\" }}\n"));
    check(
        &e,
        Some(3),
        "trigger.type",
        "the v1 trigger type `wagi` is not supported",
        Some("a v1 app's trigger is `http` or `redis`"),
    );
    let component = "[[component]]\nid = \"a\"\nsource = \"a.wasm\"\n";
    let e = spin_err(&format!(
        "{head}trigger = {{ type = \"http\" }}\n{component}sorce = \"x\"\n[component.trigger]\nroute = \"/\"\n"
    ));
    assert_eq!(e.line, Some(7), "{e}");
    assert_eq!(e.key.as_deref(), Some("component[0].sorce"), "{e}");
    let e = spin_err(&format!(
        "{head}trigger = {{ type = \"http\" }}\n{component}"
    ));
    check(
        &e,
        Some(4),
        "component[0].trigger",
        "component `a` has no trigger",
        Some("add `[component.trigger]` with its `route`"),
    );
    // Found after conversion: the v2 key, the v1 line.
    let e = spin_err(&format!(
        "{head}trigger = {{ type = \"http\" }}\n{}[component.trigger]\nroute = \"/\"\n",
        component.replace("a.wasm", "missing.wasm")
    ));
    assert_eq!(e.line, Some(6), "{e}");
    assert_eq!(e.key.as_deref(), Some("component.a.source"), "{e}");
    let e = spin_err("spin_version = \"2\"\n");
    assert_eq!(e.key.as_deref(), Some("spin_version"), "{e}");
    let twice = |id: &str| {
        format!(
            "[[component]]\nid = \"{id}\"\nsource = \"a.wasm\"\n[component.trigger]\nroute = \"/{id}\"\n"
        )
    };
    let e = spin_err(&format!(
        "{head}trigger = {{ type = \"http\" }}\n{}{}",
        twice("a_b"),
        twice("A-B")
    ));
    check(
        &e,
        Some(10),
        "component[1].id",
        "a second component has the id `a-b` (ids are made kebab-case)",
        None,
    );
}

#[test]
fn spin_versions_are_checked() {
    let e = spin_err("spin_manifest_version = 3\n");
    check(
        &e,
        Some(1),
        "spin_manifest_version",
        "unsupported version 3; Skiff reads Spin manifest version 2",
        None,
    );
    let e = spin_err("[application]\nname = \"x\"\n");
    check(
        &e,
        None,
        "spin_manifest_version",
        "missing `spin_manifest_version = 2`",
        Some("add `spin_manifest_version = 2` as the first line"),
    );
}

#[test]
fn wagi_executor_is_not_supported() {
    let e = spin_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\nexecutor = {{ type = \"wagi\", argv = \"x\" }}\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    check(
        &e,
        Some(7),
        "trigger.http[0].executor.type",
        "the WAGI executor is not supported",
        Some(
            "Skiff runs components that export `wasi:http/incoming-handler` (Spin SDKs build those); remove `executor` after rebuilding the component",
        ),
    );
    let e = spin_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\nexecutor = {{ type = \"cgi\" }}\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    check(
        &e,
        Some(7),
        "trigger.http[0].executor.type",
        "unknown executor type `cgi`",
        Some("expected `{ type = \"spin\" }`"),
    );
}

#[test]
fn unsupported_component_features() {
    let component = |extra: &str| {
        spin_err(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n{extra}\n"
        ))
    };
    let e = component("dependencies = { \"example:calc/adder\" = \"^1.0\" }");
    check(
        &e,
        Some(9),
        "component.a.dependencies.\"example:calc/adder\"",
        "`\"^1.0\"` names no registry",
        Some(
            "Skiff has no default registry: write `{ version = \"^1.0\", registry = \"REGISTRY\" }` (an OCI registry, e.g. `ghcr.io/OWNER`), or use `path`, `url` or `component`",
        ),
    );
    let e = component("ai_models = [\"llama2-chat\"]");
    check(
        &e,
        Some(9),
        "component.a.ai_models",
        "`ai_models` is not supported: Skiff has no serverless AI (LLM) host",
        Some("remove `ai_models` and call an inference service over HTTP instead"),
    );
    let e = spin_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n[component.a]\nsource = {{ url = \"https://example.com/a.wasm\", digest = \"sha256:00\" }}\n"
    ));
    check(
        &e,
        Some(8),
        "component.a.source",
        "only local component sources are supported",
        Some("download the .wasm file and set `source` to its path, relative to the manifest"),
    );
    let e = spin_err(&format!(
        "{HEAD}[[trigger.sqs]]\nqueue_url = \"https://sqs.example.com/q\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    check(
        &e,
        Some(4),
        "trigger.sqs",
        "trigger type `sqs` is not supported",
        Some(
            "Skiff runs `http`, `redis`, `cron` and `mqtt` triggers from a spin.toml (and `messaging` triggers from a skiff.toml)",
        ),
    );
}

#[test]
fn duplicate_routes_are_errors_in_spin_too() {
    let e = spin_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/foo/...\"\ncomponent = \"a\"\n[[trigger.http]]\nroute = \"/foo/...\"\ncomponent = {{ source = \"a.wasm\" }}\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    check(
        &e,
        Some(8),
        "trigger.http[1].route",
        "route `/foo/...` is used by component `a` (line 5) and component `http-trigger1-component` (line 8)",
        Some("each route can belong to one trigger only: change or remove one of them"),
    );
}

#[test]
fn spin_ids_may_have_uppercase_words_but_not_underscores() {
    let f = Fixture::new();
    f.file("a.wasm", "").file(
        "spin.toml",
        &format!("{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"API-v2\"\n[component.API-v2]\nsource = \"a.wasm\"\n"),
    );
    assert!(
        skiff_manifest::load(f.path())
            .unwrap()
            .components
            .contains_key("API-v2")
    );

    let e = spin_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"my_api\"\n[component.my_api]\nsource = \"a.wasm\"\n"
    ));
    check(
        &e,
        Some(7),
        "component.my_api",
        "invalid component id `my_api`: words must be separated by `-`, not `_`",
        Some(
            "component ids are lowercase letters, digits and `-`, starting with a letter, e.g. `my-api`",
        ),
    );
}

#[test]
fn redis_trigger_needs_an_address() {
    let e = spin_err(&format!(
        "{HEAD}[[trigger.redis]]\nchannel = \"orders\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    check(
        &e,
        Some(5),
        "trigger.redis[0]",
        "the redis trigger for channel `orders` has no address",
        Some(
            "set `address = \"redis://…\"` on the trigger, or `address` in [application.trigger.redis]",
        ),
    );
}

#[test]
fn messaging_is_skiff_toml_only() {
    let e = spin_err(&format!(
        "{HEAD}[[trigger.messaging]]\nsubject = \"orders\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    check(
        &e,
        Some(4),
        "trigger.messaging",
        "trigger type `messaging` is not supported in spin.toml",
        Some(
            "[[trigger.messaging]] is a skiff.toml trigger: write the manifest as a skiff.toml (`skiff_manifest_version = 1`)",
        ),
    );
    // A typo is not steered towards a type spin.toml does not have.
    let e = spin_err(&format!(
        "{HEAD}[[trigger.mesaging]]\nsubject = \"orders\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    assert_eq!(e.message, "trigger type `mesaging` is not supported");
    assert_eq!(
        e.hint.as_deref(),
        Some(
            "Skiff runs `http`, `redis`, `cron` and `mqtt` triggers from a spin.toml (and `messaging` triggers from a skiff.toml)"
        )
    );

    let e = spin_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\nmessage_brokers = [\"default\"]\n"
    ));
    check(
        &e,
        Some(9),
        "component.a.message_brokers",
        "unknown key `message_brokers`",
        Some(
            "expected one of: `source`, `description`, `files`, `exclude_files`, `environment`, `allowed_outbound_hosts`, `allowed_http_hosts`, `key_value_stores`, `sqlite_databases`, `variables`, `build`, `dependencies`, `ai_models`, `targets`, `tool`, `profile`, `dependencies_inherit_configuration`",
        ),
    );
    assert_eq!(e.column, Some(1));
}

/// Spin 3's `[component.ID.dependencies]`, in each of its forms, as the
/// model holds them: paths resolved, `component = "ID"` given that
/// component's source, inheritance from the entry or the component.
#[test]
fn component_dependencies_are_read() {
    use skiff_manifest::{DependencyName, DependencySource};
    let f = Fixture::new();
    let digest = format!("sha256:{}", "ab".repeat(32));
    f.file(
        "spin.toml",
        &format!(
            "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n\
             [component.a]\nsource = \"a.wasm\"\ndependencies_inherit_configuration = true\n\
             [component.a.dependencies]\n\
             \"example:calc/adder@1.2.0\" = {{ path = \"deps/adder.wasm\", export = \"example:calc/add@1.2.0\" }}\n\
             \"example:cache\" = {{ component = \"cache\", inherit_configuration = false }}\n\
             \"example:auth/verify\" = {{ url = \"https://example.com/auth.wasm\", digest = \"{digest}\" }}\n\
             \"my-import\" = {{ version = \"^0.3\", registry = \"ghcr.io/acme\", package = \"acme:geo\" }}\n\
             [component.cache]\nsource = \"cache.wasm\"\n"
        ),
    );
    f.file("a.wasm", "").file("cache.wasm", "");
    let missing = f.load_err();
    assert_eq!(
        missing.key.as_deref(),
        Some("component.a.dependencies.\"example:calc/adder@1.2.0\".path")
    );
    assert_eq!(missing.line, Some(11));
    assert!(missing.message.starts_with("dependency file"), "{missing}");
    f.file("a.wasm", "")
        .file("cache.wasm", "")
        .file("deps/adder.wasm", "");
    let app = skiff_manifest::load(f.path()).unwrap();
    let deps = &app.components["a"].dependencies;
    assert_eq!(deps.len(), 4);
    let by_name = |name: &str| deps.iter().find(|d| d.name.to_string() == name).unwrap();

    let adder = by_name("example:calc/adder@1.2.0");
    assert_eq!(
        adder.source,
        DependencySource::Path(f.path().join("deps/adder.wasm"))
    );
    assert_eq!(adder.export.as_deref(), Some("example:calc/add@1.2.0"));
    assert!(adder.inherit_configuration, "from the component");
    assert!(adder.name.matches("example:calc/adder@1.2.0"));
    assert!(!adder.name.matches("example:calc/adder@1.3.0"));

    let cache = by_name("example:cache");
    assert_eq!(
        cache.source,
        DependencySource::Component {
            id: "cache".into(),
            source: f.path().join("cache.wasm")
        }
    );
    assert!(!cache.inherit_configuration, "the entry's own setting wins");
    assert_eq!(cache.key, "component.a.dependencies.\"example:cache\"");
    assert_eq!(cache.line, 12);

    let auth = by_name("example:auth/verify");
    assert_eq!(
        auth.source,
        DependencySource::Url {
            url: "https://example.com/auth.wasm".into(),
            digest
        }
    );
    assert!(auth.local_path().is_none(), "fetched later");

    let geo = by_name("my-import");
    assert_eq!(geo.name, DependencyName::Plain("my-import".into()));
    assert_eq!(
        geo.source,
        DependencySource::Registry {
            version: "^0.3".into(),
            registry: Some("ghcr.io/acme".into()),
            package: Some("acme:geo".into()),
        }
    );
}

/// `static_response` triggers: read with their defaults; errors at the key.
#[test]
fn static_responses_are_read_and_checked() {
    let f = Fixture::new();
    f.file(
        "spin.toml",
        &format!(
            "{HEAD}[[trigger.http]]\nroute = \"/old/...\"\n\
             static_response = {{ status_code = 308, headers = {{ location = \"/new\" }}, body = \"moved\" }}\n\
             [[trigger.http]]\nroute = \"/ok\"\nstatic_response = {{}}\n"
        ),
    );
    let app = skiff_manifest::load(f.path()).unwrap();
    let moved = app.http_triggers[0].static_response.as_ref().unwrap();
    assert_eq!(moved.status, 308);
    assert_eq!(
        moved.headers,
        [("location".to_string(), "/new".to_string())]
    );
    assert_eq!(moved.body.as_deref(), Some("moved"));
    assert_eq!(app.http_triggers[0].component, "");
    let ok = app.http_triggers[1].static_response.as_ref().unwrap();
    assert_eq!((ok.status, ok.body.as_deref()), (200, None));
    assert!(app.components.is_empty());

    let trigger = |extra: &str| {
        spin_err(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/\"\n{extra}\n[component.a]\nsource = \"a.wasm\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"a\"\n"
        ))
    };
    let e = trigger("component = \"a\"\nstatic_response = { status_code = 204 }");
    check(
        &e,
        Some(7),
        "trigger.http[0].static_response",
        "a trigger has `component` or `static_response`, not both",
        Some("remove one of them"),
    );
    let e = trigger("static_response = { status_code = 42 }");
    assert_eq!(
        e.key.as_deref(),
        Some("trigger.http[0].static_response.status_code"),
        "{e}"
    );
    assert_eq!(e.message, "42 is not an HTTP status code (100 to 999)");
    let e = trigger("static_response = { headers = { \"bad name\" = \"x\" } }");
    assert_eq!(e.message, "`bad name` is not an HTTP header name", "{e}");
    let e = trigger("static_response = { stauts_code = 200 }");
    assert_eq!(e.message, "unknown key `stauts_code`", "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `status_code`?"));
}
