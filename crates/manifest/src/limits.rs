//! Skiff's `[application.limits]` and `[component.ID.limits]` tables.

use std::time::Duration;

use toml::de::DeValue;

use crate::model::Limits;
use crate::raw::{Ctx, Value, join};
use crate::units::{parse_duration, parse_size};

/// Limits as written in one table; unset fields fall back to the enclosing level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PartialLimits {
    pub memory: Option<u64>,
    pub timeout: Option<Duration>,
    pub max_concurrency: Option<u32>,
    pub max_body: Option<u64>,
}

impl PartialLimits {
    /// These limits, with unset fields taken from `outer` and then from the defaults.
    pub(crate) fn resolve(self, outer: PartialLimits) -> Limits {
        let defaults = Limits::default();
        Limits {
            memory: self.memory.or(outer.memory).unwrap_or(defaults.memory),
            timeout: self.timeout.or(outer.timeout).unwrap_or(defaults.timeout),
            max_concurrency: self
                .max_concurrency
                .or(outer.max_concurrency)
                .or(defaults.max_concurrency),
            max_body: self
                .max_body
                .or(outer.max_body)
                .unwrap_or(defaults.max_body),
        }
    }
}

/// Reads `[application.limits]` or `[component.ID.limits]`.
pub(crate) fn parse_limits(ctx: &mut Ctx<'_>, value: &Value<'_>, key: &str) -> PartialLimits {
    let mut limits = PartialLimits::default();
    let Some(table) = ctx.table(
        value,
        key,
        "a table of limits (`memory`, `timeout`, `max_concurrency`, `max_body`)",
    ) else {
        return limits;
    };
    ctx.check_keys(
        table,
        key,
        &["memory", "timeout", "max_concurrency", "max_body"],
    );
    for (name, v) in table.iter() {
        let name: &str = name.get_ref();
        let k = join(key, name);
        match name {
            "memory" | "max_body" => {
                let Some(s) = size_string(ctx, v, &k) else {
                    continue;
                };
                match parse_size(&s) {
                    Ok(n) if name == "memory" && n < 64 * 1024 => {
                        let error = ctx.error(
                            &v.span(),
                            &k,
                            format!("memory limit `{s}` is below one WebAssembly page (64KiB)"),
                        );
                        ctx.push(error);
                    }
                    Ok(n) if name == "memory" => limits.memory = Some(n),
                    Ok(n) => limits.max_body = Some(n),
                    Err(msg) => {
                        let error = ctx.error(&v.span(), &k, msg);
                        ctx.push(error);
                    }
                }
            }
            "timeout" => {
                let Some(s) = ctx.string(v, &k) else { continue };
                match parse_duration(&s) {
                    Ok(d) if d.is_zero() => {
                        let error = ctx.error(&v.span(), &k, "timeout must be greater than zero");
                        ctx.push(error);
                    }
                    Ok(d) => limits.timeout = Some(d),
                    Err(msg) => {
                        let error = ctx.error(&v.span(), &k, msg);
                        ctx.push(error);
                    }
                }
            }
            "max_concurrency" => {
                let Some(n) = ctx.integer(v, &k) else {
                    continue;
                };
                match u32::try_from(n) {
                    Ok(n) if n >= 1 => limits.max_concurrency = Some(n),
                    _ => {
                        let error = ctx.error(
                            &v.span(),
                            &k,
                            format!(
                                "max_concurrency must be an integer from 1 to {}, found {n}",
                                u32::MAX
                            ),
                        );
                        ctx.push(error);
                    }
                }
            }
            _ => {} // reported by check_keys
        }
    }
    limits
}

/// A size must be written as a string with a unit, so `memory = 64` is not read as bytes by accident.
fn size_string(ctx: &mut Ctx<'_>, value: &Value<'_>, key: &str) -> Option<String> {
    match value.get_ref() {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => {
            let error = ctx
                .error(
                    &value.span(),
                    key,
                    "expected a size string like \"64MiB\", found an integer",
                )
                .with_hint(format!(
                    "write the unit: `\"{i}MiB\"`, or `\"{i}B\"` for bytes"
                ));
            ctx.push(error);
            None
        }
        _ => {
            ctx.wrong_type(value, key, "a size string like \"64MiB\"");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_fall_back_level_by_level() {
        let component = PartialLimits {
            memory: Some(1 << 20),
            ..Default::default()
        };
        let app = PartialLimits {
            memory: Some(2 << 20),
            timeout: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let limits = component.resolve(app);
        assert_eq!(limits.memory, 1 << 20);
        assert_eq!(limits.timeout, Duration::from_secs(5));
        assert_eq!(limits.max_concurrency, None);
        assert_eq!(limits.max_body, Limits::default().max_body);
    }
}
