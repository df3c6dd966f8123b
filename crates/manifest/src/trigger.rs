//! `[[trigger.http]]`, `[[trigger.redis]]`, `[[trigger.cron]]`,
//! `[[trigger.mqtt]]` and (skiff.toml only) `[[trigger.messaging]]` entries, including components written inline
//! in a trigger and the ids Spin generates for them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use toml::de::DeValue;

use crate::component::{DraftComponent, parse_component, template};
use crate::cron::Schedule;
use crate::model::{ManifestKind, Route};
use crate::parse::{
    Draft, DraftCron, DraftHttp, DraftMessaging, DraftMqtt, DraftRedis, Schema, Target, TemplateUse,
};
use crate::raw::{Ctx, Table, Value, join};
use crate::route::parse_route;
use crate::span::Loc;
use crate::subject::{SyntaxError, check_queue_group, check_subject};
use crate::trigger_mqtt::{MqttEntry, parse_entry};
use crate::{spin, suggest, validate};

/// What a trigger entry says before its component is resolved.
struct Pending {
    ty: &'static str,
    id: Option<String>,
    spec: Option<Spec>,
    data: Option<Data>,
    key: String,
    templates: Vec<TemplateUse>,
}

enum Spec {
    Ref(Target),
    Inline(Box<DraftComponent>),
    /// `static_response` (HTTP only): no component.
    Static(crate::model::StaticResponse),
}

enum Data {
    Http(Route, Loc),
    Redis {
        channel: String,
        address: Option<String>,
        loc: Loc,
    },
    Messaging {
        subject: String,
        queue_group: Option<String>,
        broker: String,
        loc: Loc,
    },
    Cron {
        expression: String,
        loc: Loc,
    },
    Mqtt(MqttEntry),
}

/// The trigger types `schema`'s format accepts.
fn trigger_types(schema: &Schema) -> &'static [&'static str] {
    match schema.messaging_trigger {
        Some(_) => &["http", "redis", "messaging", "cron", "mqtt"],
        None => &["http", "redis", "cron", "mqtt"],
    }
}

/// Reads the `[trigger]` table into `draft`, moving inline components into
/// `draft.components` under generated ids.
pub(crate) fn parse_triggers(
    ctx: &mut Ctx<'_>,
    schema: &Schema,
    base_dir: &Path,
    value: &Value<'_>,
    draft: &mut Draft,
) {
    let Some(table) = ctx.table(
        value,
        "trigger",
        "a table of trigger arrays ([[trigger.http]])",
    ) else {
        return;
    };
    // Trigger types in file order, as Spin numbers generated ids that way.
    let mut types: Vec<_> = table.iter().collect();
    types.sort_by_key(|(k, _)| k.span().start);
    let mut pending = Vec::new();
    for (ty, v) in types {
        let ty_name: &str = ty.get_ref();
        let Some(&ty) = trigger_types(schema).iter().find(|&&t| t == ty_name) else {
            unsupported_type(ctx, schema, ty_name, v);
            continue;
        };
        let key = join("trigger", ty);
        let Some(items) = ctx.array(v, &key, &format!("an array of tables ([[trigger.{ty}]])"))
        else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let key = format!("{key}[{i}]");
            let Some(t) = ctx.table(item, &key, "a table") else {
                continue;
            };
            pending.push(parse_trigger(ctx, schema, base_dir, ty, item, t, key));
        }
    }
    if pending.is_empty() && ctx.errors.is_empty() {
        let error = ctx
            .error(&value.span(), "trigger", "the manifest has no triggers")
            .with_hint("add a [[trigger.http]] with `route = \"/...\"` and `component = \"ID\"`");
        ctx.push(error);
    }
    assign_ids(&mut pending, &draft.components);
    for p in pending {
        draft.templates.extend(p.templates);
        if let Some(Spec::Static(response)) = p.spec {
            if let Some(Data::Http(route, route_loc)) = p.data {
                draft.http.push(DraftHttp {
                    route,
                    route_loc,
                    key: p.key,
                    target: None,
                    static_response: Some(response),
                });
            }
            continue;
        }
        let target = match p.spec {
            Some(Spec::Ref(target)) => target,
            Some(Spec::Static(_)) => continue,
            Some(Spec::Inline(c)) => {
                let target = Target {
                    id: c.id.clone(),
                    loc: c.loc,
                    key: c.key.clone(),
                };
                draft.components.push(*c);
                target
            }
            None => continue,
        };
        match p.data {
            Some(Data::Http(route, route_loc)) => draft.http.push(DraftHttp {
                route,
                route_loc,
                key: p.key,
                target: Some(target),
                static_response: None,
            }),
            Some(Data::Redis {
                channel,
                address,
                loc,
            }) => draft.redis.push(DraftRedis {
                channel,
                address,
                channel_loc: loc,
                key: p.key,
                target,
            }),
            Some(Data::Messaging {
                subject,
                queue_group,
                broker,
                loc,
            }) => draft.messaging.push(DraftMessaging {
                subject,
                queue_group,
                broker,
                subject_loc: loc,
                target,
            }),
            Some(Data::Cron { expression, loc }) => draft.cron.push(DraftCron {
                expression,
                expression_loc: loc,
                target,
            }),
            Some(Data::Mqtt(e)) => draft.mqtt.push(DraftMqtt {
                topic: e.topic,
                qos: e.qos,
                address: e.address,
                topic_loc: e.loc,
                key: p.key,
                target,
            }),
            None => {}
        }
    }
}

