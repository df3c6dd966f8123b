//! `[component.ID]` tables, and components written inline in triggers.

use std::collections::BTreeMap;
use std::path::{Component as PathPart, Path, PathBuf};

use toml::de::DeValue;

use crate::limits::{PartialLimits, parse_limits};
use crate::model::{Build, ManifestKind};
use crate::parse::{Schema, TemplateUse};
use crate::raw::{Ctx, Table, Value, join};
use crate::span::Loc;
use crate::{spin, validate};

/// A component as read from the manifest, before files are expanded and limits merged.
pub(crate) struct DraftComponent {
    pub id: String,
    pub key: String,
    /// Where the component's table starts (its `[component.ID]` header).
    pub loc: Loc,
    pub source: PathBuf,
    pub source_line: usize,
    pub description: Option<String>,
    pub files: Vec<FileEntry>,
    pub exclude_files: Vec<(String, Loc)>,
    pub environment: BTreeMap<String, String>,
    pub allowed_outbound_hosts: Vec<String>,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    pub message_brokers: Vec<String>,
    /// The one label of `blob_stores`, if any.
    pub blob_store: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub build: Option<Build>,
    /// Location of `build.workdir`, checked to exist once all is parsed.
    pub workdir_loc: Option<Loc>,
    pub limits: PartialLimits,
    pub templates: Vec<TemplateUse>,
    /// `[component.ID.dependencies]`.
    pub dependencies: Vec<crate::dependency::DraftDependency>,
}

/// One `files` entry.
pub(crate) enum FileEntry {
    /// `"static/**/*"`: files matching a glob relative to the manifest dir.
    Glob {
        pattern: String,
        loc: Loc,
        key: String,
    },
    /// `{ source = "dir", destination = "/dir" }`.
    Mount {
        source: String,
        destination: String,
        loc: Loc,
        key: String,
    },
}

