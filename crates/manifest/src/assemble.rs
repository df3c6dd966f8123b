//! Checks that need the whole manifest (references between triggers,
//! components and variables; duplicate routes; files on disk), then builds the [`App`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use crate::component::DraftComponent;
use crate::files::resolve_files;
use crate::model::{
    App, Component, CronTrigger, HttpTrigger, MessagingTrigger, MqttTrigger, RedisTrigger,
};
use crate::parse::{Draft, Schema, Target};
use crate::raw::Ctx;
use crate::route::match_key;
use crate::suggest;

/// Cross-checks `draft` and turns it into an [`App`]; problems are collected in `ctx`.
pub(crate) fn assemble(
    ctx: &mut Ctx<'_>,
    schema: &Schema,
    draft: Draft,
    manifest_path: PathBuf,
    base_dir: PathBuf,
    strict: bool,
) -> App {
    let ids: Vec<&str> = draft.components.iter().map(|c| c.id.as_str()).collect();
    let targets = draft
        .http
        .iter()
        .filter_map(|t| t.target.as_ref())
        .chain(draft.redis.iter().map(|t| &t.target))
        .chain(draft.messaging.iter().map(|t| &t.target))
        .chain(draft.cron.iter().map(|t| &t.target))
        .chain(draft.mqtt.iter().map(|t| &t.target));
    let mut used = HashSet::new();
    for target in targets {
        check_target(ctx, target, &ids);
        used.insert(target.id.as_str());
    }
    // A component may serve as another's dependency (`component = "ID"`).
    for c in &draft.components {
        for d in &c.dependencies {
            if let crate::DependencySource::Component { id, .. } = &d.dependency.source {
                used.insert(id.as_str());
            }
        }
    }
    for c in &draft.components {
        if !used.contains(c.id.as_str()) {
            let error = ctx
                .error_at(
                    c.loc,
                    &c.key,
                    format!("component `{}` is not used by any trigger", c.id),
                )
                .with_hint(format!(
                    "add a [[trigger.http]] with component = \"{}\", name it in a \
                     component's dependencies (`component = \"{}\"`), or remove it",
                    c.id, c.id
                ));
            ctx.push(error);
        }
    }
    check_routes(ctx, &draft);
    check_templates(ctx, &draft);
    for t in &draft.redis {
        if t.address.is_none() && draft.redis_address.is_none() {
            let error = ctx
                .error_at(t.channel_loc, &t.key, format!("the redis trigger for channel `{}` has no address", t.channel))
                .with_hint("set `address = \"redis://…\"` on the trigger, or `address` in [application.trigger.redis]");
            ctx.push(error);
        }
    }
    for t in &draft.mqtt {
        if t.address.is_none() && draft.mqtt_settings.address.is_none() {
            let hint = match schema.kind {
                crate::ManifestKind::Spin => {
                    "set `address = \"mqtt://…\"` in [application.trigger.mqtt]"
                }
                crate::ManifestKind::Skiff => {
                    "set `address = \"mqtt://…\"` in [application.trigger.mqtt], or on the trigger"
                }
            };
            let error = ctx
                .error_at(
                    t.topic_loc,
                    &t.key,
                    format!(
                        "the mqtt trigger for topic `{}` has no broker address",
                        t.topic
                    ),
                )
                .with_hint(hint);
            ctx.push(error);
        }
    }

    let mut components = BTreeMap::new();
    for c in &draft.components {
        if let (Some(build), Some(loc)) = (&c.build, c.workdir_loc)
            && !build.workdir.is_dir()
        {
            let error = ctx.error_at(
                loc,
                &format!("{}.build.workdir", c.key),
                format!("build directory {} does not exist", build.workdir.display()),
            );
            ctx.push(error);
        }
        let files = resolve_files(ctx, &base_dir, c, strict);
        let dependencies = resolve_dependencies(ctx, &draft.components, c);
        components.insert(
            c.id.clone(),
            Component {
                id: c.id.clone(),
                key: c.key.clone(),
                description: c.description.clone(),
                source: c.source.clone(),
                source_line: c.source_line,
                files,
                environment: c.environment.clone(),
                allowed_outbound_hosts: c.allowed_outbound_hosts.clone(),
                key_value_stores: c.key_value_stores.clone(),
                sqlite_databases: c.sqlite_databases.clone(),
                message_brokers: c.message_brokers.clone(),
                blob_store: c.blob_store.clone(),
                variables: c.variables.clone(),
                build: c.build.clone(),
                limits: c.limits.resolve(draft.limits),
                dependencies,
            },
        );
    }
    App {
        manifest_path,
        base_dir,
        kind: schema.kind,
        name: draft.name,
        version: draft.version,
        description: draft.description,
        authors: draft.authors,
        variables: draft.variables,
        http_triggers: draft
            .http
            .into_iter()
            .map(|t| HttpTrigger {
                route: t.route,
                component: t.target.map(|t| t.id).unwrap_or_default(),
                static_response: t.static_response,
                line: t.route_loc.line,
            })
            .collect(),
        redis_triggers: draft
            .redis
            .into_iter()
            .map(|t| RedisTrigger {
                channel: t.channel,
                address: t.address,
                component: t.target.id,
                line: t.channel_loc.line,
            })
            .collect(),
        redis_address: draft.redis_address,
        messaging_triggers: draft
            .messaging
            .into_iter()
            .map(|t| MessagingTrigger {
                subject: t.subject,
                queue_group: t.queue_group,
                broker: t.broker,
                component: t.target.id,
                line: t.subject_loc.line,
            })
            .collect(),
        cron_triggers: draft
            .cron
            .into_iter()
            .map(|t| CronTrigger {
                expression: t.expression,
                component: t.target.id,
                line: t.expression_loc.line,
            })
            .collect(),
        mqtt_triggers: draft
            .mqtt
            .into_iter()
            .map(|t| MqttTrigger {
                topic: t.topic,
                qos: t.qos,
                address: t.address,
                component: t.target.id,
                line: t.topic_loc.line,
            })
            .collect(),
        mqtt: draft.mqtt_settings,
        components,
    }
}

