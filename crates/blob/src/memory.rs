//! `type = "memory"`: a store that lives in the host process and is gone when
//! it exits. For tests and scratch data.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::store::{BlobStore, ByteRange, ContainerInfo, ObjectId, ObjectInfo, epoch_seconds};

/// An in-memory store. Every operation takes one short lock, so each is
/// atomic (a copy or move included); object values are shared, never copied,
/// between readers.
#[derive(Default)]
pub struct MemoryStore {
    containers: Mutex<BTreeMap<String, Container>>,
}

struct Container {
    created_at: u64,
    objects: BTreeMap<String, Object>,
}

#[derive(Clone)]
struct Object {
    data: Bytes,
    created_at: u64,
}

type Containers = BTreeMap<String, Container>;

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn containers(&self) -> MutexGuard<'_, Containers> {
        // Nothing panics while the lock is held; never let a poisoned lock
        // take the store down with it anyway.
        self.containers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now() -> u64 {
    epoch_seconds(SystemTime::now())
}

fn container<'a>(containers: &'a Containers, name: &str) -> Result<&'a Container> {
    containers
        .get(name)
        .ok_or_else(|| Error::no_such_container(name))
}

fn container_mut<'a>(containers: &'a mut Containers, name: &str) -> Result<&'a mut Container> {
    containers
        .get_mut(name)
        .ok_or_else(|| Error::no_such_container(name))
}

fn object<'a>(containers: &'a Containers, id: &ObjectId) -> Result<&'a Object> {
    container(containers, &id.container)?
        .objects
        .get(&id.object)
        .ok_or_else(|| Error::no_such_object(&id.container, &id.object))
}

#[async_trait]
impl BlobStore for MemoryStore {
    fn describe(&self) -> String {
        "memory blob store".to_string()
    }

    async fn create_container(&self, name: &str) -> Result<ContainerInfo> {
        let mut containers = self.containers();
        let container = containers
            .entry(name.to_string())
            .or_insert_with(|| Container {
                created_at: now(),
                objects: BTreeMap::new(),
            });
        Ok(ContainerInfo {
            name: name.to_string(),
            created_at: container.created_at,
        })
    }

    async fn container_info(&self, name: &str) -> Result<ContainerInfo> {
        let containers = self.containers();
        Ok(ContainerInfo {
            name: name.to_string(),
            created_at: container(&containers, name)?.created_at,
        })
    }

    async fn container_exists(&self, name: &str) -> Result<bool> {
        Ok(self.containers().contains_key(name))
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        self.containers()
            .remove(name)
            .map(drop)
            .ok_or_else(|| Error::no_such_container(name))
    }

    async fn write_object(&self, container: &str, object: &str, data: Bytes) -> Result<()> {
        let mut containers = self.containers();
        container_mut(&mut containers, container)?.objects.insert(
            object.to_string(),
            Object {
                data,
                created_at: now(),
            },
        );
        Ok(())
    }

    async fn read_object(
        &self,
        container: &str,
        name: &str,
        range: ByteRange,
        max_len: u64,
    ) -> Result<Bytes> {
        let data = object(&self.containers(), &ObjectId::new(container, name))?
            .data
            .clone();
        let (start, len) = range.within(data.len() as u64);
        if len > max_len {
            return Err(Error::TooLarge {
                container: container.to_string(),
                object: name.to_string(),
                len,
                max: max_len,
            });
        }
        // Both fit in usize: they are within `data`.
        Ok(data.slice(start as usize..(start + len) as usize))
    }

    async fn object_info(&self, container: &str, name: &str) -> Result<ObjectInfo> {
        let containers = self.containers();
        let found = object(&containers, &ObjectId::new(container, name))?;
        Ok(ObjectInfo {
            name: name.to_string(),
            container: container.to_string(),
            created_at: found.created_at,
            size: found.data.len() as u64,
        })
    }

    async fn has_object(&self, container_name: &str, name: &str) -> Result<bool> {
        Ok(container(&self.containers(), container_name)?
            .objects
            .contains_key(name))
    }

    async fn delete_object(&self, container: &str, name: &str) -> Result<()> {
        container_mut(&mut self.containers(), container)?
            .objects
            .remove(name);
        Ok(())
    }

    async fn delete_objects(&self, container: &str, names: &[String]) -> Result<()> {
        let mut containers = self.containers();
        let objects = &mut container_mut(&mut containers, container)?.objects;
        for name in names {
            objects.remove(name);
        }
        Ok(())
    }

    async fn list_objects(&self, name: &str) -> Result<Vec<String>> {
        Ok(container(&self.containers(), name)?
            .objects
            .keys()
            .cloned()
            .collect())
    }

    async fn clear(&self, name: &str) -> Result<()> {
        container_mut(&mut self.containers(), name)?.objects.clear();
        Ok(())
    }

    async fn copy_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()> {
        let mut containers = self.containers();
        let found = object(&containers, src)?;
        let copy = Object {
            data: found.data.clone(),
            created_at: now(),
        };
        let target = container_mut(&mut containers, &dest.container)?;
        if src != dest {
            target.objects.insert(dest.object.clone(), copy);
        }
        Ok(())
    }

    async fn move_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()> {
        let mut containers = self.containers();
        object(&containers, src)?;
        container(&containers, &dest.container)?;
        if src == dest {
            return Ok(());
        }
        let moved = container_mut(&mut containers, &src.container)?
            .objects
            .remove(&src.object)
            .ok_or_else(|| Error::no_such_object(&src.container, &src.object))?;
        container_mut(&mut containers, &dest.container)?
            .objects
            .insert(dest.object.clone(), moved);
        Ok(())
    }
}
