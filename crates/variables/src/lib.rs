//! Application variables and secrets for Skiff guests.
//!
//! An application declares variables in its manifest (`[variables]`, each with a
//! `default`, or `required = true`, optionally `secret = true`); each component exposes
//! some of them to its guest through its own `variables = { key = "text {{ var }}" }`
//! templates. The operator supplies values through **providers** chosen in the runtime
//! config; the app never names one.
//!
//! # Resolution order
//!
//! A guest asks for one of *its component's* keys (a component may also set a plain
//! literal that no `[variables]` entry declares, as in Spin). The key's template is
//! expanded on every call; each `{{ var }}` in it takes the first value found in:
//!
//! 1. the runtime config's `[[variables_provider]]` entries, in the order written
//!    (`type = "static"` with `values = { name = "…" }`, or `type = "env"`);
//! 2. the environment — `SKIFF_VARIABLE_<NAME>`, then Spin's `SPIN_VARIABLE_<NAME>`
//!    (`SKIFF_` wins when both are set) — unless the config already placed an `env`
//!    entry (which may set its own `prefix`) somewhere in step 1;
//! 3. the variable's `default` in the manifest.
//!
//! A `required` variable with no value fails the load ([`Resolver::check_required`]);
//! any other variable with no value gives the guest the interface's `undefined` error.
//! Templates use Spin's syntax: `{{ name }}` with optional whitespace, no escape for a
//! literal `{{`. See `docs/variables.md`.
//!
//! # Secrets
//!
//! Values travel as [`Value`], whose `Debug`/`Display` print `<redacted>`; errors
//! ([`VariablesError`]) and logs name variables, never values; the `Debug` of the
//! [`Resolver`] and providers shows names only.
//!
//! # Interfaces
//!
//! [`add_to_linker`] links, all on one [`Resolver`] (see [`bindings`]):
//! `wasi:config/store@0.2.0-rc.1` (wasmtime 48, wasmCloud), `wasi:config/store@0.2.0-draft`
//! (older wasmtime and wasmCloud guests), `wasi:config/store@0.2.0-draft-2024-09-27`
//! (spin-sdk), `fermyon:spin/variables@2.0.0` and, with the default `spin3` feature,
//! `spin:variables/variables@3.0.0`. The `spin3` feature turns on wasmtime's
//! `component-model-async`, because that interface's `get` is an `async func`.
//!
//! | outcome | Spin `get` | `wasi:config` `get` |
//! |---|---|---|
//! | value | `ok(value)` | `ok(some(value))` |
//! | component has no such key | `undefined` | `ok(none)` |
//! | template needs a variable with no value | `undefined` | `ok(none)` |
//! | invalid name | `invalid-name` | `ok(none)` |
//! | provider failed | `provider` | `upstream` |
//!
//! `wasi:config`'s `get-all` returns the component's keys that have values.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use skiff_variables::{Resolver, VariablesState, providers_from_runtime_config};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
//! let mut app_vars = BTreeMap::new();
//! app_vars.insert("greeting".to_string(), skiff_manifest::Variable {
//!     default: Some("hello".into()), required: false, secret: false,
//! });
//! let component_vars = BTreeMap::from([("message".to_string(), "{{ greeting }}, world".to_string())]);
//! let runtime_config: toml::Table = toml::from_str(r#"
//!     [[variables_provider]]
//!     type = "static"
//!     values = { greeting = "howdy" }
//! "#)?;
//! let resolver = Resolver::new(
//!     &app_vars,
//!     [("hello".to_string(), component_vars)],
//!     providers_from_runtime_config(&runtime_config)?,
//! )?;
//! resolver.check_required()?;
//! assert_eq!(resolver.get("hello", "message").await?.as_deref(), Some("howdy, world"));
//!
//! // Per instance: put this in the store data and implement `VariablesView`;
//! // `skiff_variables::add_to_linker(&mut linker)` links every interface to it.
//! let _state = VariablesState::new(Arc::new(resolver), "hello");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod bindings;
mod error;
mod host;
mod name;
mod provider;
mod resolver;
mod secret;
mod template;

pub use error::VariablesError;
pub use host::{VariablesState, VariablesView, add_to_linker};
pub use name::validate_name;
pub use provider::{
    DEFAULT_ENV_PREFIXES, EnvProvider, PROVIDER_TYPES, Provider, StaticProvider,
    providers_from_runtime_config,
};
pub use resolver::Resolver;
pub use secret::Value;
pub use template::Template;