/// Reads a component table. `key` is its dotted path (`component.api`).
pub(crate) fn parse_component(
    ctx: &mut Ctx<'_>,
    schema: &Schema,
    base_dir: &Path,
    value: &Value<'_>,
    table: &Table<'_>,
    id: String,
    key: &str,
) -> DraftComponent {
    ctx.check_keys(table, key, schema.component);
    let mut c = DraftComponent {
        id,
        key: key.to_string(),
        loc: ctx.loc(&value.span()),
        source: PathBuf::new(),
        source_line: ctx.loc(&value.span()).line,
        description: None,
        files: Vec::new(),
        exclude_files: Vec::new(),
        environment: BTreeMap::new(),
        allowed_outbound_hosts: Vec::new(),
        key_value_stores: Vec::new(),
        sqlite_databases: Vec::new(),
        message_brokers: Vec::new(),
        blob_store: None,
        variables: BTreeMap::new(),
        build: None,
        workdir_loc: None,
        limits: PartialLimits::default(),
        templates: Vec::new(),
        dependencies: Vec::new(),
    };
    let k = |name: &str| join(key, name);

    if let Some(v) = ctx.require(table, &value.span(), key, "source") {
        if let Some((name, _)) = table.get_key_value("source") {
            c.source_line = ctx.loc(&name.span()).line;
        }
        match v.get_ref() {
            DeValue::Table(_) if schema.kind == ManifestKind::Spin => {
                spin::remote_source(ctx, v, &k("source"))
            }
            _ => {
                if let Some(s) = ctx.non_empty_string(v, &k("source")) {
                    c.source = normalize(&base_dir.join(s));
                }
            }
        }
    }
    if let Some(v) = table.get("description") {
        c.description = ctx.string(v, &k("description"));
    }
    if let Some(v) = table.get("files") {
        c.files = parse_files(ctx, v, &k("files"));
    }
    if let Some(v) = table.get("exclude_files") {
        c.exclude_files = ctx.string_list(v, &k("exclude_files")).unwrap_or_default();
    }
    if let Some(v) = table.get("environment") {
        for (name, name_loc, val, _) in ctx.string_map(v, &k("environment")).unwrap_or_default() {
            match validate::env_key(&name) {
                Ok(()) => {
                    c.environment.insert(name, val);
                }
                Err(msg) => {
                    let error = ctx.error_at(name_loc, &join(&k("environment"), &name), msg);
                    ctx.push(error);
                }
            }
        }
    }
    if let Some(v) = table.get("allowed_outbound_hosts") {
        let key = k("allowed_outbound_hosts");
        for (i, (host, loc)) in ctx
            .string_list(v, &key)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            template(ctx, &mut c.templates, &host, loc, &format!("{key}[{i}]"));
            c.allowed_outbound_hosts.push(host);
        }
    }
    if let Some(v) = table.get("allowed_http_hosts") {
        let hosts = ctx
            .string_list(v, &k("allowed_http_hosts"))
            .unwrap_or_default();
        c.allowed_outbound_hosts
            .extend(spin::convert_allowed_http_hosts(&hosts));
    }
    for (name, out) in [
        ("key_value_stores", &mut c.key_value_stores),
        ("sqlite_databases", &mut c.sqlite_databases),
        ("message_brokers", &mut c.message_brokers),
    ] {
        let Some(v) = table.get(name) else { continue };
        let key = k(name);
        for (i, (label, loc)) in ctx
            .string_list(v, &key)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            match validate::label(&label) {
                Ok(()) => out.push(label),
                Err(msg) => {
                    let error = ctx.error_at(loc, &format!("{key}[{i}]"), msg);
                    ctx.push(error);
                }
            }
        }
    }
    if let Some(v) = table.get("blob_stores") {
        c.blob_store = parse_blob_stores(ctx, v, &k("blob_stores"));
    }
    if let Some(v) = table.get("variables") {
        let key = k("variables");
        for (name, name_loc, val, val_loc) in ctx.string_map(v, &key).unwrap_or_default() {
            let var_key = join(&key, &name);
            if let Err(msg) = validate::variable_name(&name) {
                let error = ctx
                    .error_at(name_loc, &var_key, msg)
                    .with_hint(format!("e.g. `{}`", validate::suggest_id(&name, '_')));
                ctx.push(error);
                continue;
            }
            template(ctx, &mut c.templates, &val, val_loc, &var_key);
            c.variables.insert(name, val);
        }
    }
    if let Some(v) = table.get("build") {
        c.build = parse_build(ctx, base_dir, v, &k("build"), &mut c.workdir_loc);
    }
    if let Some(v) = table.get("limits") {
        c.limits = parse_limits(ctx, v, &k("limits"));
    }
    if let Some(v) = table.get("ai_models") {
        let used = !matches!(v.get_ref(), DeValue::Array(a) if a.is_empty());
        if used {
            let error = ctx
                .error(
                    &v.span(),
                    &k("ai_models"),
                    "`ai_models` is not supported: Skiff has no serverless AI (LLM) host",
                )
                .with_hint("remove `ai_models` and call an inference service over HTTP instead");
            ctx.push(error);
        }
    }
    let inherit_default = table
        .get("dependencies_inherit_configuration")
        .and_then(|v| ctx.bool(v, &k("dependencies_inherit_configuration")))
        .unwrap_or(false);
    if let Some(v) = table.get("dependencies") {
        c.dependencies = crate::dependency::parse_dependencies(
            ctx,
            base_dir,
            v,
            &k("dependencies"),
            inherit_default,
        );
    }
    c
}

/// Reads `blob_stores`: at most one label, since `wasi:blobstore` cannot name
/// a store, so every container a component opens lives in the one it has.
fn parse_blob_stores(ctx: &mut Ctx<'_>, value: &Value<'_>, key: &str) -> Option<String> {
    let labels = ctx.string_list(value, key)?;
    let mut store = None;
    for (i, (label, loc)) in labels.iter().enumerate() {
        let entry = format!("{key}[{i}]");
        if let Err(msg) = validate::label(label) {
            let error = ctx.error_at(*loc, &entry, msg);
            ctx.push(error);
        } else if i == 0 {
            store = Some(label.clone());
        } else {
            let error = ctx
                .error_at(
                    *loc,
                    &entry,
                    format!(
                        "a component has one blob store, so `blob_stores` names one label; \
                         found a second, `{label}`"
                    ),
                )
                .with_hint(format!(
                    "`wasi:blobstore` cannot choose a store: every container the component \
                     opens lives in its one store; keep one, e.g. `blob_stores = [{:?}]`",
                    labels[0].0
                ));
            ctx.push(error);
        }
    }
    store
}

/// Records the variables a templated value uses (checked once all variables are known).
pub(crate) fn template(
    ctx: &mut Ctx<'_>,
    uses: &mut Vec<TemplateUse>,
    value: &str,
    loc: Loc,
    key: &str,
) {
    match validate::template_refs(value) {
        Ok(names) if names.is_empty() => {}
        Ok(names) => uses.push(TemplateUse {
            names,
            loc,
            key: key.to_string(),
        }),
        Err(msg) => {
            let error = ctx.error_at(loc, key, msg);
            ctx.push(error);
        }
    }
}

