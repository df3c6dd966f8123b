//! `skiff push REF [PATH]`: a component or an app to an OCI registry.

use std::path::PathBuf;

use anyhow::{Context, Result};
use skiff_oci::{PushOptions, Registry};

/// Arguments of `skiff push`.
#[derive(clap::Args)]
pub struct PushArgs {
    /// Where to push: `registry/repository:tag` (e.g. `ghcr.io/me/hello:v1`).
    pub reference: String,
    /// A `.wasm` component, or an app: a skiff.toml / spin.toml or a directory holding one.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Talk plain HTTP to the registry (one on loopback or a private network).
    #[arg(long)]
    pub insecure: bool,
    /// Add (or override) a manifest annotation, e.g.
    /// `org.opencontainers.image.source=https://…` (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = parse_annotation)]
    pub annotations: Vec<(String, String)>,
}

fn parse_annotation(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, found `{s}`")),
    }
}

/// Pushes, then prints the reference and the manifest digest.
pub fn push(args: PushArgs) -> Result<()> {
    let reference = skiff_oci::parse_reference(&args.reference)?;
    let registry = Registry::new(&reference, &super::pull::registry_options(args.insecure))?;
    let options = PushOptions {
        annotations: args.annotations.into_iter().collect(),
        cache_dir: skiff_engine::default_cache_dir(),
    };
    let digest = super::pull::runtime()?
        .block_on(registry.push_path(&reference, &args.path, &options))
        .with_context(|| {
            format!(
                "could not push `{}` to `{}`",
                args.path.display(),
                reference.whole()
            )
        })?;
    println!("Pushed {}", reference.whole());
    println!("Digest: {digest}");
    Ok(())
}
