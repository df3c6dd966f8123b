//! Spin's manifest v1 (`spin_manifest_version = "1"`, or the older
//! `spin_version = "1"`), read as Spin 2 and later read it: turned into the
//! v2 shape, then parsed as any `spin.toml`.
//!
//! ```toml
//! spin_manifest_version = "1"
//! name = "hello"
//! trigger = { type = "http", base = "/" }
//! [[component]]
//! id = "hello"
//! source = "hello.wasm"
//! allowed_http_hosts = ["api.example.com"]
//! [component.trigger]
//! route = "/hello"
//! [component.config]
//! greeting = "{{ greeting }}"
//! ```
//!
//! - `name`, `version`, `description`, `authors` → `[application]`;
//!   `[variables]` as they are;
//! - the app's `trigger` → `[application.trigger.<type>]` (`http` or
//!   `redis`); an HTTP `base` other than `/` is put before every route;
//! - each `[[component]]` → `[component.<id>]` (an id with `_` or capitals
//!   made kebab-case, as Spin does), its `config` → `variables`, and its
//!   `[component.trigger]` → a `[[trigger.http]]` (`route`, `executor`) or
//!   `[[trigger.redis]]` (`channel`) naming it;
//! - a component without `allowed_outbound_hosts` may reach any Redis, MySQL
//!   and PostgreSQL server, which v1 did not restrict (Spin does the same);
//!   `allowed_http_hosts` is converted as in v2.
//!
//! Every value keeps its place in the file, so errors found later point at
//! the v1 line; their key paths are the v2 ones (`component.hello.source`).

use std::borrow::Cow;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeValue};

use crate::raw::{Ctx, Table, Value, join};

/// The keys of a v1 manifest's root.
const ROOT_KEYS: &[&str] = &[
    "spin_manifest_version",
    "spin_version",
    "name",
    "version",
    "description",
    "authors",
    "trigger",
    "variables",
    "component",
];

/// The keys of a v1 `[[component]]`.
const COMPONENT_KEYS: &[&str] = &[
    "id",
    "source",
    "description",
    "environment",
    "files",
    "exclude_files",
    "allowed_http_hosts",
    "allowed_outbound_hosts",
    "key_value_stores",
    "sqlite_databases",
    "ai_models",
    "build",
    "config",
    "trigger",
];

/// The v2 document a v1 manifest means; errors (unknown keys, a missing
/// trigger or id, an unknown trigger type) are reported in `ctx`.
pub(crate) fn to_v2<'i>(ctx: &mut Ctx<'_>, root: &Table<'i>, span: Range<usize>) -> Table<'i> {
    ctx.check_keys(root, "", ROOT_KEYS);
    // The version was checked already; the v2 document needs none.
    let mut v2 = Table::new();

    let mut application = Table::new();
    for name in ["name", "version", "description", "authors"] {
        if let Some((k, v)) = root.get_key_value(name) {
            application.insert(k.clone(), v.clone());
        }
    }

    let (kind, base) = match app_trigger(ctx, root, &span, &mut application) {
        Some(found) => found,
        None => {
            v2.insert(key("application", &span), table(&span, application));
            return v2;
        }
    };
    v2.insert(key("application", &span), table(&span, application));
    if let Some((k, v)) = root.get_key_value("variables") {
        v2.insert(k.clone(), v.clone());
    }

    let mut components = Table::new();
    let mut triggers = DeArray::new();
    if let Some(list) = root.get("component") {
        let Some(list) = ctx.array(list, "component", "an array of `[[component]]` tables") else {
            return v2;
        };
        for (i, entry) in list.iter().enumerate() {
            let path = format!("component[{i}]");
            let Some(c) = ctx.table(entry, &path, "a `[[component]]` table") else {
                continue;
            };
            if let Some((id, component, trigger)) =
                component_to_v2(ctx, c, &entry.span(), &path, kind, base.as_deref())
            {
                if components.contains_key(id.get_ref().as_ref()) {
                    let error = ctx.error(
                        &id.span(),
                        &join(&path, "id"),
                        format!(
                            "a second component has the id `{}` (ids are made kebab-case)",
                            id.get_ref()
                        ),
                    );
                    ctx.push(error);
                    continue;
                }
                components.insert(id, component);
                triggers.push(trigger);
            }
        }
    }
    let mut trigger = Table::new();
    trigger.insert(
        key(kind, &span),
        Spanned::new(span.clone(), DeValue::Array(triggers)),
    );
    v2.insert(key("trigger", &span), table(&span, trigger));
    v2.insert(key("component", &span), table(&span, components));
    v2
}