/// Reports a `[trigger.TYPE]` that `schema`'s format does not run.
fn unsupported_type(ctx: &mut Ctx<'_>, schema: &Schema, name: &str, value: &Value<'_>) {
    let key = join("trigger", name);
    let error = if name == "messaging" {
        // Only skiff.toml has it.
        ctx.error(
            &value.span(),
            &key,
            "trigger type `messaging` is not supported in spin.toml",
        )
        .with_hint(
            "[[trigger.messaging]] is a skiff.toml trigger: write the manifest as a skiff.toml \
             (`skiff_manifest_version = 1`)",
        )
    } else {
        let types = trigger_types(schema);
        let hint = match suggest::closest(name, types.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None if schema.messaging_trigger.is_some() => {
                "Skiff runs `http`, `redis`, `messaging`, `cron` and `mqtt` triggers".to_string()
            }
            None => "Skiff runs `http`, `redis`, `cron` and `mqtt` triggers from a spin.toml \
                     (and `messaging` triggers from a skiff.toml)"
                .to_string(),
        };
        ctx.error(
            &value.span(),
            &key,
            format!("trigger type `{name}` is not supported"),
        )
        .with_hint(hint)
    };
    ctx.push(error);
}

fn parse_trigger(
    ctx: &mut Ctx<'_>,
    schema: &Schema,
    base_dir: &Path,
    ty: &'static str,
    value: &Value<'_>,
    table: &Table<'_>,
    key: String,
) -> Pending {
    let known = match ty {
        "http" => schema.http_trigger,
        "redis" => schema.redis_trigger,
        "cron" => schema.cron_trigger,
        "mqtt" => schema.mqtt_trigger,
        _ => schema.messaging_trigger.unwrap_or_default(),
    };
    ctx.check_keys(table, &key, known);
    let mut p = Pending {
        ty,
        id: None,
        spec: None,
        data: None,
        key,
        templates: Vec::new(),
    };
    let key = p.key.clone();
    if let Some(v) = table.get("id") {
        p.id = ctx.non_empty_string(v, &join(&key, "id"));
    }
    if let Some(v) = table.get("components") {
        let error = ctx
            .error(
                &v.span(),
                &join(&key, "components"),
                "`components` (trigger middleware) is not supported",
            )
            .with_hint("use `component = \"ID\"`");
        ctx.push(error);
    }
    if let Some(v) = table.get("executor") {
        spin::check_executor(ctx, v, &join(&key, "executor"));
    }
    if ty == "http" {
        if let Some(v) = ctx.require(table, &value.span(), &key, "route") {
            let name_span = table
                .get_key_value("route")
                .map_or(v.span(), |(k, _)| k.span());
            let loc = ctx.loc(&name_span);
            p.data = parse_route_value(ctx, v, &join(&key, "route")).map(|r| Data::Http(r, loc));
        }
    } else if ty == "messaging" {
        p.data = parse_messaging(ctx, value, table, &key, &mut p.templates);
    } else if ty == "cron" {
        p.data = parse_cron(ctx, value, table, &key, &mut p.templates);
    } else if ty == "mqtt" {
        p.data = parse_entry(ctx, value, table, &key, &mut p.templates).map(Data::Mqtt);
    } else if let Some(v) = ctx.require(table, &value.span(), &key, "channel") {
        let ckey = join(&key, "channel");
        let channel = ctx.non_empty_string(v, &ckey);
        let name_span = table
            .get_key_value("channel")
            .map_or(v.span(), |(k, _)| k.span());
        let loc = ctx.loc(&name_span);
        let mut address = None;
        if let Some(a) = table.get("address") {
            let akey = join(&key, "address");
            address = ctx.non_empty_string(a, &akey);
            if let Some(address) = &address {
                let aloc = ctx.loc(&a.span());
                template(ctx, &mut p.templates, address, aloc, &akey);
            }
        }
        if let Some(channel) = channel {
            let vloc = ctx.loc(&v.span());
            template(ctx, &mut p.templates, &channel, vloc, &ckey);
            p.data = Some(Data::Redis {
                channel,
                address,
                loc,
            });
        }
    }
    if ty == "http"
        && let Some(v) = table.get("static_response")
    {
        let skey = join(&key, "static_response");
        if table.get("component").is_some() {
            let error = ctx
                .error(
                    &v.span(),
                    &skey,
                    "a trigger has `component` or `static_response`, not both",
                )
                .with_hint("remove one of them");
            ctx.push(error);
        } else {
            p.spec = parse_static_response(ctx, v, &skey).map(Spec::Static);
        }
        return p;
    }
    if let Some(v) = ctx.require(table, &value.span(), &key, "component") {
        let ckey = join(&key, "component");
        p.spec = match v.get_ref() {
            DeValue::String(id) => Some(Spec::Ref(Target {
                id: id.to_string(),
                loc: ctx.loc(&v.span()),
                key: ckey,
            })),
            DeValue::Table(t) => Some(Spec::Inline(Box::new(parse_component(
                ctx,
                schema,
                base_dir,
                v,
                t,
                String::new(),
                &ckey,
            )))),
            _ => {
                ctx.wrong_type(
                    v,
                    &ckey,
                    "a component id string or an inline component table",
                );
                None
            }
        };
    }
    p
}

