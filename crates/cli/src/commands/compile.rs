//! `skiff compile FILE.wasm | APP`: precompile a component, or every component
//! of an app, into the AOT cache.

use std::path::PathBuf;

use anyhow::{Context, Result};
use skiff_engine::{EngineOptions, SkiffEngine};

/// Arguments of `skiff compile`.
#[derive(clap::Args)]
pub struct CompileArgs {
    /// The component to precompile, or an app (its directory, `skiff.toml` or
    /// `spin.toml`) to precompile every component of, for the engine `skiff up`
    /// builds for that app.
    pub file: PathBuf,
    /// Also write the compiled artifact here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Compiles `args.file` into the cache and reports where it went.
///
/// A single file's code is made for the engine `skiff up` builds for an app of
/// this component alone: with concurrency support only if it uses an interface
/// of `async func`s ([`skiff_engine::needs_concurrency`]). An app's components
/// are compiled for the engine `skiff up` builds for that app
/// ([`skiff_runtime::engine_options`]), so one that needs no concurrency is
/// still a cache hit in an app where another does.
pub fn compile(args: CompileArgs) -> Result<()> {
    let is_app = args.file.is_dir()
        || args
            .file
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"));
    if is_app {
        anyhow::ensure!(
            args.output.is_none(),
            "`--output` takes one component; `{}` is an app",
            args.file.display()
        );
        return compile_app(&args.file);
    }
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("could not read `{}`", args.file.display()))?;
    skiff_engine::detect_kind(&bytes)
        .with_context(|| format!("`{}` is not a WebAssembly file", args.file.display()))?;
    let engine = SkiffEngine::new(EngineOptions {
        pooling: false,
        concurrency: skiff_engine::needs_concurrency(&bytes),
        ..EngineOptions::default()
    })?;
    let cache = engine
        .cache()
        .context("no cache directory: set SKIFF_CACHE_DIR, XDG_CACHE_HOME or HOME")?;
    let (entry, outcome) = cache
        .precompile(engine.engine(), &bytes)
        .with_context(|| format!("could not compile `{}`", args.file.display()))?;
    let what = match outcome {
        skiff_engine::CacheOutcome::Hit => "already cached",
        _ => "compiled",
    };
    println!("{what}: {} -> {}", args.file.display(), entry.display());
    if let Some(out) = args.output {
        std::fs::copy(&entry, &out)
            .with_context(|| format!("could not write `{}`", out.display()))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// Compiles every component of the app at `path` as `skiff up` would load it.
fn compile_app(path: &std::path::Path) -> Result<()> {
    let app = super::load_app(path)?;
    let cache_dir = super::cache_dir(false)
        .context("no cache directory: set SKIFF_CACHE_DIR, XDG_CACHE_HOME or HOME")?;
    let options = skiff_runtime::engine_options(
        &app,
        Some(skiff_runtime::ServeConfig::DEFAULT_MAX_INSTANCES),
        Some(&cache_dir),
    );
    let engine = SkiffEngine::new(options)?;
    let mut done = std::collections::BTreeSet::new();
    for spec in app.components.values() {
        if spec.dependencies.is_empty() && !done.insert(&spec.source) {
            continue;
        }
        let loaded =
            skiff_runtime::load_component(&engine, &spec.id, &spec.source, &spec.dependencies)
                .with_context(|| format!("could not compile component `{}`", spec.id))?;
        let what = match loaded.cache {
            skiff_engine::CacheOutcome::Hit => "already cached",
            _ => "compiled",
        };
        println!("{what}: `{}` ({})", spec.id, spec.source.display());
    }
    Ok(())
}