/// Reads the app's `trigger = { type = "http", base = "/" }` (or
/// `{ type = "redis", address = "…" }`) into `application.trigger`; returns
/// the type and the HTTP base.
fn app_trigger<'i>(
    ctx: &mut Ctx<'_>,
    root: &Table<'i>,
    span: &Range<usize>,
    application: &mut Table<'i>,
) -> Option<(&'static str, Option<String>)> {
    let Some(value) = root.get("trigger") else {
        let error = ctx
            .error(span, "trigger", "a v1 manifest needs the app's `trigger`")
            .with_hint("add `trigger = { type = \"http\", base = \"/\" }`");
        ctx.push(error);
        return None;
    };
    let t = ctx.table(
        value,
        "trigger",
        "a table like `{ type = \"http\", base = \"/\" }`",
    )?;
    let ty = ctx.require(t, &value.span(), "trigger", "type")?;
    let kind = match ctx.string(ty, "trigger.type")?.as_str() {
        "http" => "http",
        "redis" => "redis",
        other => {
            let error = ctx
                .error(
                    &ty.span(),
                    "trigger.type",
                    format!("the v1 trigger type `{other}` is not supported"),
                )
                .with_hint("a v1 app's trigger is `http` or `redis`");
            ctx.push(error);
            return None;
        }
    };
    let mut base = None;
    let mut settings = Table::new();
    match kind {
        "http" => {
            ctx.check_keys(t, "trigger", &["type", "base"]);
            if let Some(b) = t.get("base") {
                base = ctx.string(b, "trigger.base");
            }
        }
        _ => {
            ctx.check_keys(t, "trigger", &["type", "address"]);
            if let Some((k, v)) = t.get_key_value("address") {
                settings.insert(k.clone(), v.clone());
            }
        }
    }
    if !settings.is_empty() {
        let mut by_type = Table::new();
        by_type.insert(key(kind, &value.span()), table(&value.span(), settings));
        application.insert(key("trigger", &value.span()), table(&value.span(), by_type));
    }
    Some((kind, base))
}

/// One `[[component]]` as a v2 `[component.<id>]` and the trigger entry
/// that names it.
fn component_to_v2<'i>(
    ctx: &mut Ctx<'_>,
    c: &Table<'i>,
    span: &Range<usize>,
    path: &str,
    kind: &'static str,
    base: Option<&str>,
) -> Option<(Spanned<Cow<'i, str>>, Value<'i>, Value<'i>)> {
    ctx.check_keys(c, path, COMPONENT_KEYS);
    let id_value = ctx.require(c, span, path, "id")?;
    let raw_id = ctx.non_empty_string(id_value, &join(path, "id"))?;
    // As Spin: `my_component` and `MyComponent` become kebab-case.
    let id = raw_id.replace('_', "-").to_lowercase();

    let mut component = Table::new();
    for (k, v) in c.iter() {
        match k.get_ref().as_ref() {
            "id" | "trigger" => {}
            "config" => {
                component.insert(key("variables", &k.span()), v.clone());
            }
            _ => {
                component.insert(k.clone(), v.clone());
            }
        }
    }
    if c.get("allowed_outbound_hosts").is_none() {
        let mut hosts = DeArray::new();
        for host in ["redis://*:*", "mysql://*:*", "postgres://*:*"] {
            hosts.push(Spanned::new(
                span.clone(),
                DeValue::String(Cow::Borrowed(host)),
            ));
        }
        component.insert(
            key("allowed_outbound_hosts", span),
            Spanned::new(span.clone(), DeValue::Array(hosts)),
        );
    }

    let trigger_path = join(path, "trigger");
    let Some(t) = c.get("trigger") else {
        let what = if kind == "http" { "route" } else { "channel" };
        let error = ctx
            .error(
                span,
                &trigger_path,
                format!("component `{raw_id}` has no trigger"),
            )
            .with_hint(format!("add `[component.trigger]` with its `{what}`"));
        ctx.push(error);
        return None;
    };
    let t_table = ctx.table(t, &trigger_path, "a table")?;
    let mut entry = Table::new();
    match kind {
        "http" => {
            ctx.check_keys(t_table, &trigger_path, &["route", "executor"]);
            let route = ctx.require(t_table, &t.span(), &trigger_path, "route")?;
            let text = ctx.string(route, &join(&trigger_path, "route"))?;
            entry.insert(
                key("route", &route.span()),
                Spanned::new(
                    route.span(),
                    DeValue::String(Cow::Owned(with_base(base, &text))),
                ),
            );
            if let Some((k, v)) = t_table.get_key_value("executor") {
                entry.insert(k.clone(), v.clone());
            }
        }
        _ => {
            ctx.check_keys(t_table, &trigger_path, &["channel"]);
            let (k, v) = t_table.get_key_value("channel").or_else(|| {
                ctx.require(t_table, &t.span(), &trigger_path, "channel");
                None
            })?;
            entry.insert(k.clone(), v.clone());
        }
    }
    entry.insert(
        key("component", &id_value.span()),
        Spanned::new(id_value.span(), DeValue::String(Cow::Owned(id.clone()))),
    );
    Some((
        Spanned::new(id_value.span(), Cow::Owned(id)),
        table(span, component),
        table(&t.span(), entry),
    ))
}

/// `route` under the v1 HTTP `base` (`/api` + `/users` → `/api/users`).
fn with_base(base: Option<&str>, route: &str) -> String {
    let base = base.unwrap_or("/").trim_end_matches('/');
    let rest = route.trim_start_matches('/');
    match (base.is_empty(), rest.is_empty()) {
        (true, true) => "/".into(),
        (true, false) => format!("/{rest}"),
        (false, true) => base.to_string(),
        (false, false) => format!("{base}/{rest}"),
    }
}

fn key<'i>(name: &'static str, span: &Range<usize>) -> Spanned<Cow<'i, str>> {
    Spanned::new(span.clone(), Cow::Borrowed(name))
}

fn table<'i>(span: &Range<usize>, t: Table<'i>) -> Value<'i> {
    Spanned::new(span.clone(), DeValue::Table(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_go_under_the_base() {
        assert_eq!(with_base(None, "/hello"), "/hello");
        assert_eq!(with_base(Some("/"), "/..."), "/...");
        assert_eq!(with_base(Some("/api"), "/users"), "/api/users");
        assert_eq!(with_base(Some("/api/"), "/..."), "/api/...");
        assert_eq!(with_base(Some("/api"), "/"), "/api");
        assert_eq!(with_base(Some("/"), "/"), "/");
    }
}
