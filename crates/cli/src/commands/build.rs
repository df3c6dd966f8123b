//! `skiff build [PATH]`: run each component's build command.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// Arguments of `skiff build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// A skiff.toml / spin.toml, or a directory holding one.
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

/// Builds every component that has a build command.
pub fn build(args: BuildArgs) -> Result<()> {
    build_app(&args.path)
}

/// Runs the build commands of the app at `path`, printing each command's output.
///
/// Cargo's `CARGO_TARGET_DIR` and `CARGO_BUILD_TARGET_DIR` are removed from the
/// commands' environment: each component's `source` names its output under the
/// component's own directory, as Spin's templates write it.
pub fn build_app(path: &Path) -> Result<()> {
    let app = skiff_manifest::load_for_build(path)?;
    let mut built = 0;
    for component in app.components.values() {
        let Some(build) = &component.build else {
            continue;
        };
        skiff_runtime::build_component(&component.id, build)?;
        built += 1;
    }
    app.check_built_sources()?;
    if built == 0 {
        eprintln!("No component has a build command; nothing to build.");
    } else {
        eprintln!("Finished building {built} component(s).");
    }
    Ok(())
}