/// Reads `static_response = { status_code, headers, body }`.
fn parse_static_response(
    ctx: &mut Ctx<'_>,
    value: &Value<'_>,
    key: &str,
) -> Option<crate::model::StaticResponse> {
    let table = ctx.table(
        value,
        key,
        "a table like `{ status_code = 301, headers = { location = \"/new\" } }`",
    )?;
    ctx.check_keys(table, key, &["status_code", "headers", "body"]);
    let mut response = crate::model::StaticResponse {
        status: 200,
        headers: Vec::new(),
        body: None,
    };
    if let Some(v) = table.get("status_code") {
        let skey = join(key, "status_code");
        let code = ctx.integer(v, &skey)?;
        match u16::try_from(code) {
            Ok(code) if (100..=999).contains(&code) => response.status = code,
            _ => {
                let error = ctx.error(
                    &v.span(),
                    &skey,
                    format!("{code} is not an HTTP status code (100 to 999)"),
                );
                ctx.push(error);
                return None;
            }
        }
    }
    if let Some(v) = table.get("headers") {
        let hkey = join(key, "headers");
        for (name, name_loc, val, val_loc) in ctx.string_map(v, &hkey)? {
            let entry = join(&hkey, &name);
            if let Err(msg) = validate::header_name(&name) {
                let error = ctx.error_at(name_loc, &entry, msg);
                ctx.push(error);
            } else if let Err(msg) = validate::header_value(&val) {
                let error = ctx.error_at(val_loc, &entry, msg);
                ctx.push(error);
            } else {
                response.headers.push((name, val));
            }
        }
    }
    if let Some(v) = table.get("body") {
        response.body = Some(ctx.string(v, &join(key, "body"))?);
    }
    Some(response)
}

/// Reads a messaging trigger's `subject`, `queue_group` and `broker`.
fn parse_messaging(
    ctx: &mut Ctx<'_>,
    value: &Value<'_>,
    table: &Table<'_>,
    key: &str,
    templates: &mut Vec<TemplateUse>,
) -> Option<Data> {
    let mut queue_group = None;
    if let Some(v) = table.get("queue_group") {
        let qkey = join(key, "queue_group");
        queue_group = ctx.non_empty_string(v, &qkey);
        if let Some(Err(e)) = queue_group.as_deref().map(check_queue_group) {
            push_syntax_error(ctx, v, &qkey, e);
            queue_group = None;
        }
    }
    let mut broker = Some("default".to_string());
    if let Some(v) = table.get("broker") {
        let bkey = join(key, "broker");
        broker = ctx.string(v, &bkey);
        if let Some(Err(msg)) = broker.as_deref().map(validate::label) {
            let error = ctx.error(&v.span(), &bkey, msg);
            ctx.push(error);
            broker = None;
        }
    }
    let v = ctx.require(table, &value.span(), key, "subject")?;
    let skey = join(key, "subject");
    let subject = ctx.non_empty_string(v, &skey)?;
    let vloc = ctx.loc(&v.span());
    template(ctx, templates, &subject, vloc, &skey);
    // A templated subject is checked when it is expanded (a malformed template
    // has just been reported).
    if !subject.contains("{{")
        && let Err(e) = check_subject(&subject)
    {
        push_syntax_error(ctx, v, &skey, e);
        return None;
    }
    let name_span = table
        .get_key_value("subject")
        .map_or(v.span(), |(k, _)| k.span());
    Some(Data::Messaging {
        subject,
        queue_group,
        broker: broker?,
        loc: ctx.loc(&name_span),
    })
}

