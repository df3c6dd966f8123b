//! `skiff pull REF`, and resolving `skiff up REF` / `--from REF` to a local app.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use skiff_oci::{ArtifactKind, Cache, Pulled, Registry, RegistryOptions};

use super::up::UpArgs;

/// Arguments of `skiff pull`.
#[derive(clap::Args)]
pub struct PullArgs {
    /// What to pull: `registry/repository:tag` or `registry/repository@sha256:…`.
    pub reference: String,
    /// Talk plain HTTP to the registry (one on loopback or a private network).
    #[arg(long)]
    pub insecure: bool,
}

/// Pulls into the cache and prints where it is.
pub fn pull(args: PullArgs) -> Result<()> {
    let pulled = pull_reference(&args.reference, args.insecure)?;
    println!("Pulled {}", args.reference);
    println!("Digest: {}", pulled.digest);
    println!("Path: {}", pulled.dir.display());
    if let Some(component) = &pulled.component {
        println!("Component: {}", component.display());
    }
    Ok(())
}

/// Pulls `text` into Skiff's cache (`$SKIFF_CACHE_DIR/oci`, …).
pub fn pull_reference(text: &str, insecure: bool) -> Result<Pulled> {
    let reference = skiff_oci::parse_reference(text)?;
    let cache_dir = skiff_engine::default_cache_dir()
        .context("no cache directory for pulled artifacts: set SKIFF_CACHE_DIR or HOME")?;
    let cache = Cache::new(cache_dir);
    let registry = Registry::new(&reference, &registry_options(insecure))?;
    runtime()?
        .block_on(registry.pull(&reference, &cache))
        .with_context(|| format!("could not pull `{}`", reference.whole()))
}

/// `skiff up`: `--from` a local path serves it as PATH. When the app comes
/// from a registry (`--from REF`, or a PATH that
/// does not exist and reads as `host/repository…`), pulls it and points
/// `args.path` at the materialized app; its state goes to `./.skiff` unless
/// `--state-dir` says otherwise.
pub fn resolve_up_source(args: &mut UpArgs) -> Result<()> {
    let path_text = args.path.to_string_lossy().into_owned();
    let reference = match &args.from {
        Some(reference) => {
            if path_text != "." {
                bail!("give either a PATH (`{path_text}`) or `--from {reference}`, not both");
            }
            // A local app or Wasm file, as Spin's `--from` takes.
            if std::path::Path::new(reference).exists() {
                args.path = reference.into();
                return Ok(());
            }
            reference.clone()
        }
        None if !args.path.exists() && skiff_oci::looks_like_remote_reference(&path_text) => {
            path_text
        }
        None => return Ok(()),
    };
    if args.build {
        bail!("`--build` cannot build `{reference}`: it comes from a registry, already built");
    }
    if args.watch {
        bail!(
            "`--watch` cannot watch `{reference}`: it comes from a registry; serve a local app \
             directory or manifest to reload it as its files change"
        );
    }
    let pulled = pull_reference(&reference, args.insecure)?;
    let what = match pulled.kind {
        ArtifactKind::App => "app",
        ArtifactKind::Component => "component",
    };
    tracing::info!("serving {what} `{reference}` ({})", pulled.digest);
    args.path = pulled.dir;
    if args.state_dir.is_none() {
        args.state_dir = Some(
            std::env::current_dir()
                .context("could not read the current directory")?
                .join(".skiff"),
        );
    }
    Ok(())
}

/// Registry options for the CLI: progress bars only on a terminal.
pub fn registry_options(insecure: bool) -> RegistryOptions {
    RegistryOptions {
        insecure,
        progress: std::io::stderr().is_terminal(),
    }
}

/// A runtime for one registry operation.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
}