fn parse_files(ctx: &mut Ctx<'_>, value: &Value<'_>, key: &str) -> Vec<FileEntry> {
    const EXPECTED: &str =
        "a glob pattern string or a `{ source = \"…\", destination = \"/…\" }` table";
    let mut out = Vec::new();
    let Some(items) = ctx.array(
        value,
        key,
        &format!("an array of file entries ({EXPECTED})"),
    ) else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let loc = ctx.loc(&item.span());
        match item.get_ref() {
            DeValue::String(pattern) => {
                if pattern.trim().is_empty() {
                    let error = ctx.error_at(loc, &key, "file pattern must not be empty");
                    ctx.push(error);
                    continue;
                }
                out.push(FileEntry::Glob {
                    pattern: pattern.to_string(),
                    loc,
                    key,
                });
            }
            DeValue::Table(t) => {
                ctx.check_keys(t, &key, &["source", "destination"]);
                let source = ctx
                    .require(t, &item.span(), &key, "source")
                    .and_then(|v| ctx.non_empty_string(v, &join(&key, "source")));
                let destination = ctx.require(t, &item.span(), &key, "destination").and_then(|v| {
                    let dkey = join(&key, "destination");
                    let d = ctx.string(v, &dkey)?;
                    match check_destination(&d) {
                        Ok(d) => Some(d),
                        Err(msg) => {
                            let error = ctx.error(&v.span(), &dkey, msg).with_hint(
                                "a destination is an absolute path in the guest, e.g. \"/\" or \"/assets\"",
                            );
                            ctx.push(error);
                            None
                        }
                    }
                });
                if let (Some(source), Some(destination)) = (source, destination) {
                    out.push(FileEntry::Mount {
                        source,
                        destination,
                        loc,
                        key,
                    });
                }
            }
            _ => ctx.wrong_type(item, &key, EXPECTED),
        }
    }
    out
}

/// Validates a guest path and drops a trailing `/` (except for `/` itself).
fn check_destination(d: &str) -> Result<String, String> {
    if !d.starts_with('/') {
        return Err(format!("destination `{d}` must start with `/`"));
    }
    if d.split('/').any(|s| s == "..") {
        return Err(format!("destination `{d}` must not contain `..`"));
    }
    let trimmed = d.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    })
}

fn parse_build(
    ctx: &mut Ctx<'_>,
    base_dir: &Path,
    value: &Value<'_>,
    key: &str,
    workdir_loc: &mut Option<Loc>,
) -> Option<Build> {
    let table = ctx.table(value, key, "a table ([component.ID.build])")?;
    ctx.check_keys(table, key, &["command", "workdir", "watch"]);
    let command_key = join(key, "command");
    let command = ctx
        .require(table, &value.span(), key, "command")
        .and_then(|v| match v.get_ref() {
            DeValue::Array(items) if !items.is_empty() => {
                let mut commands = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    commands.push(ctx.non_empty_string(item, &format!("{command_key}[{i}]"))?);
                }
                Some(commands.join(" && "))
            }
            DeValue::Array(_) => {
                let error = ctx.error(&v.span(), &command_key, "must not be empty");
                ctx.push(error);
                None
            }
            DeValue::String(_) => ctx.non_empty_string(v, &command_key),
            _ => {
                ctx.wrong_type(
                    v,
                    &command_key,
                    "a command string or an array of command strings",
                );
                None
            }
        });
    let mut workdir = base_dir.to_path_buf();
    if let Some(v) = table.get("workdir")
        && let Some(dir) = ctx.non_empty_string(v, &join(key, "workdir"))
    {
        workdir = normalize(&base_dir.join(dir));
        *workdir_loc = Some(ctx.loc(&v.span()));
    }
    let watch = match table.get("watch") {
        Some(v) => ctx
            .string_list(v, &join(key, "watch"))?
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
        None => Vec::new(),
    };
    Some(Build {
        command: command?,
        workdir,
        watch,
    })
}

/// Removes `.` and resolves `..` lexically (the base dir is already canonical).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            PathPart::CurDir => {}
            PathPart::ParentDir => {
                // `/..` is `/`; a relative path keeps its leading `..`s.
                if !out.pop() && !out.has_root() {
                    out.push(part);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(check_destination("/"), Ok("/".to_string()));
        assert_eq!(check_destination("/a/"), Ok("/a".to_string()));
        assert_eq!(
            check_destination("a").unwrap_err(),
            "destination `a` must start with `/`"
        );
        assert_eq!(
            check_destination("/a/../b").unwrap_err(),
            "destination `/a/../b` must not contain `..`"
        );
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("/a/./b/../c.wasm")),
            PathBuf::from("/a/c.wasm")
        );
        assert_eq!(normalize(Path::new("/a/../../c")), PathBuf::from("/c"));
    }
}
