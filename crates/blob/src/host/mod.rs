//! Per-instance state, the grant check, and the resources guests hold.

mod budget;
mod container;
mod values;

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, ResourceTable};

use crate::error::Error;
use crate::manager::BlobManager;
use crate::store::Limited;

pub use self::values::{IncomingValue, OutgoingValue};

/// The blob-store state of one guest instance: the app's stores and the one
/// label its component's `blob_stores` grants. Cheap to create per request.
pub struct BlobState {
    manager: Arc<BlobManager>,
    granted: Option<Arc<str>>,
    component_id: Arc<str>,
    /// The bytes of object values this instance holds in host memory.
    held: budget::Budget,
}

impl BlobState {
    /// State for an instance of component `component_id`, which may use the
    /// store labelled `granted` (its `blob_stores`; `None`: no grant) among
    /// `manager`'s.
    pub fn new(
        manager: Arc<BlobManager>,
        granted: Option<Arc<str>>,
        component_id: Arc<str>,
    ) -> Self {
        BlobState {
            manager,
            granted,
            component_id,
            held: budget::Budget::default(),
        }
    }

    /// The manager stores are resolved through.
    pub fn manager(&self) -> &Arc<BlobManager> {
        &self.manager
    }

    /// The component's store — the grant check, the only one: every
    /// `wasi:blobstore` function that reaches a store goes through here.
    /// `wasi:blobstore` names no store, so a component has one: the label
    /// of its grant.
    pub(crate) async fn store(&self) -> Result<Arc<Limited>, Error> {
        let Some(label) = &self.granted else {
            let err = Error::NotGranted {
                component: self.component_id.to_string(),
            };
            tracing::warn!(component = %self.component_id, "{err}");
            return Err(err);
        };
        self.manager.open(label).await.inspect_err(|err| {
            tracing::warn!(
                component = %self.component_id,
                "component `{}` could not open blob store `{label}`: {err}",
                self.component_id
            );
        })
    }

    /// The most bytes one object value may hold: the store's
    /// `max_object_size` (the manager's default without a grant).
    async fn max_object_size(&self) -> u64 {
        match &self.granted {
            Some(label) => match self.manager.open(label).await {
                Ok(store) => store.limits().max_object_size,
                Err(_) => self.manager.limits().max_object_size,
            },
            None => self.manager.limits().max_object_size,
        }
    }
}

/// What the host bindings need from the store data: the instance's
/// [`BlobState`] and the resource table the guest's handles (and the WASI
/// streams of object values) live in.
pub struct BlobView<'a> {
    /// The instance's blob-store state.
    pub state: &'a mut BlobState,
    /// The instance's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
}

/// Implemented by a host's store data to expose blob storage to guests.
pub trait BlobHostView: Send {
    /// The blob-store view of this instance.
    fn blob(&mut self) -> BlobView<'_>;
}

/// The [`HasData`] marker the generated `add_to_linker` functions take.
pub(crate) struct Blob;

impl HasData for Blob {
    type Data<'a> = BlobView<'a>;
}

/// Adds `wasi:blobstore/{types,container,blobstore}@0.2.0-draft` to
/// `linker`. The `wasi:io` streams they hand out are wasmtime-wasi's, so the
/// linker must also have WASI's `wasi:io` (`wasmtime_wasi::p2::add_to_linker_async`).
pub fn add_to_linker<T: BlobHostView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    use crate::bindings::wasi::wasi::blobstore as b;
    let getter: fn(&mut T) -> BlobView<'_> = T::blob;
    b::types::add_to_linker::<T, Blob>(linker, getter)?;
    b::container::add_to_linker::<T, Blob>(linker, getter)?;
    b::blobstore::add_to_linker::<T, Blob>(linker, getter)?;
    Ok(())
}

/// An open container (`container` in the interface).
pub struct ContainerHandle {
    store: Arc<Limited>,
    name: String,
}

/// The names of a container's objects when it was listed, read in order
/// (`stream-object-names`).
pub struct NamesHandle {
    names: std::vec::IntoIter<String>,
}

/// What a host function returns: the guest sees `Ok(Err(message))` as the
/// interface's error string, and an outer `Err` traps (a bad handle).
type GuestResult<T> = wasmtime::Result<Result<T, String>>;

/// `result` as the guest sees it, logging a failure.
fn guest<T>(result: Result<T, Error>) -> GuestResult<T> {
    Ok(result.map_err(|err| {
        tracing::debug!(error = %err, "blob-store operation failed");
        err.to_string()
    }))
}
