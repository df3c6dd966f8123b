//! `files` entries: globs expanded to files, `{ source, destination }` mounts, and their errors.

use skiff_manifest::FileMount;

use crate::{Fixture, check};

/// A skiff.toml whose component has `files = <files>` on line 9.
fn manifest(files: &str) -> String {
    format!(
        "skiff_manifest_version = 1\n[application]\nname = \"t\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"web\"\n[component.web]\nsource = \"web.wasm\"\nfiles = {files}\n"
    )
}

fn fixture(files: &str) -> Fixture {
    let f = Fixture::new();
    f.file("skiff.toml", &manifest(files))
        .file("web.wasm", "")
        .file("static/a.txt", "")
        .file("static/sub/b.txt", "")
        .file("index.html", "");
    f
}

#[test]
fn globs_expand_to_files_mounted_at_their_relative_paths() {
    let f = fixture("[\"static/**/*\", \"./index.html\", \"*.html\"]");
    let app = skiff_manifest::load(f.path()).unwrap();
    let base = f.path();
    assert_eq!(
        app.components["web"].files,
        [
            FileMount {
                source: base.join("static/a.txt"),
                destination: "/static/a.txt".into()
            },
            FileMount {
                source: base.join("static/sub/b.txt"),
                destination: "/static/sub/b.txt".into()
            },
            // `./index.html` and `*.html` name the same file: it is mounted once.
            FileMount {
                source: base.join("index.html"),
                destination: "/index.html".into()
            },
        ]
    );
}

#[test]
fn mounts_keep_directories_and_may_come_from_outside() {
    let outside = Fixture::new();
    outside.file("shared/x.txt", "");
    let f = fixture(&format!(
        "[{{ source = \"static\", destination = \"/assets/\" }}, {{ source = \"{}\", destination = \"/shared\" }}, {{ source = \"index.html\", destination = \"/www/index.html\" }}]",
        outside.path().join("shared").display()
    ));
    let app = skiff_manifest::load(f.path()).unwrap();
    assert_eq!(
        app.components["web"].files,
        [
            FileMount {
                source: f.path().join("static"),
                destination: "/assets".into()
            },
            FileMount {
                source: outside.path().join("shared"),
                destination: "/shared".into()
            },
            FileMount {
                source: f.path().join("index.html"),
                destination: "/www/index.html".into()
            },
        ]
    );
}

#[test]
fn exclude_files_filters_glob_matches() {
    let f = Fixture::new();
    f.file(
        "skiff.toml",
        &format!(
            "{}exclude_files = [\"static/sub/**\"]\n",
            manifest("[\"static/**/*\"]")
        ),
    )
    .file("web.wasm", "")
    .file("static/a.txt", "")
    .file("static/sub/b.txt", "");
    let app = skiff_manifest::load(f.path()).unwrap();
    let destinations: Vec<_> = app.components["web"]
        .files
        .iter()
        .map(|m| m.destination.as_str())
        .collect();
    assert_eq!(destinations, ["/static/a.txt"]);
}

#[test]
fn glob_matching_nothing() {
    let f = fixture("[\"public/**/*\"]");
    check(
        &f.load_err(),
        Some(9),
        "component.web.files[0]",
        "file pattern `public/**/*` matches no files",
        Some(&format!("patterns are relative to {}", f.path().display())),
    );
    // Before a build, which may create them, that is fine.
    let app = skiff_manifest::load_for_build(f.path()).unwrap();
    assert!(app.components["web"].files.is_empty());
}

#[test]
fn glob_naming_a_directory() {
    let f = fixture("[\"static\"]");
    check(
        &f.load_err(),
        Some(9),
        "component.web.files[0]",
        "file pattern `static` matches only directories",
        Some(
            "use \"static/**/*\" to include the files inside, or `{ source = \"static\", destination = \"/static\" }`",
        ),
    );
}

#[test]
fn glob_outside_the_manifest_dir() {
    let f = fixture("[\"../secrets/*\"]");
    check(
        &f.load_err(),
        Some(9),
        "component.web.files[0]",
        "file pattern `../secrets/*` is outside the manifest directory",
        Some(&format!(
            "patterns are relative to {}; mount outside files with `{{ source = \"../secrets/*\", destination = \"/…\" }}`",
            f.path().display()
        )),
    );
}

#[test]
fn invalid_glob() {
    let f = fixture("[\"static/[a\"]");
    let e = f.load_err();
    assert_eq!(e.key.as_deref(), Some("component.web.files[0]"));
    assert!(
        e.message.starts_with("invalid glob pattern `static/[a`: "),
        "{e}"
    );
}

#[test]
fn missing_mount_source() {
    let f = fixture("[{ source = \"dist\", destination = \"/\" }]");
    check(
        &f.load_err(),
        Some(9),
        "component.web.files[0].source",
        &format!(
            "`dist` does not exist ({})",
            f.path().join("dist").display()
        ),
        Some(&format!("`source` is relative to {}", f.path().display())),
    );
    assert!(skiff_manifest::load_for_build(f.path()).is_ok());
}

#[test]
fn destination_must_be_absolute() {
    let f = fixture("[{ source = \"static\", destination = \"assets\" }]");
    check(
        &f.load_err(),
        Some(9),
        "component.web.files[0].destination",
        "destination `assets` must start with `/`",
        Some("a destination is an absolute path in the guest, e.g. \"/\" or \"/assets\""),
    );
}

#[test]
fn bad_entries() {
    let f = fixture("[{ source = \"static\" }]");
    check(
        &f.load_err(),
        Some(9),
        "component.web.files[0].destination",
        "missing required key `destination`",
        None,
    );
    let f = fixture("[{ source = \"static\", destination = \"/\", mode = \"rw\" }]");
    check(
        &f.load_err(),
        Some(9),
        "component.web.files[0].mode",
        "unknown key `mode`",
        Some("expected one of: `source`, `destination`"),
    );
    let f = fixture("[1]");
    check(
        &f.load_err(),
        Some(9),
        "component.web.files[0]",
        "expected a glob pattern string or a `{ source = \"…\", destination = \"/…\" }` table, found an integer",
        None,
    );
}
