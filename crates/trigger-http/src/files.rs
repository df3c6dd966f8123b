//! Turns a component's `files` grant into preopens, read-only unless
//! [`Mounts::allow_transient_write`].
//!
//! Directory mounts are preopened in place. When the grant also maps single files
//! (globs or `{ source = "file" }`), every mount is staged into one directory under
//! the app's state dir (`<state>/files/<component>/`) that is preopened at `/`, so the
//! guest sees one consistent tree. Writable mounts are staged too (the guest
//! writes to copies, gone at the next start), unless [`Mounts::direct`] puts
//! directories in place, where writes reach the host.

use std::path::Path;

use anyhow::{Context, Result};
use skiff_host::Preopen;
use skiff_manifest::Component;

/// How `files` mounts are made (`skiff up --direct-mounts`,
/// `--allow-transient-write`, as in Spin).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mounts {
    /// Directories are mounted in place even when writable.
    pub direct: bool,
    /// The guest may write to its mounts: to copies, or with
    /// [`direct`](Mounts::direct) to the host's directories.
    pub allow_transient_write: bool,
}

pub(crate) fn preopens(spec: &Component, state_dir: &Path, mounts: Mounts) -> Result<Vec<Preopen>> {
    if spec.files.is_empty() {
        return Ok(Vec::new());
    }
    let read_only = !mounts.allow_transient_write;
    let has_files = spec.files.iter().any(|m| !m.source.is_dir());
    if !has_files && (read_only || mounts.direct) {
        return Ok(spec
            .files
            .iter()
            .map(|m| Preopen {
                host: m.source.clone(),
                guest: m.destination.clone(),
                read_only,
            })
            .collect());
    }
    let stage = state_dir.join("files").join(&spec.id);
    if stage.exists() {
        std::fs::remove_dir_all(&stage)
            .with_context(|| format!("could not clear `{}`", stage.display()))?;
    }
    std::fs::create_dir_all(&stage)
        .with_context(|| format!("could not create `{}`", stage.display()))?;
    for mount in &spec.files {
        let dest = stage.join(mount.destination.trim_start_matches('/'));
        copy_tree(&mount.source, &dest).with_context(|| {
            format!(
                "could not stage `{}` at `{}` for component `{}`",
                mount.source.display(),
                mount.destination,
                spec.id
            )
        })?;
    }
    Ok(vec![Preopen {
        host: stage,
        guest: "/".into(),
        read_only,
    }])
}

fn copy_tree(src: &Path, dest: &Path) -> Result<()> {
    let meta = std::fs::metadata(src)?;
    if meta.is_dir() {
        std::fs::create_dir_all(dest)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dest.join(entry.file_name()))?;
        }
    } else {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(src, dest)?;
    }
    Ok(())
}
