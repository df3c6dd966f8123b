//! Loads an application manifest — Skiff's `skiff.toml` or Spin's `spin.toml`
//! (manifest v2) — into one validated [`App`].
//!
//! Both formats share Spin v2's tables and keys (`[application]`, `[variables]`,
//! `[[trigger.http]]`, `[[trigger.redis]]`, `[component.ID]` …) and the
//! `[[trigger.cron]]` of Spin's cron trigger plugin (its `cron_expression` is
//! checked at load, see [`cron`]) and the `[[trigger.mqtt]]` of Spin's MQTT
//! trigger plugin (topic filters and QoS checked, see [`mqtt`]); skiff.toml adds
//! `[application.limits]`, `[component.ID.limits]`, `[[trigger.messaging]]` and
//! the component keys `message_brokers` and `blob_stores`. Loading is strict: unknown
//! keys, wrong types, bad routes or ids, dangling references, unused components and
//! missing files are all errors, and every [`ManifestError`] names the file, line,
//! column and dotted key, often with a hint:
//!
//! ```text
//! /app/skiff.toml:12:1: `component.api.allowed_outbound_host`: unknown key `allowed_outbound_host`
//!   hint: did you mean `allowed_outbound_hosts`?
//! ```
//!
//! All paths in the [`App`] are absolute. This crate implements no WIT
//! interface; it only describes what the engine and triggers will run.
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("hello.wasm"), b"\0asm")?;
//! std::fs::write(
//!     dir.path().join("skiff.toml"),
//!     r#"
//! skiff_manifest_version = 1
//!
//! [application]
//! name = "hello"
//!
//! [[trigger.http]]
//! route = "/..."
//! component = "hello"
//!
//! [component.hello]
//! source = "hello.wasm"
//! [component.hello.limits]
//! timeout = "5s"
//! "#,
//! )?;
//!
//! let app = skiff_manifest::load(dir.path())?;
//! assert_eq!(app.name, "hello");
//! let hello = &app.components["hello"];
//! assert_eq!(hello.limits.timeout, std::time::Duration::from_secs(5));
//! assert!(hello.source.is_absolute());
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
// `ManifestError` is a plain struct with public fields that callers read; it is
// built once per failed load, so its size does not matter.
#![allow(clippy::result_large_err)]

mod assemble;
mod component;
pub mod cron;
pub mod dependency;
mod error;
mod files;
mod limits;
pub mod model;
pub mod mqtt;
mod parse;
mod raw;
mod route;
pub mod single;
mod skiff;
mod span;
mod spin;
mod spin_v1;
mod subject;
mod suggest;
mod trigger;
mod trigger_mqtt;
mod units;
mod validate;

use std::path::{Path, PathBuf};

use toml::de::DeTable;

pub use dependency::{Dependency, DependencyName, DependencySource};
pub use error::ManifestError;
pub use model::{
    App, Build, Component, CronTrigger, FileMount, HttpTrigger, Limits, ManifestKind,
    MessagingTrigger, MqttSettings, MqttTrigger, RedisTrigger, Route, StaticResponse, Variable,
};
pub use units::{parse_duration, parse_size};

/// The file names looked for in a directory, in order of preference.
pub const MANIFEST_FILE_NAMES: [&str; 2] = ["skiff.toml", "spin.toml"];

/// Loads and fully validates the manifest at `path` (a manifest file, or a directory
/// holding `skiff.toml` or else `spin.toml`), including that every component's
/// `source` file exists. A Wasm file at `path` loads as an app of that one
/// component, named after the file, at route `/...` and granted nothing
/// ([`single::component_manifest`]).
pub fn load(path: &Path) -> Result<App, ManifestError> {
    let app = load_with(path, true)?;
    app.check_sources()?;
    Ok(app)
}

/// Like [`load`], for `skiff build`: component `source` files, `files` globs and
/// mount sources need not exist yet, since a build may create them (such `files`
/// entries are left out of [`Component::files`]; load again after building).
pub fn load_for_build(path: &Path) -> Result<App, ManifestError> {
    load_with(path, false)
}

/// Finds the manifest file for `path`: `path` itself if it is a file, else
/// `skiff.toml` or (failing that) `spin.toml` in the directory `path`. The result
/// is absolute.
pub fn resolve_manifest_path(path: &Path) -> Result<PathBuf, ManifestError> {
    let meta = std::fs::metadata(path).map_err(|e| ManifestError::io(path, &e))?;
    let file = if meta.is_dir() {
        MANIFEST_FILE_NAMES
            .iter()
            .map(|name| path.join(name))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| {
                ManifestError::new(
                    path,
                    format!("no skiff.toml or spin.toml in {}", path.display()),
                )
                .with_hint("create one, or pass the manifest file's path")
            })?
    } else {
        path.to_path_buf()
    };
    file.canonicalize()
        .map_err(|e| ManifestError::io(&file, &e))
}

impl App {
    /// Checks that every component's `source` file exists (the part of [`load`]
    /// that [`load_for_build`] skips). Errors name the manifest line and the key
    /// `component.ID.source`.
    pub fn check_sources(&self) -> Result<(), ManifestError> {
        self.check_sources_with(false)
    }

