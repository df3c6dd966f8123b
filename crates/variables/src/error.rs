//! [`VariablesError`]: what can go wrong resolving variables.
//!
//! No variant carries a variable's value: errors name variables, components,
//! providers and runtime-config keys only, so they are safe to print even when the
//! variable is a secret.

/// An error from building a [`Resolver`](crate::Resolver), reading the runtime config,
/// or resolving a variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VariablesError {
    /// A name that is not a valid variable name (see [`validate_name`](crate::validate_name)).
    /// Guests get the interface's `invalid-name` error.
    #[error("invalid variable name `{name}`: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A name the application's `[variables]` does not declare.
    #[error("variable `{name}` is not declared in the application's [variables]")]
    Undeclared {
        /// The name.
        name: String,
    },

    /// A declared variable no provider has a value for, and which has no `default`.
    /// Guests get the interface's `undefined` error.
    #[error(
        "variable `{name}` has no value: set {} or give it a `default`",
        crate::provider::env_hint(name)
    )]
    NoValue {
        /// The variable.
        name: String,
    },

    /// `required = true` variables that no provider has a value for (found by
    /// [`Resolver::check_required`](crate::Resolver::check_required)).
    #[error(
        "required variable{} {} {} no value: set {} (or add {} to a `static` variables provider in the runtime config)",
        if .names.len() == 1 { "" } else { "s" },
        crate::error::list(.names),
        if .names.len() == 1 { "has" } else { "have" },
        crate::error::list_env(.names),
        if .names.len() == 1 { "it" } else { "them" }
    )]
    MissingRequired {
        /// The variables, sorted.
        names: Vec<String>,
    },

    /// A component's `variables` entry that is not a valid template.
    #[error("component `{component}` variable `{key}`: {reason}")]
    InvalidTemplate {
        /// The component id.
        component: String,
        /// The key in the component's `variables` table.
        key: String,
        /// What is wrong (never the template's text, which may hold a secret literal).
        reason: String,
    },

    /// A provider failed while looking a variable up. Guests get the interface's
    /// provider (Spin) or upstream (wasi:config) error.
    #[error("variables provider `{provider}` failed to look up `{name}`: {message}")]
    Provider {
        /// Which provider (e.g. `env`).
        provider: String,
        /// The variable being looked up.
        name: String,
        /// What went wrong (providers never put values here).
        message: String,
    },

    /// A bad `[[variables_provider]]` entry in the runtime config.
    #[error("runtime config `{key}`: {message}")]
    RuntimeConfig {
        /// The dotted key, e.g. `variables_provider[1].type`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// `` `a`, `b` and `c` ``.
pub(crate) fn list(names: &[String]) -> String {
    join(names.iter().map(|n| format!("`{n}`")))
}

/// `` `SKIFF_VARIABLE_A` and `SKIFF_VARIABLE_B` ``.
pub(crate) fn list_env(names: &[String]) -> String {
    join(names.iter().map(|n| crate::provider::env_hint(n)))
}

fn join(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
