//! What a component dependency that does not inherit its component's
//! configuration gets from the capability interfaces it imports: nothing.
//!
//! Composition renamed those imports into the `skiff-denied` namespace (see
//! `skiff_engine::compose`), so they are apart from the component's own. Each
//! function there answers as an interface answers a component granted nothing,
//! worked out from the function's type alone, so every interface and version
//! is covered:
//! - a `result` whose error has an `access-denied`-like case gets it
//!   (`error::access-denied` of key-value and SQLite, `HTTP-request-denied`
//!   of outbound HTTP, `access-denied` of sockets), else the error's first
//!   case that carries a string (`other`, `upstream`…), saying why;
//! - a `list` is empty (no preopened directories, no environment variables,
//!   no arguments) and an `option` is `none` (no working directory);
//! - anything else — a function that can only hand out a resource — traps,
//!   with a message naming the interface and the way to grant it.
//!
//! The first denied call of each function is logged as a warning (the
//! rest at debug level), so an operator sees what a dependency reached for.
//! Which were warned about is kept with the component ([`DeniedWarnings`]),
//! not with its linker: a staged start links the component again on the
//! pooled engine, and that must not warn again.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, Linker, ResourceType, Val};

use crate::HostState;

/// The namespace composition renames denied imports into.
const DENIED_NAMESPACE: &str = "skiff-denied:";

/// Error cases that mean "not allowed", by preference.
const DENIED_CASES: &[&str] = &[
    "access-denied",
    "HTTP-request-denied",
    "not-permitted",
    "denied",
    "forbidden",
];

/// String-carrying error cases to report the denial in, by preference (else
/// the first case with a string).
const MESSAGE_CASES: &[&str] = &["other", "upstream", "io", "connection-failed"];

/// The resource type standing in for every resource of a denied interface
/// (none is ever handed out).
struct Denied;

/// The denied functions of one component that have been warned about, by
/// name; cloning shares them ([`crate::InstanceConfig::denied_warnings`]).
#[derive(Clone, Default)]
pub struct DeniedWarnings(Arc<Mutex<HashSet<String>>>);

impl DeniedWarnings {
    /// Whether this is the first denied call of `function` (recording it).
    fn first(&self, function: &str) -> bool {
        let mut warned = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if warned.contains(function) {
            return false;
        }
        warned.insert(function.to_string())
    }
}

/// `linker`, plus the denied imports of `component` when it has any (a
/// component composed with dependencies that do not inherit its
/// configuration); borrowed as it is otherwise. `warnings` records which
/// denied functions were warned about.
pub fn linker_for<'l>(
    linker: &'l Linker<HostState>,
    component: &Component,
    warnings: &DeniedWarnings,
) -> Result<Cow<'l, Linker<HostState>>> {
    let engine = component.engine();
    let ty = component.component_type();
    let imports: Vec<_> = ty.imports(engine).collect();
    if !imports
        .iter()
        .any(|(name, _)| name.starts_with(DENIED_NAMESPACE))
    {
        return Ok(Cow::Borrowed(linker));
    }
    // Resources a denied interface only uses (`use types.{outgoing-request}`)
    // are the ones another import defines, already linked: only those it
    // defines itself get a stand-in.
    let mut seen: Vec<ResourceType> = imports
        .iter()
        .filter(|(name, _)| !name.starts_with(DENIED_NAMESPACE))
        .filter_map(|(_, item)| match &item.ty {
            ComponentItem::ComponentInstance(instance) => Some(instance.exports(engine)),
            _ => None,
        })
        .flatten()
        .filter_map(|(_, item)| match item.ty {
            ComponentItem::Resource(r) => Some(r),
            _ => None,
        })
        .collect();
    let denied: Vec<_> = imports
        .into_iter()
        .filter(|(name, _)| name.starts_with(DENIED_NAMESPACE))
        .collect();
    let mut linker = linker.clone();
    let concurrent = engine.get_concurrency_support();
    for (name, item) in denied {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let original = original_name(name);
        let mut defs = linker.instance(name).map_err(anyhow::Error::from)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(ty) => {
                    let function = format!("{original}#{export}");
                    let warned = warnings.clone();
                    if ty.async_() && concurrent {
                        defs.func_new_concurrent(export, move |_, ty, _, results| {
                            let answer = deny(&function, &warned, &ty, results)
                                .map_err(wasmtime::Error::from_anyhow);
                            Box::pin(async move { answer })
                        })
                        .map_err(anyhow::Error::from)?;
                    } else {
                        defs.func_new(export, move |_, ty, _, results| {
                            deny(&function, &warned, &ty, results)
                                .map_err(wasmtime::Error::from_anyhow)
                        })
                        .map_err(anyhow::Error::from)?;
                    }
                }
                ComponentItem::Resource(resource) => {
                    if seen.contains(&resource) {
                        continue;
                    }
                    seen.push(resource);
                    defs.resource(export, ResourceType::host::<Denied>(), |_, _| Ok(()))
                        .map_err(anyhow::Error::from)?;
                }
                _ => {}
            }
        }
    }
    Ok(Cow::Owned(linker))
}

