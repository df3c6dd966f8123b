//! Reading a whole manifest, shared by both formats: `[application]`,
//! `[variables]` and the component tables (triggers are in [`crate::trigger`]).
//! The formats differ only in the keys they accept ([`Schema`]) and a few
//! Spin-only features.

use std::collections::BTreeMap;
use std::path::Path;

use crate::component::{DraftComponent, parse_component, template};
use crate::limits::{PartialLimits, parse_limits};
use crate::model::{ManifestKind, MqttSettings, Route, Variable};
use crate::mqtt::Qos;
use crate::raw::{Ctx, Table, Value, join};
use crate::span::Loc;
use crate::trigger::parse_triggers;
use crate::validate;

/// The keys one manifest format accepts, table by table.
pub(crate) struct Schema {
    pub kind: ManifestKind,
    pub root: &'static [&'static str],
    pub application: &'static [&'static str],
    pub http_trigger: &'static [&'static str],
    pub redis_trigger: &'static [&'static str],
    /// `None`: the format has no `[[trigger.messaging]]`.
    pub messaging_trigger: Option<&'static [&'static str]>,
    pub cron_trigger: &'static [&'static str],
    pub mqtt_trigger: &'static [&'static str],
    pub component: &'static [&'static str],
}

/// The manifest as read, before cross-checks, file expansion and limit merging.
#[derive(Default)]
pub(crate) struct Draft {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub authors: Vec<String>,
    pub redis_address: Option<String>,
    pub mqtt_settings: MqttSettings,
    pub limits: PartialLimits,
    pub variables: BTreeMap<String, Variable>,
    pub http: Vec<DraftHttp>,
    pub redis: Vec<DraftRedis>,
    pub messaging: Vec<DraftMessaging>,
    pub cron: Vec<DraftCron>,
    pub mqtt: Vec<DraftMqtt>,
    pub components: Vec<DraftComponent>,
    /// Templated values outside components (redis channels and addresses,
    /// messaging subjects, cron expressions, MQTT topics and settings).
    pub templates: Vec<TemplateUse>,
}

/// A `[[trigger.http]]` entry.
pub(crate) struct DraftHttp {
    pub route: Route,
    pub route_loc: Loc,
    pub key: String,
    /// The component, or `None` for a `static_response`.
    pub target: Option<Target>,
    pub static_response: Option<crate::model::StaticResponse>,
}

/// A `[[trigger.redis]]` entry.
pub(crate) struct DraftRedis {
    pub channel: String,
    pub address: Option<String>,
    pub channel_loc: Loc,
    pub key: String,
    pub target: Target,
}

/// A `[[trigger.messaging]]` entry.
pub(crate) struct DraftMessaging {
    pub subject: String,
    pub queue_group: Option<String>,
    pub broker: String,
    pub subject_loc: Loc,
    pub target: Target,
}

/// A `[[trigger.cron]]` entry.
pub(crate) struct DraftCron {
    pub expression: String,
    pub expression_loc: Loc,
    pub target: Target,
}

/// A `[[trigger.mqtt]]` entry.
pub(crate) struct DraftMqtt {
    pub topic: String,
    pub qos: Qos,
    pub address: Option<String>,
    pub topic_loc: Loc,
    pub key: String,
    pub target: Target,
}

/// The component a trigger runs.
pub(crate) struct Target {
    pub id: String,
    pub loc: Loc,
    pub key: String,
}

/// A value with `{{ name }}` templates, to check against `[variables]`.
pub(crate) struct TemplateUse {
    pub names: Vec<String>,
    pub loc: Loc,
    pub key: String,
}

/// Reads the whole document; problems are collected in `ctx`.
pub(crate) fn parse_document(
    ctx: &mut Ctx<'_>,
    schema: &Schema,
    base_dir: &Path,
    root: &Table<'_>,
) -> Draft {
    let mut draft = Draft::default();
    ctx.check_keys(root, "", schema.root);
    match root.get("application") {
        Some(v) => parse_application(ctx, schema, v, &mut draft),
        None => {
            let error = ctx
                .error_nowhere("application", "missing [application] table")
                .with_hint("add `[application]` with `name = \"my-app\"`");
            ctx.push(error);
        }
    }
    if let Some(v) = root.get("variables") {
        parse_variables(ctx, v, &mut draft);
    }
    if let Some(v) = root.get("component") {
        parse_components(ctx, schema, base_dir, v, &mut draft);
    }
    match root.get("trigger") {
        Some(v) => parse_triggers(ctx, schema, base_dir, v, &mut draft),
        None => {
            let error = ctx
                .error_nowhere("trigger", "the manifest has no triggers")
                .with_hint(
                    "add a [[trigger.http]] with `route = \"/...\"` and `component = \"ID\"`",
                );
            ctx.push(error);
        }
    }
    draft
}

