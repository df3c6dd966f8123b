//! `wasi:blobstore/container` and `wasi:blobstore/blobstore`.

use std::sync::Arc;

use wasmtime::component::Resource;

use super::values::IncomingValue;
use super::{BlobView, ContainerHandle, GuestResult, NamesHandle, OutgoingValue, guest};
use crate::bindings::wasi::wasi::blobstore::{blobstore, container, types};
use crate::error::Error;
use crate::store::{BlobStore, ByteRange, Limited, ObjectId};

impl BlobView<'_> {
    /// The container behind `handle`, recording its name on the span.
    fn container(
        &self,
        handle: &Resource<ContainerHandle>,
    ) -> wasmtime::Result<(Arc<Limited>, String)> {
        let handle = self.table.get(handle)?;
        tracing::Span::current().record("container", handle.name.as_str());
        Ok((handle.store.clone(), handle.name.clone()))
    }

    fn push_container(
        &mut self,
        store: Arc<Limited>,
        name: String,
    ) -> wasmtime::Result<Resource<ContainerHandle>> {
        Ok(self.table.push(ContainerHandle { store, name })?)
    }
}

impl container::Host for BlobView<'_> {}

impl container::HostContainer for BlobView<'_> {
    async fn name(&mut self, this: Resource<ContainerHandle>) -> GuestResult<String> {
        Ok(Ok(self.table.get(&this)?.name.clone()))
    }

    #[tracing::instrument(name = "skiff_blob.container_info", skip_all, fields(container))]
    async fn info(
        &mut self,
        this: Resource<ContainerHandle>,
    ) -> GuestResult<types::ContainerMetadata> {
        let (store, name) = self.container(&this)?;
        guest(
            store
                .container_info(&name)
                .await
                .map(|info| types::ContainerMetadata {
                    name: info.name,
                    created_at: info.created_at,
                }),
        )
    }

    #[tracing::instrument(name = "skiff_blob.get_data", skip_all, fields(container, object = %name))]
    async fn get_data(
        &mut self,
        this: Resource<ContainerHandle>,
        name: String,
        start: u64,
        end: u64,
    ) -> GuestResult<Resource<IncomingValue>> {
        let (store, container) = self.container(&this)?;
        let max = store.limits().max_object_size;
        let read = store
            .read_object(&container, &name, ByteRange::new(start, end), max)
            .await
            .and_then(|data| self.incoming_value(data, max));
        match read {
            Ok(value) => Ok(Ok(self.table.push(value)?)),
            Err(err) => guest(Err(err)),
        }
    }

    #[tracing::instrument(name = "skiff_blob.write_data", skip_all, fields(container, object = %name))]
    async fn write_data(
        &mut self,
        this: Resource<ContainerHandle>,
        name: String,
        data: Resource<OutgoingValue>,
    ) -> GuestResult<()> {
        let (store, container) = self.container(&this)?;
        let written = self.write_value(store, container, name, &data).await?;
        guest(written)
    }

    #[tracing::instrument(name = "skiff_blob.list_objects", skip_all, fields(container))]
    async fn list_objects(
        &mut self,
        this: Resource<ContainerHandle>,
    ) -> GuestResult<Resource<NamesHandle>> {
        let (store, container) = self.container(&this)?;
        match store.list_objects(&container).await {
            Ok(names) => Ok(Ok(self.table.push(NamesHandle {
                names: names.into_iter(),
            })?)),
            Err(err) => guest(Err(err)),
        }
    }

    #[tracing::instrument(name = "skiff_blob.delete_object", skip_all, fields(container, object = %name))]
    async fn delete_object(
        &mut self,
        this: Resource<ContainerHandle>,
        name: String,
    ) -> GuestResult<()> {
        let (store, container) = self.container(&this)?;
        guest(store.delete_object(&container, &name).await)
    }

    #[tracing::instrument(name = "skiff_blob.delete_objects", skip_all, fields(container))]
    async fn delete_objects(
        &mut self,
        this: Resource<ContainerHandle>,
        names: Vec<String>,
    ) -> GuestResult<()> {
        let (store, container) = self.container(&this)?;
        guest(store.delete_objects(&container, &names).await)
    }

    #[tracing::instrument(name = "skiff_blob.has_object", skip_all, fields(container, object = %name))]
    async fn has_object(
        &mut self,
        this: Resource<ContainerHandle>,
        name: String,
    ) -> GuestResult<bool> {
        let (store, container) = self.container(&this)?;
        guest(store.has_object(&container, &name).await)
    }

    #[tracing::instrument(name = "skiff_blob.object_info", skip_all, fields(container, object = %name))]
    async fn object_info(
        &mut self,
        this: Resource<ContainerHandle>,
        name: String,
    ) -> GuestResult<types::ObjectMetadata> {
        let (store, container) = self.container(&this)?;
        guest(
            store
                .object_info(&container, &name)
                .await
                .map(|info| types::ObjectMetadata {
                    name: info.name,
                    container: info.container,
                    created_at: info.created_at,
                    size: info.size,
                }),
        )
    }

    #[tracing::instrument(name = "skiff_blob.clear", skip_all, fields(container))]
    async fn clear(&mut self, this: Resource<ContainerHandle>) -> GuestResult<()> {
        let (store, container) = self.container(&this)?;
        guest(store.clear(&container).await)
    }

    async fn drop(&mut self, this: Resource<ContainerHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl container::HostStreamObjectNames for BlobView<'_> {
    async fn read_stream_object_names(
        &mut self,
        this: Resource<NamesHandle>,
        len: u64,
    ) -> GuestResult<(Vec<String>, bool)> {
        let names = &mut self.table.get_mut(&this)?.names;
        let take = usize::try_from(len).unwrap_or(usize::MAX);
        let read: Vec<String> = names.by_ref().take(take).collect();
        Ok(Ok((read, names.as_slice().is_empty())))
    }

    async fn skip_stream_object_names(
        &mut self,
        this: Resource<NamesHandle>,
        num: u64,
    ) -> GuestResult<(u64, bool)> {
        let names = &mut self.table.get_mut(&this)?.names;
        let skip = usize::try_from(num).unwrap_or(usize::MAX).min(names.len());
        if skip > 0 {
            names.nth(skip - 1);
        }
        Ok(Ok((skip as u64, names.as_slice().is_empty())))
    }

    async fn drop(&mut self, this: Resource<NamesHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

fn object_id(id: types::ObjectId) -> ObjectId {
    ObjectId {
        container: id.container,
        object: id.object,
    }
}

impl blobstore::Host for BlobView<'_> {
    #[tracing::instrument(name = "skiff_blob.create_container", skip_all, fields(container = %name))]
    async fn create_container(&mut self, name: String) -> GuestResult<Resource<ContainerHandle>> {
        let created = async {
            let store = self.state.store().await?;
            store.create_container(&name).await?;
            Ok::<_, Error>(store)
        };
        match created.await {
            Ok(store) => Ok(Ok(self.push_container(store, name)?)),
            Err(err) => guest(Err(err)),
        }
    }

    #[tracing::instrument(name = "skiff_blob.get_container", skip_all, fields(container = %name))]
    async fn get_container(&mut self, name: String) -> GuestResult<Resource<ContainerHandle>> {
        let found = async {
            let store = self.state.store().await?;
            store.container_info(&name).await?;
            Ok::<_, Error>(store)
        };
        match found.await {
            Ok(store) => Ok(Ok(self.push_container(store, name)?)),
            Err(err) => guest(Err(err)),
        }
    }

    #[tracing::instrument(name = "skiff_blob.delete_container", skip_all, fields(container = %name))]
    async fn delete_container(&mut self, name: String) -> GuestResult<()> {
        let deleted = async { self.state.store().await?.delete_container(&name).await };
        guest(deleted.await)
    }

    #[tracing::instrument(name = "skiff_blob.container_exists", skip_all, fields(container = %name))]
    async fn container_exists(&mut self, name: String) -> GuestResult<bool> {
        let exists = async { self.state.store().await?.container_exists(&name).await };
        guest(exists.await)
    }

    #[tracing::instrument(name = "skiff_blob.copy_object", skip_all)]
    async fn copy_object(
        &mut self,
        src: types::ObjectId,
        dest: types::ObjectId,
    ) -> GuestResult<()> {
        let (src, dest) = (object_id(src), object_id(dest));
        let copied = async { self.state.store().await?.copy_object(&src, &dest).await };
        guest(copied.await)
    }

    #[tracing::instrument(name = "skiff_blob.move_object", skip_all)]
    async fn move_object(
        &mut self,
        src: types::ObjectId,
        dest: types::ObjectId,
    ) -> GuestResult<()> {
        let (src, dest) = (object_id(src), object_id(dest));
        let moved = async { self.state.store().await?.move_object(&src, &dest).await };
        guest(moved.await)
    }
}