/// Reads a cron trigger's `cron_expression`, checking it unless it has a
/// template (checked once expanded, when the trigger loads).
fn parse_cron(
    ctx: &mut Ctx<'_>,
    value: &Value<'_>,
    table: &Table<'_>,
    key: &str,
    templates: &mut Vec<TemplateUse>,
) -> Option<Data> {
    let v = ctx.require(table, &value.span(), key, "cron_expression")?;
    let ekey = join(key, "cron_expression");
    let expression = ctx.non_empty_string(v, &ekey)?;
    let vloc = ctx.loc(&v.span());
    template(ctx, templates, &expression, vloc, &ekey);
    if !expression.contains("{{")
        && let Err(e) = Schedule::parse(&expression)
    {
        let mut error = ctx.error(&v.span(), &ekey, e.to_string());
        if let Some(hint) = e.hint {
            error = error.with_hint(hint);
        }
        ctx.push(error);
        return None;
    }
    let name_span = table
        .get_key_value("cron_expression")
        .map_or(v.span(), |(k, _)| k.span());
    Some(Data::Cron {
        expression,
        loc: ctx.loc(&name_span),
    })
}

fn push_syntax_error(ctx: &mut Ctx<'_>, value: &Value<'_>, key: &str, e: SyntaxError) {
    let mut error = ctx.error(&value.span(), key, e.message);
    if let Some(hint) = e.hint {
        error = error.with_hint(hint);
    }
    ctx.push(error);
}

fn parse_route_value(ctx: &mut Ctx<'_>, value: &Value<'_>, key: &str) -> Option<Route> {
    match value.get_ref() {
        DeValue::String(s) => match parse_route(s) {
            Ok(route) => Some(route),
            Err(e) => {
                let mut error = ctx.error(&value.span(), key, e.message);
                if let Some(hint) = e.hint {
                    error = error.with_hint(hint);
                }
                ctx.push(error);
                None
            }
        },
        DeValue::Table(t) => {
            ctx.check_keys(t, key, &["private"]);
            let flag = ctx.require(t, &value.span(), key, "private")?;
            if ctx.bool(flag, &join(key, "private"))? {
                Some(Route::Private)
            } else {
                let error = ctx
                    .error(
                        &flag.span(),
                        &join(key, "private"),
                        "`private = false` is not a route",
                    )
                    .with_hint("write a route string like \"/api/...\", or `{ private = true }`");
                ctx.push(error);
                None
            }
        }
        _ => {
            ctx.wrong_type(
                value,
                key,
                "a route string like \"/api/...\" or `{ private = true }`",
            );
            None
        }
    }
}

/// Gives every trigger an id and every inline component a generated one, the way
/// Spin does: a trigger is `ID` (its `id` key), else `<component>-<type>-trigger`,
/// else `<type>-triggerN`; an inline component is `<trigger-id>-component`, else
/// `inline-componentN`.
fn assign_ids(pending: &mut [Pending], components: &[DraftComponent]) {
    let mut trigger_ids: HashSet<String> = pending.iter().filter_map(|p| p.id.clone()).collect();
    let mut counters: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ids = Vec::with_capacity(pending.len());
    for p in pending.iter() {
        if let Some(id) = &p.id {
            ids.push(id.clone());
            continue;
        }
        if let Some(Spec::Ref(target)) = &p.spec {
            let natural = format!("{}-{}-trigger", target.id, p.ty);
            if trigger_ids.insert(natural.clone()) {
                ids.push(natural);
                continue;
            }
        }
        let counter = counters.entry(p.ty).or_insert(1);
        loop {
            let id = format!("{}-trigger{counter}", p.ty);
            if trigger_ids.insert(id.clone()) {
                ids.push(id);
                break;
            }
            *counter += 1;
        }
    }
    let mut component_ids: HashSet<String> = components.iter().map(|c| c.id.clone()).collect();
    let mut counter = 1;
    for (p, trigger_id) in pending.iter_mut().zip(ids) {
        let Some(Spec::Inline(c)) = &mut p.spec else {
            continue;
        };
        let natural = format!("{trigger_id}-component");
        let id = if validate::component_id(&natural, ManifestKind::Spin).is_ok()
            && !component_ids.contains(&natural)
        {
            natural
        } else {
            loop {
                let id = format!("inline-component{counter}");
                if !component_ids.contains(&id) {
                    break id;
                }
                counter += 1;
            }
        };
        component_ids.insert(id.clone());
        c.id = id;
    }
}
