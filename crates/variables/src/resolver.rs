//! [`Resolver`]: the application's declared variables, each component's templates, and
//! the providers that give them values.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::name::validate_name;
use crate::{Provider, Template, Value, VariablesError};

/// A declared `[variables]` entry.
struct Declared {
    default: Option<Value>,
    required: bool,
    secret: bool,
}

/// Resolves variables for one application; built once at load, shared by every instance
/// (behind an `Arc`).
///
/// An application variable's value is, in order:
/// 1. the first provider, in the order given, that has one (see
///    [`providers_from_runtime_config`](crate::providers_from_runtime_config): runtime
///    config order, then the environment unless the config placed it);
/// 2. the manifest's `default`;
/// 3. none — an error for `required` variables at load
///    ([`check_required`](Self::check_required)), the interface's `undefined` error for a
///    guest whose component template needs it.
///
/// Guests never read application variables directly: they read their component's
/// `variables` entries, whose templates are expanded against the application variables
/// on every call (so nothing is cached and nothing stale is served).
///
/// The providers can be replaced while guests run
/// ([`replace_providers`](Self::replace_providers), used by `skiff up`'s runtime-config
/// reload); a call already resolving keeps the set it started with.
pub struct Resolver {
    variables: BTreeMap<String, Declared>,
    components: HashMap<String, BTreeMap<String, Template>>,
    providers: RwLock<Providers>,
}

/// One set of providers, in precedence order.
type Providers = Arc<[Box<dyn Provider>]>;

impl Resolver {
    /// A resolver with no variables and no providers (for guests granted none, e.g. `skiff run`).
    pub fn empty() -> Self {
        Resolver::new(&BTreeMap::new(), std::iter::empty(), Vec::new())
            .expect("an empty resolver is always valid")
    }

    /// Builds a resolver from the application's `[variables]`, each component's
    /// `variables` table (id → key → template) and the providers, in precedence order.
    ///
    /// Fails on an invalid variable name, a template that does not parse, or a template
    /// referring to a variable the application does not declare.
    pub fn new(
        app_vars: &BTreeMap<String, skiff_manifest::Variable>,
        components: impl IntoIterator<Item = (String, BTreeMap<String, String>)>,
        providers: Vec<Box<dyn Provider>>,
    ) -> Result<Self, VariablesError> {
        let mut variables = BTreeMap::new();
        for (name, var) in app_vars {
            validate_name(name)?;
            variables.insert(
                name.clone(),
                Declared {
                    default: var.default.as_deref().map(Value::from),
                    required: var.required,
                    secret: var.secret,
                },
            );
        }
        let mut parsed = HashMap::new();
        for (component, vars) in components {
            let mut templates = BTreeMap::new();
            for (key, text) in vars {
                let invalid = |reason: String| VariablesError::InvalidTemplate {
                    component: component.clone(),
                    key: key.clone(),
                    reason,
                };
                if let Err(e) = validate_name(&key) {
                    return Err(invalid(e.to_string()));
                }
                let template = Template::parse(&text).map_err(invalid)?;
                if let Some(name) = template.variables().find(|n| !variables.contains_key(*n)) {
                    return Err(invalid(format!(
                        "`{{{{ {name} }}}}` refers to undeclared variable `{name}`"
                    )));
                }
                templates.insert(key, template);
            }
            parsed.insert(component, templates);
        }
        Ok(Resolver {
            variables,
            components: parsed,
            providers: RwLock::new(providers.into()),
        })
    }

    /// A resolver for a new version of the application (`skiff up --watch`
    /// reloading its manifest): its `[variables]` and component templates,
    /// with the providers this one has now. Fails as [`new`](Self::new) does.
    pub fn redeclare(
        &self,
        app_vars: &BTreeMap<String, skiff_manifest::Variable>,
        components: impl IntoIterator<Item = (String, BTreeMap<String, String>)>,
    ) -> Result<Self, VariablesError> {
        let mut resolver = Resolver::new(app_vars, components, Vec::new())?;
        resolver.providers = RwLock::new(self.providers());
        Ok(resolver)
    }

    /// Checks that every `required = true` variable has a value, naming all that have
    /// none in one error (and never printing a value). Run it at load, before serving.
    pub fn check_required(&self) -> Result<(), VariablesError> {
        self.check_providers(&self.providers())
    }

