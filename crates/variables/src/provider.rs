//! Variable providers: where values come from, and building them from the runtime config.
//!
//! ```toml
//! [[variables_provider]]
//! type = "static"
//! values = { api_url = "https://api.example.com" }
//!
//! [[variables_provider]]
//! type = "env"             # SKIFF_VARIABLE_<NAME>, then SPIN_VARIABLE_<NAME>
//! # prefix = "MYAPP_VAR"   # or: MYAPP_VAR_<NAME> only
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::name::validate_name;
use crate::{Value, VariablesError};

/// A source of variable values.
///
/// Providers are asked in order; the first that has a value wins. `get` is synchronous
/// because the resolver also runs at load time, outside any guest call
/// ([`Resolver::check_required`](crate::Resolver::check_required),
/// [`Resolver::resolve_app_variable`](crate::Resolver::resolve_app_variable)); a provider
/// backed by a remote service should fetch (and refresh) its values in the background.
pub trait Provider: fmt::Debug + Send + Sync {
    /// A short label for errors and logs, e.g. `env` or `static`.
    fn kind(&self) -> &str;

    /// The value of the (already validated, lower-case) variable `name`, or `None`
    /// when this provider has none. An error stops resolution: the resolver does not
    /// fall through to the next provider, so a broken provider cannot silently swap
    /// in another value. Errors must not contain values.
    fn get(&self, name: &str) -> anyhow::Result<Option<Value>>;
}

/// Prefixes the default environment provider reads, in order of precedence.
pub const DEFAULT_ENV_PREFIXES: [&str; 2] = ["SKIFF_VARIABLE", "SPIN_VARIABLE"];

/// Reads variables from the host process's environment: `<PREFIX>_<NAME>` with `NAME`
/// upper-cased.
///
/// The default provider reads `SKIFF_VARIABLE_<NAME>` and then Spin's
/// `SPIN_VARIABLE_<NAME>`, so when both are set **`SKIFF_VARIABLE_` wins**. With a
/// custom prefix it reads `<PREFIX>_<NAME>` only.
///
/// ```
/// use skiff_variables::{EnvProvider, Provider};
/// // SAFETY: this doctest is single-threaded.
/// unsafe { std::env::set_var("SKIFF_VARIABLE_DOC_GREETING", "hi") };
/// let env = EnvProvider::default();
/// assert_eq!(env.get("doc_greeting").unwrap().unwrap().expose(), "hi");
/// ```
#[derive(Debug, Clone)]
pub struct EnvProvider {
    prefixes: Vec<String>,
}

impl Default for EnvProvider {
    fn default() -> Self {
        EnvProvider {
            prefixes: DEFAULT_ENV_PREFIXES.iter().map(|p| p.to_string()).collect(),
        }
    }
}

impl EnvProvider {
    /// A provider reading `<prefix>_<NAME>` only (a trailing `_` on `prefix` is optional).
    pub fn with_prefix(prefix: &str) -> Self {
        EnvProvider {
            prefixes: vec![prefix.trim_end_matches('_').to_string()],
        }
    }

    /// The environment variable names consulted for `name`, in order.
    pub fn keys(&self, name: &str) -> Vec<String> {
        let upper = name.to_ascii_uppercase();
        self.prefixes
            .iter()
            .map(|prefix| format!("{prefix}_{upper}"))
            .collect()
    }
}

impl Provider for EnvProvider {
    fn kind(&self) -> &str {
        "env"
    }

    fn get(&self, name: &str) -> anyhow::Result<Option<Value>> {
        for key in self.keys(name) {
            match std::env::var(&key) {
                Ok(value) => return Ok(Some(Value::new(value))),
                Err(std::env::VarError::NotPresent) => {}
                Err(std::env::VarError::NotUnicode(_)) => {
                    anyhow::bail!("environment variable `{key}` is not valid UTF-8")
                }
            }
        }
        Ok(None)
    }
}

/// A fixed map of values, e.g. from a `type = "static"` runtime-config entry.
#[derive(Clone, Default)]
pub struct StaticProvider {
    values: BTreeMap<String, Value>,
}

impl StaticProvider {
    /// A provider answering from `values` (names must be valid variable names).
    pub fn new<K, V>(values: impl IntoIterator<Item = (K, V)>) -> Result<Self, VariablesError>
    where
        K: Into<String>,
        V: Into<Value>,
    {
        let mut map = BTreeMap::new();
        for (name, value) in values {
            let name = name.into();
            validate_name(&name)?;
            map.insert(name, value.into());
        }
        Ok(StaticProvider { values: map })
    }
}

/// Names only: the values may be secrets.
impl fmt::Debug for StaticProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticProvider")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Provider for StaticProvider {
    fn kind(&self) -> &str {
        "static"
    }

    fn get(&self, name: &str) -> anyhow::Result<Option<Value>> {
        Ok(self.values.get(name).cloned())
    }
}

