//! What is particular to Spin's `spin.toml` (`spin_manifest_version = 2`): the
//! version key, keys Skiff accepts but ignores, and Spin features Skiff lacks.

use toml::de::DeValue;

use crate::error::ManifestError;
use crate::model::ManifestKind;
use crate::parse::Schema;
use crate::raw::{Ctx, Table, Value, type_name};
use crate::span::Loc;

/// The key that marks a spin.toml.
pub(crate) const VERSION_KEY: &str = "spin_manifest_version";
/// Spin v1's older version key.
pub(crate) const V1_VERSION_KEY: &str = "spin_version";

/// The keys spin.toml accepts. `targets`, `tool` and `profile` are accepted
/// and have no effect in Skiff.
pub(crate) const SCHEMA: Schema = Schema {
    kind: ManifestKind::Spin,
    root: &[
        VERSION_KEY,
        "application",
        "variables",
        "trigger",
        "component",
    ],
    application: &[
        "name",
        "version",
        "description",
        "authors",
        "trigger",
        "targets",
        "tool",
    ],
    http_trigger: &[
        "route",
        "component",
        "static_response",
        "id",
        "executor",
        "components",
    ],
    redis_trigger: &["channel", "component", "address", "id", "components"],
    messaging_trigger: None,
    cron_trigger: &["cron_expression", "component", "id", "components"],
    mqtt_trigger: &["topic", "qos", "component", "id", "components"],
    component: &[
        "source",
        "description",
        "files",
        "exclude_files",
        "environment",
        "allowed_outbound_hosts",
        "allowed_http_hosts",
        "key_value_stores",
        "sqlite_databases",
        "variables",
        "build",
        "dependencies",
        "ai_models",
        "targets",
        "tool",
        "profile",
        "dependencies_inherit_configuration",
    ],
};

/// Checks `spin_manifest_version = 2` (or `"1"`, or the older
/// `spin_version = "1"`); returns the version.
pub(crate) fn check_version(ctx: &Ctx<'_>, root: &Table<'_>) -> Result<u8, ManifestError> {
    if let Some(value) = root.get(V1_VERSION_KEY) {
        return match value.get_ref() {
            DeValue::String(s) if s.trim() == "1" => Ok(1),
            _ => Err(ctx
                .error(
                    &value.span(),
                    V1_VERSION_KEY,
                    "expected `spin_version = \"1\"`",
                )
                .with_hint("write `spin_manifest_version = 2` for a v2 manifest")),
        };
    }
    let Some(value) = root.get(VERSION_KEY) else {
        return Err(
            ManifestError::new(ctx.file, "missing `spin_manifest_version = 2`")
                .with_key(VERSION_KEY)
                .with_hint("add `spin_manifest_version = 2` as the first line"),
        );
    };
    let number = match value.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
        DeValue::String(s) if s.trim() == "1" => Some(1),
        _ => None,
    };
    match number {
        Some(2) => Ok(2),
        Some(1) => Ok(1),
        Some(n) => Err(ctx.error(
            &value.span(),
            VERSION_KEY,
            format!("unsupported version {n}; Skiff reads Spin manifest version 2"),
        )),
        None => Err(ctx
            .error(
                &value.span(),
                VERSION_KEY,
                format!(
                    "expected the integer 2, found {}",
                    type_name(value.get_ref())
                ),
            )
            .with_hint("write `spin_manifest_version = 2`")),
    }
}

/// Checks a trigger's `executor`: `{ type = "spin" }` is the only one Skiff runs.
pub(crate) fn check_executor(ctx: &mut Ctx<'_>, value: &Value<'_>, key: &str) {
    let Some(table) = ctx.table(value, key, "a table like `{ type = \"spin\" }`") else {
        return;
    };
    let type_key = format!("{key}.type");
    let Some(ty) = ctx.require(table, &value.span(), key, "type") else {
        return;
    };
    let Some(name) = ctx.string(ty, &type_key) else {
        return;
    };
    match name.as_str() {
        "spin" => ctx.check_keys(table, key, &["type"]),
        "wagi" => {
            let error = ctx
                .error(&ty.span(), &type_key, "the WAGI executor is not supported")
                .with_hint(
                    "Skiff runs components that export `wasi:http/incoming-handler` \
                     (Spin SDKs build those); remove `executor` after rebuilding the component",
                );
            ctx.push(error);
        }
        other => {
            let error = ctx
                .error(
                    &ty.span(),
                    &type_key,
                    format!("unknown executor type `{other}`"),
                )
                .with_hint("expected `{ type = \"spin\" }`");
            ctx.push(error);
        }
    }
}

/// Reports a non-local component `source` (`{ url, digest }` or a registry package).
pub(crate) fn remote_source(ctx: &mut Ctx<'_>, value: &Value<'_>, key: &str) {
    let error = ctx
        .error(
            &value.span(),
            key,
            "only local component sources are supported",
        )
        .with_hint(
            "download the .wasm file and set `source` to its path, relative to the manifest",
        );
    ctx.push(error);
}

/// Converts Spin v1's `allowed_http_hosts` entries to `allowed_outbound_hosts` ones.
pub(crate) fn convert_allowed_http_hosts(hosts: &[(String, Loc)]) -> Vec<String> {
    let mut out = Vec::new();
    for (host, _) in hosts {
        let host = host.trim();
        match host {
            "insecure:allow-all" => {
                out.extend(["http://*:*", "https://*:*", "http://self"].map(String::from))
            }
            "self" => out.push("http://self".to_string()),
            _ => {
                let bare = host
                    .strip_prefix("https://")
                    .or_else(|| host.strip_prefix("http://"))
                    .unwrap_or(host)
                    .trim_end_matches('/');
                out.push(format!("http://{bare}"));
                out.push(format!("https://{bare}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_allowed_http_hosts() {
        let loc = Loc { line: 1, column: 1 };
        let hosts = [
            "example.com",
            "https://api.example.com:8080/",
            "self",
            "insecure:allow-all",
        ]
        .map(|h| (h.to_string(), loc));
        assert_eq!(
            convert_allowed_http_hosts(&hosts),
            [
                "http://example.com",
                "https://example.com",
                "http://api.example.com:8080",
                "https://api.example.com:8080",
                "http://self",
                "http://*:*",
                "https://*:*",
                "http://self",
            ]
        );
    }
}
