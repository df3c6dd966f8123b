//! Running a component's `[component.ID.build] command` (`skiff build`,
//! `skiff up --build`, and `skiff up --watch` when its `watch` files change).

use anyhow::{Context, Result, bail};
use skiff_manifest::Build;

/// Runs component `id`'s build command through the shell in its `workdir`,
/// its output going to the terminal; fails naming the command and component
/// when it cannot start or exits unsuccessfully.
///
/// Cargo's `CARGO_TARGET_DIR` and `CARGO_BUILD_TARGET_DIR` are removed from the
/// command's environment: each component's `source` names its output under the
/// component's own directory, as Spin's templates write it.
pub fn build_component(id: &str, build: &Build) -> Result<()> {
    eprintln!("Building component `{id}` with `{}`", build.command);
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&build.command)
        .current_dir(&build.workdir)
        // The manifest's `source` says where the build's output lands,
        // relative to the app; a target dir redirected by the caller's
        // environment (set to share one cache across projects) would
        // put it elsewhere.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .status()
        .with_context(|| format!("could not start the build command of component `{id}`"))?;
    if !status.success() {
        bail!(
            "build command `{}` of component `{id}` failed ({status}) in `{}`",
            build.command,
            build.workdir.display()
        );
    }
    Ok(())
}