/// The `type`s a `[[variables_provider]]` entry may have.
pub const PROVIDER_TYPES: [&str; 2] = ["env", "static"];

/// Builds the providers of a runtime config (the whole parsed file; only its
/// `[[variables_provider]]` entries are read), in the order they are written.
///
/// When no entry has `type = "env"`, the default [`EnvProvider`] is appended, so the
/// environment is always consulted — last, unless the config places it. An empty
/// config (or none) therefore gives `[EnvProvider::default()]`.
///
/// ```
/// let config: toml::Table = toml::from_str(r#"
///     [[variables_provider]]
///     type = "static"
///     values = { greeting = "hello" }
/// "#).unwrap();
/// let providers = skiff_variables::providers_from_runtime_config(&config).unwrap();
/// let kinds: Vec<&str> = providers.iter().map(|p| p.kind()).collect();
/// assert_eq!(kinds, ["static", "env"]);
/// ```
pub fn providers_from_runtime_config(
    config: &toml::Table,
) -> Result<Vec<Box<dyn Provider>>, VariablesError> {
    let mut providers: Vec<Box<dyn Provider>> = Vec::new();
    let mut has_env = false;
    if let Some(entries) = config.get("variables_provider") {
        let entries = entries.as_array().ok_or_else(|| {
            bad(
                "variables_provider",
                "expected an array of tables (`[[variables_provider]]`)",
            )
        })?;
        for (i, entry) in entries.iter().enumerate() {
            let key = format!("variables_provider[{i}]");
            let table = entry
                .as_table()
                .ok_or_else(|| bad(&key, "expected a table such as `{ type = \"env\" }`"))?;
            let kind = match table.get("type") {
                None => return Err(bad(&key, "missing `type` (one of `env`, `static`)")),
                Some(t) => t
                    .as_str()
                    .ok_or_else(|| bad(&format!("{key}.type"), "expected a string"))?,
            };
            match kind {
                "env" => {
                    has_env = true;
                    providers.push(Box::new(env_from(table, &key)?));
                }
                "static" => providers.push(Box::new(static_from(table, &key)?)),
                other => {
                    return Err(bad(
                        &format!("{key}.type"),
                        &format!(
                            "unknown variables provider type `{other}` (expected `env` or `static`)"
                        ),
                    ));
                }
            }
        }
    }
    if !has_env {
        providers.push(Box::new(EnvProvider::default()));
    }
    Ok(providers)
}

fn env_from(table: &toml::Table, key: &str) -> Result<EnvProvider, VariablesError> {
    check_keys(table, key, &["type", "prefix"])?;
    let Some(prefix) = table.get("prefix") else {
        return Ok(EnvProvider::default());
    };
    let key = format!("{key}.prefix");
    let prefix = prefix
        .as_str()
        .ok_or_else(|| bad(&key, "expected a string"))?;
    let trimmed = prefix.trim_end_matches('_');
    if trimmed.is_empty() || trimmed.contains(['=', '\0']) {
        return Err(bad(
            &key,
            "expected a non-empty environment variable prefix without `=`, e.g. `MYAPP_VAR`",
        ));
    }
    Ok(EnvProvider::with_prefix(prefix))
}

fn static_from(table: &toml::Table, key: &str) -> Result<StaticProvider, VariablesError> {
    check_keys(table, key, &["type", "values"])?;
    let values_key = format!("{key}.values");
    let values = table
        .get("values")
        .ok_or_else(|| bad(key, "missing `values` (a table such as `{ name = \"…\" }`)"))?
        .as_table()
        .ok_or_else(|| bad(&values_key, "expected a table such as `{ name = \"…\" }`"))?;
    let mut map = BTreeMap::new();
    for (name, value) in values {
        let entry_key = format!("{values_key}.{name}");
        if let Err(e) = validate_name(name) {
            return Err(bad(&entry_key, &e.to_string()));
        }
        // The message names the type found, never the value.
        let text = value.as_str().ok_or_else(|| {
            bad(
                &entry_key,
                &format!("expected a string, found {}", value.type_str()),
            )
        })?;
        map.insert(name.clone(), Value::new(text));
    }
    Ok(StaticProvider { values: map })
}

fn check_keys(table: &toml::Table, key: &str, allowed: &[&str]) -> Result<(), VariablesError> {
    match table.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => {
            let expected: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
            Err(bad(
                &format!("{key}.{unknown}"),
                &format!("unknown key (expected {})", expected.join(", ")),
            ))
        }
    }
}

fn bad(key: &str, message: &str) -> VariablesError {
    VariablesError::RuntimeConfig {
        key: key.to_string(),
        message: message.to_string(),
    }
}

/// How to set `name` through the environment, for error hints.
pub(crate) fn env_hint(name: &str) -> String {
    format!(
        "`{}_{}`",
        DEFAULT_ENV_PREFIXES[0],
        name.to_ascii_uppercase()
    )
}
