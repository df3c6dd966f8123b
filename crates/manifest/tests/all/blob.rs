//! The component key `blob_stores` (skiff.toml only): the one blob store a
//! component may use. `skiff_err` prepends three lines, so the text given
//! starts at line 4.

use skiff_manifest::App;

use crate::{Fixture, SKIFF_HEAD, check, skiff_err};

/// An HTTP trigger (lines 4–6) for component `api` (from line 7).
const API: &str = "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\n[component.api]\nsource = \"api.wasm\"\n";

/// Loads `SKIFF_HEAD` + `rest` (with `api.wasm` present).
fn skiff_ok(rest: &str) -> (Fixture, App) {
    let f = Fixture::new();
    f.file("api.wasm", "")
        .file("skiff.toml", &format!("{SKIFF_HEAD}{rest}"));
    let app = skiff_manifest::load(f.path()).unwrap_or_else(|e| panic!("{e}"));
    (f, app)
}

#[test]
fn one_label_is_the_grant() {
    let (_f, app) = skiff_ok(&format!("{API}blob_stores = [\"default\"]\n"));
    assert_eq!(app.components["api"].blob_store.as_deref(), Some("default"));

    // A label no runtime config names is fine: it is the embedded default.
    let (_f, app) = skiff_ok(&format!("{API}blob_stores = [\"media_files\"]\n"));
    assert_eq!(
        app.components["api"].blob_store.as_deref(),
        Some("media_files")
    );

    // No key, or an empty list: no grant.
    let (_f, app) = skiff_ok(API);
    assert_eq!(app.components["api"].blob_store, None);
    let (_f, app) = skiff_ok(&format!("{API}blob_stores = []\n"));
    assert_eq!(app.components["api"].blob_store, None);

    // Inline components take it too.
    let (_f, app) = skiff_ok(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = { source = \"api.wasm\", blob_stores = [\"default\"] }\n",
    );
    let inline = &app.components["http-trigger1-component"];
    assert_eq!(inline.blob_store.as_deref(), Some("default"));
}

#[test]
fn two_labels_are_refused() {
    let e = skiff_err(&format!("{API}blob_stores = [\"default\", \"media\"]\n"));
    check(
        &e,
        Some(9),
        "component.api.blob_stores[1]",
        "a component has one blob store, so `blob_stores` names one label; found a second, `media`",
        Some(
            "`wasi:blobstore` cannot choose a store: every container the component opens lives in its one store; keep one, e.g. `blob_stores = [\"default\"]`",
        ),
    );
    assert!(
        e.to_string()
            .contains("skiff.toml:9:27: `component.api.blob_stores[1]`"),
        "{e}"
    );
}

#[test]
fn bad_values() {
    check(
        &skiff_err(&format!("{API}blob_stores = [\"b@d\"]\n")),
        Some(9),
        "component.api.blob_stores[0]",
        "invalid label `b@d`: expected kebab-case or snake_case (letters, digits, and `-` or `_`), starting with a letter",
        None,
    );
    check(
        &skiff_err(&format!("{API}blob_stores = \"default\"\n")),
        Some(9),
        "component.api.blob_stores",
        "expected an array of strings, found a string",
        Some("write a list: `blob_stores = [\"default\"]`"),
    );
    check(
        &skiff_err(&format!("{API}blob_store = [\"default\"]\n")),
        Some(9),
        "component.api.blob_store",
        "unknown key `blob_store`",
        Some("did you mean `blob_stores`?"),
    );
}

#[test]
fn spin_toml_refuses_it() {
    let f = Fixture::new();
    f.file("api.wasm", "").file(
        "spin.toml",
        &format!(
            "spin_manifest_version = 2\n[application]\nname = \"test\"\n{API}blob_stores = [\"default\"]\n"
        ),
    );
    let e = f.load_err();
    check(
        &e,
        Some(9),
        "component.api.blob_stores",
        "unknown key `blob_stores`",
        Some(
            "expected one of: `source`, `description`, `files`, `exclude_files`, `environment`, `allowed_outbound_hosts`, `allowed_http_hosts`, `key_value_stores`, `sqlite_databases`, `variables`, `build`, `dependencies`, `ai_models`, `targets`, `tool`, `profile`, `dependencies_inherit_configuration`",
        ),
    );
}
