//! Integration tests of `skiff-variables`: one binary, a module per area.

mod guests;
mod providers;
mod resolution;
mod secrets;
mod templates;

use std::collections::BTreeMap;
use std::sync::Once;

use skiff_manifest::Variable;
use skiff_variables::{Provider, Resolver, VariablesError};

/// Environment variables the tests read, all with names no other test (or user) uses.
/// The environment is process-global, so they are set once, before any test reads it:
/// every test that touches the environment calls [`env`] first.
const ENV: &[(&str, &str)] = &[
    ("SKIFF_VARIABLE_VT_ENV_SKIFF_ONLY", "from-skiff"),
    ("SPIN_VARIABLE_VT_ENV_SPIN_ONLY", "from-spin"),
    ("SKIFF_VARIABLE_VT_ENV_BOTH", "skiff-wins"),
    ("SPIN_VARIABLE_VT_ENV_BOTH", "spin-loses"),
    ("VTPREFIX_VT_ENV_CUSTOM", "from-custom-prefix"),
    ("SKIFF_VARIABLE_VT_ENV_CUSTOM", "ignored-by-custom-prefix"),
    ("SKIFF_VARIABLE_VT_ORDER_ENV_AND_STATIC", "from-env"),
    ("SKIFF_VARIABLE_VT_ORDER_ENV_AND_DEFAULT", "from-env"),
    ("SKIFF_VARIABLE_VT_GUEST_ENV", "guest-from-env"),
    ("SKIFF_VARIABLE_VT_SECRET_FROM_ENV", "s3cr3t-env-value"),
];

/// Sets [`ENV`], once per process.
pub fn env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (key, value) in ENV {
            // SAFETY: std serialises its own environment accesses, and every test that
            // reads the environment waits on this `Once` before doing so; nothing else
            // in this process reads the environment through libc.
            unsafe { std::env::set_var(key, value) };
        }
    });
}

/// A declared variable with a default.
pub fn default(value: &str) -> Variable {
    Variable {
        default: Some(value.to_string()),
        required: false,
        secret: false,
    }
}

/// A declared `required = true` variable.
pub fn required() -> Variable {
    Variable {
        default: None,
        required: true,
        secret: false,
    }
}

/// A declared `required = true, secret = true` variable.
pub fn required_secret() -> Variable {
    Variable {
        default: None,
        required: true,
        secret: true,
    }
}

/// `[variables]` from `(name, declaration)` pairs.
pub fn vars(entries: &[(&str, Variable)]) -> BTreeMap<String, Variable> {
    entries
        .iter()
        .map(|(name, var)| (name.to_string(), var.clone()))
        .collect()
}

/// A component's `variables` table from `(key, template)` pairs.
pub fn component(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The providers of a runtime config written in TOML.
pub fn providers(toml: &str) -> Vec<Box<dyn Provider>> {
    let table: toml::Table = toml::from_str(toml).expect("test runtime config is TOML");
    skiff_variables::providers_from_runtime_config(&table).expect("test runtime config is valid")
}

/// A resolver with one component, `c`.
pub fn resolver(
    app: &[(&str, Variable)],
    c: &[(&str, &str)],
    runtime_config: &str,
) -> Result<Resolver, VariablesError> {
    Resolver::new(
        &vars(app),
        [("c".to_string(), component(c))],
        providers(runtime_config),
    )
}
