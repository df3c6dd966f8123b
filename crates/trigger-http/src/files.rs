//! Turns a component's `files` grant into read-only preopens.
//!
//! Directory mounts are preopened in place. When the grant also maps single files
//! (globs or `{ source = "file" }`), every mount is staged into one directory under
//! the app's state dir (`<state>/files/<component>/`) that is preopened at `/`, so the
//! guest sees one consistent tree.

use std::path::Path;

use anyhow::{Context, Result};
use skiff_host::Preopen;
use skiff_manifest::Component;

pub(crate) fn preopens(spec: &Component, state_dir: &Path) -> Result<Vec<Preopen>> {
    if spec.files.is_empty() {
        return Ok(Vec::new());
    }
    let has_files = spec.files.iter().any(|m| !m.source.is_dir());
    if !has_files {
        return Ok(spec
            .files
            .iter()
            .map(|m| Preopen {
                host: m.source.clone(),
                guest: m.destination.clone(),
                read_only: true,
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
        read_only: true,
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
