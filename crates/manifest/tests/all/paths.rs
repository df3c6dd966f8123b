//! Finding the manifest: a file, or a directory holding skiff.toml (preferred) or spin.toml.

use skiff_manifest::{ManifestKind, resolve_manifest_path};

use crate::Fixture;

const SKIFF: &str = "skiff_manifest_version = 1\n[application]\nname = \"from-skiff\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n";
const SPIN: &str = "spin_manifest_version = 2\n[application]\nname = \"from-spin\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n";

#[test]
fn directory_prefers_skiff_toml() {
    let f = Fixture::new();
    f.file("a.wasm", "").file("spin.toml", SPIN);
    assert_eq!(
        resolve_manifest_path(f.path()).unwrap(),
        f.path().join("spin.toml")
    );
    assert_eq!(
        skiff_manifest::load(f.path()).unwrap().kind,
        ManifestKind::Spin
    );

    f.file("skiff.toml", SKIFF);
    assert_eq!(
        resolve_manifest_path(f.path()).unwrap(),
        f.path().join("skiff.toml")
    );
    let app = skiff_manifest::load(f.path()).unwrap();
    assert_eq!(
        (app.kind, app.name.as_str()),
        (ManifestKind::Skiff, "from-skiff")
    );

    // An explicit file wins, whatever its name; the version key decides the format.
    f.file("other.toml", SPIN);
    let app = skiff_manifest::load(&f.path().join("other.toml")).unwrap();
    assert_eq!(app.kind, ManifestKind::Spin);
    assert_eq!(app.manifest_path, f.path().join("other.toml"));
}

#[test]
fn empty_directory() {
    let f = Fixture::new();
    let e = resolve_manifest_path(f.path()).unwrap_err();
    assert_eq!(e.file, f.path());
    assert_eq!(
        e.message,
        format!("no skiff.toml or spin.toml in {}", f.path().display())
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("create one, or pass the manifest file's path")
    );
    assert_eq!((e.line, &e.key), (None, &None));
    assert_eq!(skiff_manifest::load(f.path()).unwrap_err(), e);
}

#[test]
fn missing_file() {
    let f = Fixture::new();
    let path = f.path().join("nope.toml");
    let e = resolve_manifest_path(&path).unwrap_err();
    assert_eq!(e.file, path);
    assert_eq!(e.to_string(), format!("{}: file not found", path.display()));
}

#[test]
fn relative_paths_become_absolute() {
    let f = Fixture::new();
    f.file("a.wasm", "").file("skiff.toml", SKIFF);
    let app = skiff_manifest::load(&f.path().join(".")).unwrap();
    assert_eq!(app.base_dir, f.path());
    assert_eq!(app.components["a"].source, f.path().join("a.wasm"));
}