    /// Like [`App::check_sources`], right after the build commands ran: a
    /// missing `source` of a component with a build command means the command
    /// wrote its output somewhere else, and the hint says so.
    pub fn check_built_sources(&self) -> Result<(), ManifestError> {
        self.check_sources_with(true)
    }

    fn check_sources_with(&self, built: bool) -> Result<(), ManifestError> {
        let mut components: Vec<&Component> = self.components.values().collect();
        components.sort_by_key(|c| c.source_line);
        for c in components {
            let problem = match std::fs::metadata(&c.source) {
                Ok(meta) if meta.is_file() => continue,
                Ok(_) => format!(
                    "source {} is a directory, not a .wasm file",
                    c.source.display()
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    format!("source file {} does not exist", c.source.display())
                }
                Err(e) => format!("could not read source file {}: {e}", c.source.display()),
            };
            let mut error = ManifestError::new(&self.manifest_path, problem)
                .with_line(c.source_line)
                .with_key(format!("{}.source", c.key));
            if let Some(build) = &c.build {
                error = error.with_hint(match built {
                    false => format!("run `skiff build` first (it runs `{}`)", build.command),
                    true => format!(
                        "`{}` succeeded in {} but did not write this file; `source` must name \
                         the file the build writes (a `build.target-dir` in a cargo config \
                         moves cargo's output elsewhere)",
                        build.command,
                        build.workdir.display()
                    ),
                });
            }
            return Err(error);
        }
        // Dependencies from files (the sources of `component = "ID"` ones
        // were checked above).
        let mut dependencies: Vec<&Dependency> = self
            .components
            .values()
            .flat_map(|c| &c.dependencies)
            .collect();
        dependencies.sort_by_key(|d| d.line);
        for d in dependencies {
            let DependencySource::Path(path) = &d.source else {
                continue;
            };
            if !path.is_file() {
                return Err(ManifestError::new(
                    &self.manifest_path,
                    format!("dependency file {} does not exist", path.display()),
                )
                .with_line(d.line)
                .with_key(format!("{}.path", d.key)));
            }
        }
        Ok(())
    }
}

fn load_with(path: &Path, strict: bool) -> Result<App, ManifestError> {
    let manifest_path = resolve_manifest_path(path)?;
    let base_dir = manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let bytes = std::fs::read(&manifest_path).map_err(|e| ManifestError::io(&manifest_path, &e))?;
    let text = if bytes.starts_with(single::WASM_MAGIC) {
        // A Wasm file: an app of that one component.
        let name = manifest_path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let source = manifest_path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        single::component_manifest(&single::component_id(&name), &source)
    } else {
        String::from_utf8(bytes).map_err(|_| {
            ManifestError::new(
                &manifest_path,
                "this file is neither a manifest (TOML text) nor a Wasm component or module",
            )
            .with_hint("pass a skiff.toml or spin.toml, the directory holding one, or a .wasm file")
        })?
    };
    let mut ctx = raw::Ctx::new(&manifest_path, &text);
    let root = DeTable::parse(&text).map_err(|e| {
        let mut error = ManifestError::new(&manifest_path, e.message().trim().to_string());
        if let Some(span) = e.span() {
            let loc = ctx.loc(&span);
            error = error.with_position(loc.line, loc.column);
        }
        error
    })?;
    let span = root.span();
    let root = root.get_ref();
    let (schema, spin_v1) = detect_format(&ctx, root)?;
    let converted;
    let root = if spin_v1 {
        converted = spin_v1::to_v2(&mut ctx, root, span);
        ctx.finish_phase()?;
        &converted
    } else {
        root
    };
    let draft = parse::parse_document(&mut ctx, schema, &base_dir, root);
    ctx.finish_phase()?;
    let app = assemble::assemble(
        &mut ctx,
        schema,
        draft,
        manifest_path.clone(),
        base_dir,
        strict,
    );
    ctx.finish_phase()?;
    Ok(app)
}

/// Decides skiff.toml or spin.toml from the version key (or, when there is none,
/// the file name) and checks the version; returns the schema and whether
/// the manifest is Spin's v1 (read as v2, see `spin_v1`).
fn detect_format(
    ctx: &raw::Ctx<'_>,
    root: &raw::Table<'_>,
) -> Result<(&'static parse::Schema, bool), ManifestError> {
    let is_skiff = root.contains_key(skiff::VERSION_KEY);
    let is_spin = root.contains_key(spin::VERSION_KEY) || root.contains_key(spin::V1_VERSION_KEY);
    let named_spin = ctx.file.file_name().is_some_and(|n| n == "spin.toml");
    match (is_skiff, is_spin) {
        (true, true) => Err(ManifestError::new(
            ctx.file,
            "the manifest has both `skiff_manifest_version` and `spin_manifest_version`",
        )
        .with_key(skiff::VERSION_KEY)
        .with_hint("keep one: `skiff_manifest_version = 1` for skiff.toml, `spin_manifest_version = 2` for spin.toml")),
        (true, false) => skiff::check_version(ctx, root).map(|()| (&skiff::SCHEMA, false)),
        (false, true) => spin::check_version(ctx, root).map(|v| (&spin::SCHEMA, v == 1)),
        (false, false) if named_spin => {
            spin::check_version(ctx, root).map(|v| (&spin::SCHEMA, v == 1))
        }
        (false, false) => skiff::check_version(ctx, root).map(|()| (&skiff::SCHEMA, false)),
    }
}
