//! Spin's `fermyon:spin/key-value@2.0.0` and `spin:key-value/key-value@3.0.0`.

use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use super::{HostError, Kv, KvView, StoreHandle};
use crate::bindings::spin2::fermyon::spin::key_value as v2;
use crate::bindings::spin3::spin::key_value::key_value as v3;
use crate::error::Error;
use crate::store::all_keys;

impl v2::Host for KvView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<v2::Error> {
        Ok(match err.into_kv()? {
            Error::NoSuchStore { .. } => v2::Error::NoSuchStore,
            Error::AccessDenied { .. } => v2::Error::AccessDenied,
            Error::StoreTableFull { .. } => v2::Error::StoreTableFull,
            other => v2::Error::Other(other.to_string()),
        })
    }
}

impl v2::HostStore for KvView<'_> {
    #[tracing::instrument(name = "skiff_kv.open", skip_all,
        fields(store = %label, interface = "fermyon:spin/key-value@2.0.0"))]
    async fn open(&mut self, label: String) -> Result<Resource<StoreHandle>, HostError> {
        self.open_store(&label).await
    }

    #[tracing::instrument(
        name = "skiff_kv.get",
        skip_all,
        fields(store, interface = "fermyon:spin/key-value@2.0.0")
    )]
    async fn get(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.store(&store)?.get(&key).await?)
    }

    #[tracing::instrument(
        name = "skiff_kv.set",
        skip_all,
        fields(store, interface = "fermyon:spin/key-value@2.0.0")
    )]
    async fn set(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), HostError> {
        Ok(self.store(&store)?.set(&key, &value).await?)
    }

    #[tracing::instrument(
        name = "skiff_kv.delete",
        skip_all,
        fields(store, interface = "fermyon:spin/key-value@2.0.0")
    )]
    async fn delete(&mut self, store: Resource<StoreHandle>, key: String) -> Result<(), HostError> {
        Ok(self.store(&store)?.delete(&key).await?)
    }

    #[tracing::instrument(
        name = "skiff_kv.exists",
        skip_all,
        fields(store, interface = "fermyon:spin/key-value@2.0.0")
    )]
    async fn exists(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> Result<bool, HostError> {
        Ok(self.store(&store)?.exists(&key).await?)
    }

    #[tracing::instrument(
        name = "skiff_kv.list_keys",
        skip_all,
        fields(store, interface = "fermyon:spin/key-value@2.0.0")
    )]
    async fn get_keys(&mut self, store: Resource<StoreHandle>) -> Result<Vec<String>, HostError> {
        Ok(all_keys(&*self.store(&store)?).await?)
    }

    async fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.drop_store(store)
    }
}

/// How `get-keys` reports a failure to list every key.
type KeysResult = FutureReader<Result<(), v3::Error>>;

fn v3_error(err: Error) -> v3::Error {
    match err {
        Error::NoSuchStore { .. } => v3::Error::NoSuchStore,
        Error::AccessDenied { .. } => v3::Error::AccessDenied,
        Error::StoreTableFull { .. } => v3::Error::StoreTableFull,
        other => v3::Error::Other(other.to_string()),
    }
}

impl v3::Host for KvView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<v3::Error> {
        Ok(v3_error(err.into_kv()?))
    }
}

impl v3::HostStore for KvView<'_> {
    fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.drop_store(store)
    }
}

/// The store behind `handle`, looked up without holding the store across an
/// await (component-model async functions only get the store in `with`).
fn store_of<T>(
    accessor: &Accessor<T, Kv>,
    handle: &Resource<StoreHandle>,
) -> Result<std::sync::Arc<dyn crate::Store>, HostError> {
    accessor.with(|mut access| access.get().store(handle))
}

impl<T> v3::HostStoreWithStore<T> for Kv {
    #[tracing::instrument(name = "skiff_kv.open", skip_all,
        fields(store = %label, interface = "spin:key-value@3.0.0"))]
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> Result<Resource<StoreHandle>, HostError> {
        let manager = accessor.with(|mut access| access.get().state.authorize(&label))?;
        let store = manager.open(&label).await?;
        accessor.with(|mut access| access.get().push_store(&label, store))
    }

    #[tracing::instrument(
        name = "skiff_kv.get",
        skip_all,
        fields(store, interface = "spin:key-value@3.0.0")
    )]
    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
    ) -> Result<Option<Vec<u8>>, HostError> {
        Ok(store_of(accessor, &store)?.get(&key).await?)
    }

    #[tracing::instrument(
        name = "skiff_kv.set",
        skip_all,
        fields(store, interface = "spin:key-value@3.0.0")
    )]
    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), HostError> {
        Ok(store_of(accessor, &store)?.set(&key, &value).await?)
    }

    #[tracing::instrument(
        name = "skiff_kv.delete",
        skip_all,
        fields(store, interface = "spin:key-value@3.0.0")
    )]
    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
    ) -> Result<(), HostError> {
        Ok(store_of(accessor, &store)?.delete(&key).await?)
    }

    #[tracing::instrument(
        name = "skiff_kv.exists",
        skip_all,
        fields(store, interface = "spin:key-value@3.0.0")
    )]
    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
    ) -> Result<bool, HostError> {
        Ok(store_of(accessor, &store)?.exists(&key).await?)
    }

    /// Reads every key, then streams them to the guest; a failure shows up
    /// as an empty stream and the error in the future.
    #[tracing::instrument(
        name = "skiff_kv.list_keys",
        skip_all,
        fields(store, interface = "spin:key-value@3.0.0")
    )]
    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<(StreamReader<String>, KeysResult)> {
        let store = match store_of(accessor, &store) {
            Ok(store) => store,
            Err(HostError::Trap(trap)) => return Err(trap),
            Err(HostError::Kv(err)) => return Err(err.into()),
        };
        let (keys, result) = match all_keys(&*store).await {
            Ok(keys) => (keys, Ok(())),
            Err(err) => (Vec::new(), Err(v3_error(err))),
        };
        accessor.with(|mut access| {
            let keys = StreamReader::new(&mut access, keys)?;
            let result =
                FutureReader::new(&mut access, async move { Ok::<_, wasmtime::Error>(result) })?;
            Ok((keys, result))
        })
    }
}
