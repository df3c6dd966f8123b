//! Per-instance state, the grant check, and what every interface shares.

mod spin;
mod wasi;

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};

use crate::error::Error;
use crate::manager::KeyValueManager;
use crate::store::Store;

/// The key-value state of one guest instance: which labels it was granted and
/// how many stores it holds open. Cheap to create per request.
pub struct KvState {
    manager: Arc<KeyValueManager>,
    granted: Arc<[String]>,
    open: usize,
}

impl KvState {
    /// State for an instance granted the store labels `granted` (the
    /// component's `key_value_stores`), resolved through `manager`.
    pub fn new(manager: Arc<KeyValueManager>, granted: Arc<[String]>) -> Self {
        KvState {
            manager,
            granted,
            open: 0,
        }
    }

    /// The manager stores are resolved through.
    pub fn manager(&self) -> &Arc<KeyValueManager> {
        &self.manager
    }

    /// The grant check — the only one, used by every interface's `open`:
    /// fails with [`Error::AccessDenied`] when `label` was not granted
    /// (whether or not such a store exists), and with
    /// [`Error::StoreTableFull`] when the instance holds too many open stores.
    /// Returns the manager to resolve the label with.
    pub(crate) fn authorize(&self, label: &str) -> Result<Arc<KeyValueManager>, Error> {
        if !self.granted.iter().any(|granted| granted == label) {
            tracing::debug!(label, "key-value store not granted");
            return Err(Error::AccessDenied {
                label: label.to_string(),
            });
        }
        if self.open >= self.manager.max_open_stores() {
            return Err(Error::StoreTableFull {
                max: self.manager.max_open_stores(),
            });
        }
        Ok(self.manager.clone())
    }
}

/// What the host bindings need from the store data: the instance's
/// [`KvState`] and the resource table the guest's handles live in.
pub struct KvView<'a> {
    /// The instance's key-value state.
    pub state: &'a mut KvState,
    /// The instance's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
}

/// Implemented by a host's store data to expose key-value to guests.
pub trait KvHostView: Send {
    /// The key-value view of this instance.
    fn kv(&mut self) -> KvView<'_>;
}

/// The [`HasData`] marker the generated `add_to_linker` functions take.
pub(crate) struct Kv;

impl HasData for Kv {
    type Data<'a> = KvView<'a>;
}

/// Adds every key-value interface to `linker`:
/// `wasi:keyvalue/{store,atomics,batch}` at `0.2.0-draft` and
/// `0.2.0-draft2`, `fermyon:spin/key-value@2.0.0` and
/// `spin:key-value/key-value@3.0.0`.
///
/// The last one is made of `async func`s, so instantiating a component that
/// imports it needs an engine with component-model async enabled (on by
/// default in wasmtime 48 builds that have the feature, which this crate
/// turns on).
pub fn add_to_linker<T: KvHostView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    use crate::bindings::{spin2, spin3, wasi_draft, wasi_draft2};
    let getter: fn(&mut T) -> KvView<'_> = T::kv;
    wasi_draft::wasi::keyvalue::store::add_to_linker::<T, Kv>(linker, getter)?;
    wasi_draft::wasi::keyvalue::atomics::add_to_linker::<T, Kv>(linker, getter)?;
    wasi_draft::wasi::keyvalue::batch::add_to_linker::<T, Kv>(linker, getter)?;
    wasi_draft2::wasi::keyvalue::store::add_to_linker::<T, Kv>(linker, getter)?;
    wasi_draft2::wasi::keyvalue::atomics::add_to_linker::<T, Kv>(linker, getter)?;
    wasi_draft2::wasi::keyvalue::batch::add_to_linker::<T, Kv>(linker, getter)?;
    spin2::fermyon::spin::key_value::add_to_linker::<T, Kv>(linker, getter)?;
    // `async func`s: only on an engine with concurrency support.
    if linker.engine().get_concurrency_support() {
        spin3::spin::key_value::key_value::add_to_linker::<T, Kv>(linker, getter)?;
    }
    Ok(())
}

/// An open store as a guest resource (`bucket` / `store` in the interfaces).
pub struct StoreHandle {
    label: Arc<str>,
    store: Arc<dyn Store>,
}

/// A compare-and-swap in progress (`wasi:keyvalue/atomics@0.2.0-draft2.cas`):
/// the key and the value it had when the operation began.
pub struct CasHandle {
    label: Arc<str>,
    store: Arc<dyn Store>,
    key: String,
    current: Option<Vec<u8>>,
}

/// What a host function fails with: an error the guest sees as the
/// interface's error value, or a trap (a bad resource handle).
pub enum HostError {
    /// Returned to the guest.
    Kv(Error),
    /// Traps the guest.
    Trap(wasmtime::Error),
}

impl From<Error> for HostError {
    fn from(err: Error) -> Self {
        HostError::Kv(err)
    }
}

impl From<ResourceTableError> for HostError {
    fn from(err: ResourceTableError) -> Self {
        HostError::Trap(err.into())
    }
}

impl HostError {
    /// The guest-visible error, or the trap.
    fn into_kv(self) -> wasmtime::Result<Error> {
        match self {
            HostError::Kv(err) => {
                tracing::debug!(error = %err, "key-value operation failed");
                Ok(err)
            }
            HostError::Trap(trap) => Err(trap),
        }
    }
}

impl KvView<'_> {
    /// Adds an open store to the resource table.
    fn push_store(
        &mut self,
        label: &str,
        store: Arc<dyn Store>,
    ) -> Result<Resource<StoreHandle>, HostError> {
        let handle = self.table.push(StoreHandle {
            label: label.into(),
            store,
        })?;
        self.state.open += 1;
        Ok(handle)
    }

    /// Grant check, then resolve `label`, then a new resource.
    async fn open_store(&mut self, label: &str) -> Result<Resource<StoreHandle>, HostError> {
        let store = self.state.authorize(label)?.open(label).await?;
        self.push_store(label, store)
    }

    /// The store behind `handle`; records its label on the current span.
    fn store<T>(&self, handle: &Resource<T>) -> Result<Arc<dyn Store>, HostError>
    where
        T: AsStore + 'static,
    {
        let handle = self.table.get(handle)?;
        tracing::Span::current().record("store", handle.label());
        Ok(handle.store())
    }

    /// Removes a store resource.
    fn drop_store(&mut self, handle: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.state.open = self.state.open.saturating_sub(1);
        Ok(())
    }
}

/// Resources that reference a store.
trait AsStore {
    fn label(&self) -> &str;
    fn store(&self) -> Arc<dyn Store>;
}

impl AsStore for StoreHandle {
    fn label(&self) -> &str {
        &self.label
    }
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

impl AsStore for CasHandle {
    fn label(&self) -> &str {
        &self.label
    }
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}