fn parse_components(
    ctx: &mut Ctx<'_>,
    schema: &Schema,
    base_dir: &Path,
    value: &Value<'_>,
    draft: &mut Draft,
) {
    let Some(table) = ctx.table(value, "component", "a table of components ([component.ID])")
    else {
        return;
    };
    for (id, value) in table.iter() {
        let id: &str = id.get_ref();
        let key = join("component", id);
        if let Err(msg) = validate::component_id(id, schema.kind) {
            let example = validate::suggest_id(id, '-');
            let error = ctx.error(&value.span(), &key, msg).with_hint(format!(
                "component ids are lowercase letters, digits and `-`, starting with a letter, e.g. `{example}`"
            ));
            ctx.push(error);
        }
        if let Some(t) = ctx.table(value, &key, "a table ([component.ID])") {
            let c = parse_component(ctx, schema, base_dir, value, t, id.to_string(), &key);
            draft.components.push(c);
        }
    }
}

fn parse_application(ctx: &mut Ctx<'_>, schema: &Schema, value: &Value<'_>, draft: &mut Draft) {
    let Some(table) = ctx.table(value, "application", "a table ([application])") else {
        return;
    };
    ctx.check_keys(table, "application", schema.application);
    if let Some(v) = ctx.require(table, &value.span(), "application", "name") {
        draft.name = ctx
            .non_empty_string(v, "application.name")
            .unwrap_or_default();
    }
    if let Some(v) = table.get("version") {
        draft.version = ctx.string(v, "application.version");
    }
    if let Some(v) = table.get("description") {
        draft.description = ctx.string(v, "application.description");
    }
    if let Some(v) = table.get("authors") {
        let authors = ctx
            .string_list(v, "application.authors")
            .unwrap_or_default();
        draft.authors = authors.into_iter().map(|(a, _)| a).collect();
    }
    if let Some(v) = table.get("limits") {
        draft.limits = parse_limits(ctx, v, "application.limits");
    }
    if let Some(v) = table.get("trigger") {
        let Some(triggers) = ctx.table(v, "application.trigger", "a table of trigger settings")
        else {
            return;
        };
        ctx.check_keys(triggers, "application.trigger", &["redis", "mqtt"]);
        if let Some(redis) = triggers.get("redis") {
            parse_redis_settings(ctx, redis, draft);
        }
        if let Some(mqtt) = triggers.get("mqtt") {
            crate::trigger_mqtt::parse_settings(ctx, mqtt, draft);
        }
    }
}

/// `[application.trigger.redis]`: the `address` redis triggers default to.
fn parse_redis_settings(ctx: &mut Ctx<'_>, redis: &Value<'_>, draft: &mut Draft) {
    let key = "application.trigger.redis";
    let Some(t) = ctx.table(redis, key, "a table ([application.trigger.redis])") else {
        return;
    };
    ctx.check_keys(t, key, &["address"]);
    if let Some(a) = ctx.require(t, &redis.span(), key, "address") {
        let akey = join(key, "address");
        if let Some(address) = ctx.non_empty_string(a, &akey) {
            let loc = ctx.loc(&a.span());
            template(ctx, &mut draft.templates, &address, loc, &akey);
            draft.redis_address = Some(address);
        }
    }
}

fn parse_variables(ctx: &mut Ctx<'_>, value: &Value<'_>, draft: &mut Draft) {
    let Some(table) = ctx.table(value, "variables", "a table of variables ([variables])") else {
        return;
    };
    for (spanned_name, v) in table.iter() {
        let name: &str = spanned_name.get_ref();
        let key = join("variables", name);
        if let Err(msg) = validate::variable_name(name) {
            let example = validate::suggest_id(name, '_');
            let error = ctx.error(&spanned_name.span(), &key, msg).with_hint(format!(
                "variable names are lowercase letters, digits and `_`, starting with a letter, e.g. `{example}`"
            ));
            ctx.push(error);
        }
        let Some(t) = ctx.table(
            v,
            &key,
            "a table like `{ default = \"…\" }` or `{ required = true }`",
        ) else {
            continue;
        };
        ctx.check_keys(t, &key, &["default", "required", "secret", "description"]);
        let default = t
            .get("default")
            .and_then(|d| ctx.string(d, &join(&key, "default")));
        let required = t
            .get("required")
            .and_then(|r| ctx.bool(r, &join(&key, "required")))
            .unwrap_or(false);
        let secret = t
            .get("secret")
            .and_then(|s| ctx.bool(s, &join(&key, "secret")))
            .unwrap_or(false);
        if let Some(d) = t.get("description") {
            ctx.string(d, &join(&key, "description"));
        }
        if required && default.is_some() {
            let error = ctx
                .error(
                    &v.span(),
                    &key,
                    format!("variable `{name}` is `required = true` and has a `default`"),
                )
                .with_hint("a required variable has no default: remove one of them");
            ctx.push(error);
        } else if !required && default.is_none() {
            let error = ctx
                .error(
                    &v.span(),
                    &key,
                    format!("variable `{name}` needs a `default` or `required = true`"),
                )
                .with_hint(format!("e.g. `{name} = {{ default = \"…\" }}`"));
            ctx.push(error);
        }
        draft.variables.insert(
            name.to_string(),
            Variable {
                default,
                required,
                secret,
            },
        );
    }
}
