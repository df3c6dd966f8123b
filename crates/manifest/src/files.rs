//! Expanding a component's `files` entries into [`FileMount`]s.

use std::path::{Component as PathPart, Path};

use glob::{MatchOptions, Pattern};

use crate::component::{DraftComponent, FileEntry, normalize};
use crate::model::FileMount;
use crate::raw::Ctx;

const MATCH: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Expands globs to files (minus `exclude_files`) and resolves mounts. With
/// `strict`, a glob matching nothing or a missing mount source is an error;
/// otherwise (before a build, which may create them) such entries are skipped.
pub(crate) fn resolve_files(
    ctx: &mut Ctx<'_>,
    base_dir: &Path,
    component: &DraftComponent,
    strict: bool,
) -> Vec<FileMount> {
    let mut excludes = Vec::new();
    for (i, (pattern, loc)) in component.exclude_files.iter().enumerate() {
        match Pattern::new(pattern.trim_start_matches("./")) {
            Ok(p) => excludes.push(p),
            Err(e) => {
                let key = format!("{}.exclude_files[{i}]", component.key);
                let error = ctx.error_at(
                    *loc,
                    &key,
                    format!("invalid glob pattern `{pattern}`: {}", e.msg),
                );
                ctx.push(error);
            }
        }
    }
    let mut mounts: Vec<FileMount> = Vec::new();
    for entry in &component.files {
        match entry {
            FileEntry::Glob { pattern, loc, key } => {
                let found = expand_glob(pattern, base_dir, &excludes);
                match found {
                    Ok(files) => mounts.extend(files),
                    Err(GlobProblem::Outside) => {
                        let error = ctx
                            .error_at(*loc, key, format!("file pattern `{pattern}` is outside the manifest directory"))
                            .with_hint(format!(
                                "patterns are relative to {}; mount outside files with `{{ source = \"{pattern}\", destination = \"/…\" }}`",
                                base_dir.display()
                            ));
                        ctx.push(error);
                    }
                    Err(GlobProblem::Invalid(msg)) => {
                        let error = ctx.error_at(
                            *loc,
                            key,
                            format!("invalid glob pattern `{pattern}`: {msg}"),
                        );
                        ctx.push(error);
                    }
                    Err(GlobProblem::OnlyDirectories) => {
                        let dir = pattern.trim_end_matches('/');
                        let error = ctx
                            .error_at(*loc, key, format!("file pattern `{pattern}` matches only directories"))
                            .with_hint(format!(
                                "use \"{dir}/**/*\" to include the files inside, or `{{ source = \"{dir}\", destination = \"/{dir}\" }}`"
                            ));
                        ctx.push(error);
                    }
                    Err(GlobProblem::NoMatch) if strict => {
                        let error = ctx
                            .error_at(
                                *loc,
                                key,
                                format!("file pattern `{pattern}` matches no files"),
                            )
                            .with_hint(format!("patterns are relative to {}", base_dir.display()));
                        ctx.push(error);
                    }
                    Err(GlobProblem::NoMatch) => {}
                    Err(GlobProblem::Unreadable(msg)) => {
                        let error = ctx.error_at(*loc, key, msg);
                        ctx.push(error);
                    }
                }
            }
            FileEntry::Mount {
                source,
                destination,
                loc,
                key,
            } => {
                let path = normalize(&base_dir.join(source));
                if strict && !path.exists() {
                    let error = ctx
                        .error_at(
                            *loc,
                            &format!("{key}.source"),
                            format!("`{source}` does not exist ({})", path.display()),
                        )
                        .with_hint(format!("`source` is relative to {}", base_dir.display()));
                    ctx.push(error);
                    continue;
                }
                mounts.push(FileMount {
                    source: path,
                    destination: destination.clone(),
                });
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    mounts.retain(|m| seen.insert((m.source.clone(), m.destination.clone())));
    mounts
}

enum GlobProblem {
    Outside,
    Invalid(String),
    OnlyDirectories,
    NoMatch,
    Unreadable(String),
}

/// The files under `base_dir` matching `pattern`, each mounted at `/` + its relative path.
fn expand_glob(
    pattern: &str,
    base_dir: &Path,
    excludes: &[Pattern],
) -> Result<Vec<FileMount>, GlobProblem> {
    let relative = Path::new(pattern);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, PathPart::ParentDir | PathPart::Prefix(_)))
    {
        return Err(GlobProblem::Outside);
    }
    let pattern = pattern.trim_start_matches("./");
    Pattern::new(pattern).map_err(|e| GlobProblem::Invalid(e.msg.to_string()))?;
    let base = base_dir.to_str().ok_or_else(|| {
        GlobProblem::Unreadable(format!(
            "the manifest directory {} is not valid UTF-8",
            base_dir.display()
        ))
    })?;
    let full = format!("{}/{pattern}", Pattern::escape(base.trim_end_matches('/')));
    let paths =
        glob::glob_with(&full, MATCH).map_err(|e| GlobProblem::Invalid(e.msg.to_string()))?;
    let mut files = Vec::new();
    let mut saw_directory = false;
    let mut matched_file = false;
    for path in paths {
        let path = path.map_err(|e| {
            GlobProblem::Unreadable(format!(
                "could not read {}: {}",
                e.path().display(),
                e.error()
            ))
        })?;
        if !path.is_file() {
            saw_directory |= path.is_dir();
            continue;
        }
        let Ok(rel) = path.strip_prefix(base_dir) else {
            continue;
        };
        matched_file = true;
        if excludes.iter().any(|x| x.matches_path_with(rel, MATCH)) {
            continue;
        }
        let parts: Vec<_> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        files.push(FileMount {
            destination: format!("/{}", parts.join("/")),
            source: path,
        });
    }
    if !matched_file {
        return Err(if saw_directory {
            GlobProblem::OnlyDirectories
        } else {
            GlobProblem::NoMatch
        });
    }
    Ok(files)
}