fn check_target(ctx: &mut Ctx<'_>, target: &Target, ids: &[&str]) {
    if ids.contains(&target.id.as_str()) {
        return;
    }
    let hint = match suggest::closest(&target.id, ids.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None if ids.is_empty() => format!("add a [component.{}] table", target.id),
        None => format!(
            "components in this manifest: {}",
            suggest::list(ids.iter().copied())
        ),
    };
    let error = ctx
        .error_at(
            target.loc,
            &target.key,
            format!(
                "no component `{}` (there is no [component.{}] table)",
                target.id, target.id
            ),
        )
        .with_hint(hint);
    ctx.push(error);
}

/// Two HTTP triggers may not match the same requests.
fn check_routes(ctx: &mut Ctx<'_>, draft: &Draft) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, t) in draft.http.iter().enumerate() {
        let Some(key) = match_key(&t.route) else {
            continue;
        };
        let Some(&first) = seen.get(&key) else {
            seen.insert(key, i);
            continue;
        };
        let a = &draft.http[first];
        let what = |t: &crate::parse::DraftHttp| match &t.target {
            Some(target) => format!("component `{}`", target.id),
            None => "a static response".to_string(),
        };
        let message = if a.route == t.route {
            format!(
                "route `{}` is used by {} (line {}) and {} (line {})",
                t.route,
                what(a),
                a.route_loc.line,
                what(t),
                t.route_loc.line
            )
        } else {
            format!(
                "routes `{}` ({}, line {}) and `{}` ({}, line {}) match the same requests",
                a.route,
                what(a),
                a.route_loc.line,
                t.route,
                what(t),
                t.route_loc.line
            )
        };
        let error = ctx
            .error_at(t.route_loc, &format!("{}.route", t.key), message)
            .with_hint("each route can belong to one trigger only: change or remove one of them");
        ctx.push(error);
    }
}

/// Every `{{ name }}` must name a declared `[variables]` entry.
fn check_templates(ctx: &mut Ctx<'_>, draft: &Draft) {
    let uses = draft
        .templates
        .iter()
        .chain(draft.components.iter().flat_map(|c| &c.templates));
    let declared: Vec<&str> = draft.variables.keys().map(String::as_str).collect();
    let mut errors = Vec::new();
    for u in uses {
        for name in &u.names {
            if declared.contains(&name.as_str()) {
                continue;
            }
            let hint = match suggest::closest(name, declared.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("declare it: [variables] {name} = {{ default = \"…\" }}"),
            };
            errors.push(
                ctx.error_at(
                    u.loc,
                    &u.key,
                    format!("`{{{{ {name} }}}}` refers to undeclared variable `{name}`"),
                )
                .with_hint(hint),
            );
        }
    }
    ctx.errors.extend(errors);
}

/// `c`'s dependencies, each `component = "ID"` given that component's source.
fn resolve_dependencies(
    ctx: &mut Ctx<'_>,
    components: &[DraftComponent],
    c: &DraftComponent,
) -> Vec<crate::Dependency> {
    let mut out = Vec::with_capacity(c.dependencies.len());
    for draft in &c.dependencies {
        let mut dependency = draft.dependency.clone();
        if let crate::DependencySource::Component { id, source } = &mut dependency.source {
            let key = format!("{}.component", dependency.key);
            let loc = draft.component_loc.unwrap_or(c.loc);
            if *id == c.id {
                let error = ctx.error_at(
                    loc,
                    &key,
                    format!("component `{id}` cannot depend on itself"),
                );
                ctx.push(error);
                continue;
            }
            match components.iter().find(|other| other.id == *id) {
                Some(other) => *source = other.source.clone(),
                None => {
                    let mut error = ctx.error_at(
                        loc,
                        &key,
                        format!("the manifest defines no component `{id}`"),
                    );
                    if let Some(close) =
                        crate::suggest::closest(id, components.iter().map(|o| o.id.as_str()))
                    {
                        error = error.with_hint(format!("did you mean `{close}`?"));
                    }
                    ctx.push(error);
                    continue;
                }
            }
        }
        out.push(dependency);
    }
    out
}
