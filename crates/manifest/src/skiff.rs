//! What is particular to `skiff.toml` (`skiff_manifest_version = 1`): the version
//! key, Skiff's own `limits` tables, `[[trigger.messaging]]` and the component keys
//! `message_brokers` and `blob_stores`. Everything else uses Spin v2's names.

use crate::error::ManifestError;
use crate::model::ManifestKind;
use crate::parse::Schema;
use crate::raw::{Ctx, Table, type_name};
use toml::de::DeValue;

/// The key that marks a skiff.toml.
pub(crate) const VERSION_KEY: &str = "skiff_manifest_version";

/// The keys skiff.toml accepts.
pub(crate) const SCHEMA: Schema = Schema {
    kind: ManifestKind::Skiff,
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
        "limits",
    ],
    http_trigger: &["route", "component", "static_response", "id"],
    redis_trigger: &["channel", "component", "address", "id"],
    messaging_trigger: Some(&["subject", "component", "queue_group", "broker", "id"]),
    cron_trigger: &["cron_expression", "component", "id"],
    mqtt_trigger: &["topic", "qos", "component", "address", "id"],
    component: &[
        "source",
        "description",
        "files",
        "exclude_files",
        "environment",
        "allowed_outbound_hosts",
        "key_value_stores",
        "sqlite_databases",
        "message_brokers",
        "blob_stores",
        "variables",
        "build",
        "limits",
        "dependencies",
        "dependencies_inherit_configuration",
        "ai_models",
    ],
};

/// Checks `skiff_manifest_version = 1`.
pub(crate) fn check_version(ctx: &Ctx<'_>, root: &Table<'_>) -> Result<(), ManifestError> {
    let Some((key, value)) = root.get_key_value(VERSION_KEY) else {
        return Err(
            ManifestError::new(ctx.file, "missing `skiff_manifest_version = 1`")
                .with_key(VERSION_KEY)
                .with_hint("add `skiff_manifest_version = 1` as the first line"),
        );
    };
    match value.get_ref() {
        DeValue::Integer(i) if i64::from_str_radix(i.as_str(), i.radix()) == Ok(1) => Ok(()),
        DeValue::Integer(i) => Err(ctx
            .error(
                &value.span(),
                VERSION_KEY,
                format!("unsupported version {i}; this Skiff reads version 1"),
            )
            .with_hint("upgrade Skiff to read newer manifests")),
        other => Err(ctx
            .error(
                &value.span(),
                VERSION_KEY,
                format!("expected the integer 1, found {}", type_name(other)),
            )
            .with_hint(format!("write `{} = 1`", key.get_ref()))),
    }
}