    /// Checks that every `required = true` variable would have a value with
    /// `providers` (what [`replace_providers`](Self::replace_providers) checks first).
    pub fn check_providers(&self, providers: &[Box<dyn Provider>]) -> Result<(), VariablesError> {
        let mut missing = Vec::new();
        for (name, declared) in &self.variables {
            if declared.required && lookup(providers, name, declared)?.is_none() {
                missing.push(name.clone());
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(VariablesError::MissingRequired { names: missing })
        }
    }

    /// Replaces the providers, for calls that start from now on, after checking that
    /// every `required = true` variable still has a value with them; on error the
    /// current providers stay.
    pub fn replace_providers(
        &self,
        providers: Vec<Box<dyn Provider>>,
    ) -> Result<(), VariablesError> {
        self.check_providers(&providers)?;
        *self.providers.write().unwrap_or_else(|e| e.into_inner()) = providers.into();
        Ok(())
    }

    /// The current providers.
    fn providers(&self) -> Providers {
        self.providers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The value of application variable `name` (providers, then its `default`), or
    /// `None` when it has none. Fails on an invalid or undeclared name. Used to expand
    /// `{{ name }}` in other manifest fields, such as `allowed_outbound_hosts`.
    pub fn resolve_app_variable(&self, name: &str) -> Result<Option<String>, VariablesError> {
        Ok(self.resolve(name)?.map(Value::into_exposed))
    }

    /// Whether application variable `name` is declared `secret = true` (so whatever is
    /// expanded from it should not be printed either).
    pub fn is_secret(&self, name: &str) -> bool {
        self.variables.get(name).is_some_and(|d| d.secret)
    }

    /// The names of the declared application variables, sorted.
    pub fn variable_names(&self) -> impl Iterator<Item = &str> {
        self.variables.keys().map(String::as_str)
    }

    /// Component `component`'s variable `name`, its template expanded: `Ok(None)` when
    /// the component has no such variable (or the resolver was not given the component). Fails with [`VariablesError::InvalidName`]
    /// for an invalid name, [`VariablesError::NoValue`] when the template needs an
    /// application variable that has no value, and [`VariablesError::Provider`] when a
    /// provider fails.
    pub async fn get(&self, component: &str, name: &str) -> Result<Option<String>, VariablesError> {
        validate_name(name)?;
        let templates = self.component(component);
        match templates.get(name) {
            None => Ok(None),
            Some(template) => Ok(Some(self.expand(template)?.into_exposed())),
        }
    }

    /// All of component `component`'s variables, expanded, sorted by name. Variables
    /// whose template needs an application variable with no value are left out; a
    /// provider failure fails the whole call.
    pub async fn get_all(&self, component: &str) -> Result<Vec<(String, String)>, VariablesError> {
        let templates = self.component(component);
        let mut out = Vec::with_capacity(templates.len());
        for (name, template) in templates {
            match self.expand(template) {
                Ok(value) => out.push((name.clone(), value.into_exposed())),
                Err(VariablesError::NoValue { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The templates of component `id`; a component the resolver was not given has none.
    fn component(&self, id: &str) -> &BTreeMap<String, Template> {
        static NONE: BTreeMap<String, Template> = BTreeMap::new();
        self.components.get(id).unwrap_or(&NONE)
    }

    fn expand(&self, template: &Template) -> Result<Value, VariablesError> {
        template.expand(|name| {
            self.resolve(name)?.ok_or_else(|| VariablesError::NoValue {
                name: name.to_string(),
            })
        })
    }

    fn resolve(&self, name: &str) -> Result<Option<Value>, VariablesError> {
        validate_name(name)?;
        let declared = self
            .variables
            .get(name)
            .ok_or_else(|| VariablesError::Undeclared {
                name: name.to_string(),
            })?;
        lookup(&self.providers(), name, declared)
    }
}

/// `name`'s value from the first of `providers` that has one, else its default.
fn lookup(
    providers: &[Box<dyn Provider>],
    name: &str,
    declared: &Declared,
) -> Result<Option<Value>, VariablesError> {
    for provider in providers {
        let found = provider.get(name).map_err(|e| {
            tracing::warn!(
                variable = name,
                provider = provider.kind(),
                "variables provider failed"
            );
            VariablesError::Provider {
                provider: provider.kind().to_string(),
                name: name.to_string(),
                message: format!("{e:#}"),
            }
        })?;
        if let Some(value) = found {
            tracing::trace!(
                variable = name,
                provider = provider.kind(),
                "variable resolved"
            );
            return Ok(Some(value));
        }
    }
    if let Some(default) = &declared.default {
        tracing::trace!(variable = name, "variable resolved from its default");
        return Ok(Some(default.clone()));
    }
    Ok(None)
}

/// Names, flags and templates' references only: never a value, a default or a literal.
impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Vars<'a>(&'a BTreeMap<String, Declared>);
        impl fmt::Debug for Vars<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(name, d)| {
                        let flags = format!(
                            "{{ default: {}, required: {}, secret: {} }}",
                            if d.default.is_some() {
                                "<redacted>"
                            } else {
                                "none"
                            },
                            d.required,
                            d.secret
                        );
                        (name, DisplayAsDebug(flags))
                    }))
                    .finish()
            }
        }
        struct DisplayAsDebug(String);
        impl fmt::Debug for DisplayAsDebug {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        let mut components: Vec<_> = self.components.iter().collect();
        components.sort_by(|a, b| a.0.cmp(b.0));
        f.debug_struct("Resolver")
            .field("variables", &Vars(&self.variables))
            .field("components", &components)
            .field("providers", &self.providers())
            .finish()
    }
}
