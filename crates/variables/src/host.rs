//! The per-instance state, the linker entry point, and the host side of every
//! variables interface — all reading the same [`Resolver`].

use std::sync::Arc;

use tracing::Instrument as _;
use wasmtime::component::{HasData, Linker};

use crate::bindings::{fermyon, wasi};
use crate::{Resolver, VariablesError};

/// The variables state of one guest instance: the application's resolver and the
/// component it runs. Cheap to build and clone (two `Arc`s).
#[derive(Clone, Debug)]
pub struct VariablesState {
    resolver: Arc<Resolver>,
    component: Arc<str>,
}

impl VariablesState {
    /// State for an instance of component `component_id` (pass an `Arc<str>` built
    /// once per component to keep per-request instance creation allocation-free).
    pub fn new(resolver: Arc<Resolver>, component_id: impl Into<Arc<str>>) -> Self {
        VariablesState {
            resolver,
            component: component_id.into(),
        }
    }

    /// The component id.
    pub fn component_id(&self) -> &str {
        &self.component
    }

    /// The resolver.
    pub fn resolver(&self) -> &Arc<Resolver> {
        &self.resolver
    }

    async fn lookup(
        &self,
        interface: &'static str,
        name: &str,
    ) -> Result<Option<String>, VariablesError> {
        let span = tracing::info_span!(
            "skiff_variables.get",
            interface,
            component = %self.component,
            variable = name,
        );
        async {
            let result = self.resolver.get(&self.component, name).await;
            match &result {
                Ok(Some(_)) => tracing::debug!("found"),
                Ok(None) => tracing::debug!("not defined for this component"),
                Err(e) => tracing::debug!(error = %e, "lookup failed"),
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn lookup_all(
        &self,
        interface: &'static str,
    ) -> Result<Vec<(String, String)>, VariablesError> {
        let span = tracing::info_span!(
            "skiff_variables.get_all",
            interface,
            component = %self.component,
        );
        async {
            let result = self.resolver.get_all(&self.component).await;
            if let Err(e) = &result {
                tracing::debug!(error = %e, "lookup failed");
            }
            result
        }
        .instrument(span)
        .await
    }

    /// Spin's `get` (2.0.0 and 3.0.0 share the error shape).
    async fn spin_get(&self, interface: &'static str, name: String) -> Result<String, SpinError> {
        match self.lookup(interface, &name).await {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(SpinError::Undefined(format!(
                "component `{}` has no variable `{name}`",
                self.component
            ))),
            Err(e @ VariablesError::InvalidName { .. }) => {
                Err(SpinError::InvalidName(e.to_string()))
            }
            Err(e @ VariablesError::NoValue { .. }) => Err(SpinError::Undefined(e.to_string())),
            Err(e @ VariablesError::Provider { .. }) => Err(SpinError::Provider(e.to_string())),
            Err(e) => Err(SpinError::Other(e.to_string())),
        }
    }

    /// `wasi:config`'s `get`: it has no invalid-name or undefined error, so both are
    /// "not found" (`none`); provider failures are `upstream`.
    async fn config_get(
        &self,
        interface: &'static str,
        key: String,
    ) -> Result<Option<String>, String> {
        match self.lookup(interface, &key).await {
            Ok(value) => Ok(value),
            Err(VariablesError::InvalidName { .. } | VariablesError::NoValue { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Spin's variables error, independent of the package version.
enum SpinError {
    InvalidName(String),
    Undefined(String),
    Provider(String),
    Other(String),
}

/// Store data that holds a [`VariablesState`].
pub trait VariablesView: Send {
    /// The instance's variables state.
    fn variables(&mut self) -> &mut VariablesState;
}

/// Links every variables interface (`wasi:config/store` `@0.2.0-rc.1`, `@0.2.0-draft`
/// and `@0.2.0-draft-2024-09-27`, `fermyon:spin/variables@2.0.0`, and — with the `spin3`
/// feature — `spin:variables/variables@3.0.0`) to `T`'s [`VariablesState`].
pub fn add_to_linker<T: VariablesView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    let getter: fn(&mut T) -> &mut VariablesState = T::variables;
    crate::bindings::VariablesHost::add_to_linker::<T, HasVariables>(linker, getter)
        .map_err(anyhow::Error::from)?;
    // `async func`s: only on an engine with concurrency support.
    #[cfg(feature = "spin3")]
    if linker.engine().get_concurrency_support() {
        crate::bindings::spin3::spin::variables::variables::add_to_linker::<T, HasVariables>(
            linker, getter,
        )
        .map_err(anyhow::Error::from)?;
    }
    Ok(())
}

/// The [`HasData`] marker the generated `add_to_linker` functions project through.
struct HasVariables;

impl HasData for HasVariables {
    type Data<'a> = &'a mut VariablesState;
}

macro_rules! impl_wasi_config {
    ($($module:ident => $interface:literal),* $(,)?) => {$(
        impl wasi::$module::store::Host for VariablesState {
            async fn get(&mut self, key: String) -> Result<Option<String>, wasi::$module::store::Error> {
                self.config_get($interface, key)
                    .await
                    .map_err(wasi::$module::store::Error::Upstream)
            }

            async fn get_all(&mut self) -> Result<Vec<(String, String)>, wasi::$module::store::Error> {
                self.lookup_all($interface)
                    .await
                    .map_err(|e| wasi::$module::store::Error::Upstream(e.to_string()))
            }
        }
    )*};
}

impl_wasi_config! {
    config0_2_0_rc_1 => "wasi:config/store@0.2.0-rc.1",
    config0_2_0_draft => "wasi:config/store@0.2.0-draft",
    config0_2_0_draft_2024_09_27 => "wasi:config/store@0.2.0-draft-2024-09-27",
}

impl fermyon::spin::variables::Host for VariablesState {
    async fn get(&mut self, name: String) -> Result<String, fermyon::spin::variables::Error> {
        use fermyon::spin::variables::Error;
        self.spin_get("fermyon:spin/variables@2.0.0", name)
            .await
            .map_err(|e| match e {
                SpinError::InvalidName(m) => Error::InvalidName(m),
                SpinError::Undefined(m) => Error::Undefined(m),
                SpinError::Provider(m) => Error::Provider(m),
                SpinError::Other(m) => Error::Other(m),
            })
    }
}

#[cfg(feature = "spin3")]
mod spin3 {
    use wasmtime::component::Accessor;

    use super::{HasVariables, SpinError, VariablesState};
    use crate::bindings::spin3::spin::variables::variables::{Error, Host, HostWithStore};

    impl Host for VariablesState {}

    impl<T> HostWithStore<T> for HasVariables {
        async fn get(accessor: &Accessor<T, Self>, name: String) -> Result<String, Error> {
            // Take a clone of the state (two `Arc`s) so the store is free while we wait.
            let state = accessor.with(|mut access| access.get().clone());
            state
                .spin_get("spin:variables/variables@3.0.0", name)
                .await
                .map_err(|e| match e {
                    SpinError::InvalidName(m) => Error::InvalidName(m),
                    SpinError::Undefined(m) => Error::Undefined(m),
                    SpinError::Provider(m) => Error::Provider(m),
                    SpinError::Other(m) => Error::Other(m),
                })
        }
    }
}
