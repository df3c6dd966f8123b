//! `skiff compile FILE.wasm`: precompile a component into the AOT cache.

use std::path::PathBuf;

use anyhow::{Context, Result};
use skiff_engine::{EngineOptions, SkiffEngine};

/// Arguments of `skiff compile`.
#[derive(clap::Args)]
pub struct CompileArgs {
    /// The component to precompile.
    pub file: PathBuf,
    /// Also write the compiled artifact here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Compiles `args.file` into the cache and reports where it went.
///
/// The code is made for the engine `skiff up` builds for an app of this
/// component: with concurrency support only if it uses an interface of `async
/// func`s ([`skiff_engine::needs_concurrency`]). (In an app where another
/// component needs it, a component that does not is compiled again.)
pub fn compile(args: CompileArgs) -> Result<()> {
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