/// The interface a denied import was renamed from:
/// `skiff-denied:fermyon-spin/key-value@2.0.0` → `fermyon:spin/key-value@2.0.0`.
fn original_name(denied: &str) -> String {
    let rest = denied.strip_prefix(DENIED_NAMESPACE).unwrap_or(denied);
    let (package, interface) = rest.split_once('/').unwrap_or((rest, ""));
    let package = match package.split_once('-') {
        Some((namespace, name)) => format!("{namespace}:{name}"),
        None => package.to_string(),
    };
    format!("{package}/{interface}")
}

/// Answers a denied call of `function` (typed `ty`) in `results`, or traps.
/// The first answered call of each function is logged as a warning (`warned`
/// records it), later ones at debug level.
fn deny(
    function: &str,
    warned: &DeniedWarnings,
    ty: &ComponentFunc,
    results: &mut [Val],
) -> Result<()> {
    let why = format!(
        "a component dependency that does not inherit its component's configuration may not \
         use `{function}`"
    );
    let answer = ty.results().next().and_then(|t| denied_value(&t, &why));
    match (answer, results.first_mut()) {
        (Some(value), Some(slot)) => {
            let hint = "set `inherit_configuration = true` on the dependency to grant it";
            if warned.first(function) {
                tracing::warn!("denied: {why} ({hint}; further calls are logged at debug level)");
            } else {
                tracing::debug!("denied: {why} ({hint})");
            }
            *slot = value;
            Ok(())
        }
        _ => anyhow::bail!(
            "{why}; set `inherit_configuration = true` on the dependency in the manifest to \
             grant it the component's configuration"
        ),
    }
}

/// What a function returning `ty` returns when nothing is granted, if it can
/// say so without a resource.
fn denied_value(ty: &Type, why: &str) -> Option<Val> {
    match ty {
        Type::List(_) => Some(Val::List(Vec::new())),
        Type::Option(_) => Some(Val::Option(None)),
        Type::Result(result) => match result.err() {
            None => Some(Val::Result(Err(None))),
            Some(err) => denied_error(&err, why).map(|v| Val::Result(Err(Some(Box::new(v))))),
        },
        _ => None,
    }
}

/// The error value meaning "denied" in error type `ty`, if it has one.
fn denied_error(ty: &Type, why: &str) -> Option<Val> {
    match ty {
        Type::String => Some(Val::String(why.to_string())),
        Type::Enum(e) => {
            let names: Vec<&str> = e.names().collect();
            DENIED_CASES
                .iter()
                .find(|case| names.contains(case))
                .map(|case| Val::Enum(case.to_string()))
        }
        Type::Variant(v) => {
            let cases: Vec<_> = v.cases().collect();
            if let Some(case) = DENIED_CASES
                .iter()
                .find_map(|name| cases.iter().find(|c| c.name == *name && c.ty.is_none()))
            {
                return Some(Val::Variant(case.name.to_string(), None));
            }
            let carries_string =
                |c: &&wasmtime::component::types::Case<'_>| matches!(c.ty, Some(Type::String));
            MESSAGE_CASES
                .iter()
                .find_map(|name| {
                    cases
                        .iter()
                        .filter(carries_string)
                        .find(|c| c.name == *name)
                })
                .or_else(|| cases.iter().find(carries_string))
                .map(|case| {
                    Val::Variant(
                        case.name.to_string(),
                        Some(Box::new(Val::String(why.to_string()))),
                    )
                })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_names_map_back() {
        assert_eq!(
            original_name("skiff-denied:fermyon-spin/key-value@2.0.0"),
            "fermyon:spin/key-value@2.0.0"
        );
        assert_eq!(
            original_name("skiff-denied:wasi-http/outgoing-handler@0.2.6"),
            "wasi:http/outgoing-handler@0.2.6"
        );
    }
}
