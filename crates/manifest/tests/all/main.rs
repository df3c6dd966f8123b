//! Integration tests for skiff-manifest: real manifests and files in temporary directories.

mod blob;
mod cron;
mod errors;
mod files;
mod messaging;
mod mqtt;
mod paths;
mod skiff;
mod spin;

use std::path::{Path, PathBuf};

use skiff_manifest::ManifestError;

/// A temporary app directory.
pub struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Default for Fixture {
    fn default() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonicalize");
        Fixture { _dir: dir, root }
    }
}

impl Fixture {
    pub fn new() -> Self {
        Self::default()
    }

    /// The (canonical) app directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Writes `contents` to `rel`, creating parent directories.
    pub fn file(&self, rel: &str, contents: &str) -> &Self {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    pub fn dir(&self, rel: &str) -> &Self {
        std::fs::create_dir_all(self.root.join(rel)).unwrap();
        self
    }

    /// Loads the app directory, expecting an error.
    pub fn load_err(&self) -> ManifestError {
        match skiff_manifest::load(&self.root) {
            Ok(app) => panic!("expected an error, loaded {app:#?}"),
            Err(e) => e,
        }
    }
}

/// The first lines of a valid skiff.toml; the next line is line 4.
pub const SKIFF_HEAD: &str = "skiff_manifest_version = 1\n[application]\nname = \"test\"\n";

/// Loads `SKIFF_HEAD` + `rest` (with `api.wasm` present), expecting an error.
pub fn skiff_err(rest: &str) -> ManifestError {
    let f = Fixture::new();
    f.file("api.wasm", "")
        .file("skiff.toml", &format!("{SKIFF_HEAD}{rest}"));
    let e = f.load_err();
    assert_eq!(e.file, f.path().join("skiff.toml"), "{e}");
    e
}

/// Asserts every part of an error.
#[track_caller]
pub fn check(e: &ManifestError, line: Option<usize>, key: &str, message: &str, hint: Option<&str>) {
    assert_eq!(e.message, message, "message of: {e}");
    assert_eq!(e.key.as_deref(), Some(key), "key of: {e}");
    assert_eq!(e.line, line, "line of: {e}");
    assert_eq!(e.hint.as_deref(), hint, "hint of: {e}");
}
