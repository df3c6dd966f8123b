//! The backend trait every blob store implements, and the limits wrapper.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Error, Result};

/// What `container.info` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container's name.
    pub name: String,
    /// When it was created, in seconds since the Unix epoch.
    pub created_at: u64,
}

/// What `container.object-info` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's name.
    pub name: String,
    /// Its container's name.
    pub container: String,
    /// When this version of it was written, in seconds since the Unix epoch.
    pub created_at: u64,
    /// Its size in bytes.
    pub size: u64,
}

/// An object named with its container (`wasi:blobstore/types.object-id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectId {
    /// The container's name.
    pub container: String,
    /// The object's name.
    pub object: String,
}

impl ObjectId {
    /// Object `object` in container `container`.
    pub fn new(container: impl Into<String>, object: impl Into<String>) -> Self {
        ObjectId {
            container: container.into(),
            object: object.into(),
        }
    }
}

/// Which bytes of an object to read: offsets `start..=end`, both inclusive
/// as in `get-data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// The first offset.
    pub start: u64,
    /// The last offset; past the object's end means "to the end".
    pub end: u64,
}

impl ByteRange {
    /// The whole object.
    pub const ALL: ByteRange = ByteRange {
        start: 0,
        end: u64::MAX,
    };

    /// `start..=end`.
    pub fn new(start: u64, end: u64) -> Self {
        ByteRange { start, end }
    }

    /// The offset and length this range covers in an object of `size`
    /// bytes: `end` clamps to the last byte, and a `start` at or past the end
    /// covers nothing.
    pub fn within(self, size: u64) -> (u64, u64) {
        if self.start >= size || self.start > self.end {
            return (self.start.min(size), 0);
        }
        let last = self.end.min(size - 1);
        (self.start, last - self.start + 1)
    }
}

/// A blob store as guests see it: a flat namespace of containers, each a
/// flat namespace of objects (names are any UTF-8 strings; `/` is just a
/// character), whose values are bytes.
///
/// Written for the semantics `wasi:blobstore` needs, not for one backend:
///
/// - writes are atomic: a reader sees an object's previous value or its new
///   one whole, never part of one; of concurrent writers to one object, the
///   last to finish wins;
/// - [`create_container`](BlobStore::create_container) of an existing
///   container returns it unchanged (what wasmCloud's providers do; guests
///   commonly create their container on every request);
/// - [`copy_object`](BlobStore::copy_object) and
///   [`move_object`](BlobStore::move_object) overwrite the destination and
///   fail when either container is missing; an object moved or copied onto
///   itself is left as it is;
/// - deleting an absent object is not an error, deleting an absent
///   container is.
///
/// Names are checked (not empty, at most [`MAX_NAME_BYTES`]) by [`Limited`]
/// in front of every backend, and so are sizes.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Names this store in messages, e.g. `file-system blob store at /srv/blobs`.
    fn describe(&self) -> String;

    /// Creates container `name`, or returns the existing one's info.
    async fn create_container(&self, name: &str) -> Result<ContainerInfo>;

    /// The info of container `name`; [`Error::NoSuchContainer`] if absent.
    async fn container_info(&self, name: &str) -> Result<ContainerInfo>;

    /// Whether container `name` exists.
    async fn container_exists(&self, name: &str) -> Result<bool>;

    /// Deletes container `name` and every object in it.
    async fn delete_container(&self, name: &str) -> Result<()>;

    /// Creates or replaces an object, atomically.
    async fn write_object(&self, container: &str, object: &str, data: Bytes) -> Result<()>;

    /// The bytes of `range` of an object (see [`ByteRange::within`]); fails
    /// with [`Error::TooLarge`] rather than read more than `max_len` bytes.
    async fn read_object(
        &self,
        container: &str,
        object: &str,
        range: ByteRange,
        max_len: u64,
    ) -> Result<Bytes>;

    /// The info of an object; [`Error::NoSuchObject`] if absent.
    async fn object_info(&self, container: &str, object: &str) -> Result<ObjectInfo>;

    /// Whether an object exists (the container must).
    async fn has_object(&self, container: &str, object: &str) -> Result<bool>;

    /// Deletes an object; an absent one is not an error (the container must
    /// exist).
    async fn delete_object(&self, container: &str, object: &str) -> Result<()>;

    /// Deletes every object of `objects` (absent ones are skipped).
    async fn delete_objects(&self, container: &str, objects: &[String]) -> Result<()> {
        for object in objects {
            self.delete_object(container, object).await?;
        }
        Ok(())
    }

    /// The names of every object in a container, sorted.
    async fn list_objects(&self, container: &str) -> Result<Vec<String>>;

    /// Deletes every object in a container, keeping the container.
    async fn clear(&self, container: &str) -> Result<()>;

    /// Copies `src` to `dest` (overwriting it).
    async fn copy_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()>;

    /// Moves `src` to `dest` (overwriting it), atomically where the backend
    /// can.
    async fn move_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()>;
}

/// The longest container or object name, in bytes of UTF-8 (S3's limit for
/// keys).
pub const MAX_NAME_BYTES: usize = 1024;

/// Fails with [`Error::InvalidName`] for an empty or too long name.
pub fn check_name(what: &'static str, name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty".to_string()
    } else if name.len() > MAX_NAME_BYTES {
        format!(
            "it is {} bytes long; the limit is {MAX_NAME_BYTES}",
            name.len()
        )
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        what,
        name: name.to_string(),
        reason,
    })
}

/// Size limits on what guests store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest object, and the most bytes of one read at once, in
    /// bytes; an object's bytes are held in memory while it is written or
    /// read. Default 64 MiB.
    pub max_object_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_object_size: 64 * 1024 * 1024,
        }
    }
}

/// A store that checks names and [`Limits`] before its inner store sees a
/// request.
///
/// The [`BlobManager`](crate::BlobManager) wraps every backend it hands out
/// in one, so the checks hold whatever the backend.
pub struct Limited {
    inner: Arc<dyn BlobStore>,
    limits: Limits,
}

impl Limited {
    /// Wraps `inner` with `limits`.
    pub fn new(inner: Arc<dyn BlobStore>, limits: Limits) -> Self {
        Limited { inner, limits }
    }

    /// The limits enforced.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn check_object(container: &str, object: &str) -> Result<()> {
        check_name("container", container)?;
        check_name("object", object)
    }
}

#[async_trait]
impl BlobStore for Limited {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn create_container(&self, name: &str) -> Result<ContainerInfo> {
        check_name("container", name)?;
        self.inner.create_container(name).await
    }

    async fn container_info(&self, name: &str) -> Result<ContainerInfo> {
        check_name("container", name)?;
        self.inner.container_info(name).await
    }

    async fn container_exists(&self, name: &str) -> Result<bool> {
        check_name("container", name)?;
        self.inner.container_exists(name).await
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        check_name("container", name)?;
        self.inner.delete_container(name).await
    }

    async fn write_object(&self, container: &str, object: &str, data: Bytes) -> Result<()> {
        Self::check_object(container, object)?;
        let len = data.len() as u64;
        if len > self.limits.max_object_size {
            return Err(Error::TooLarge {
                container: container.to_string(),
                object: object.to_string(),
                len,
                max: self.limits.max_object_size,
            });
        }
        self.inner.write_object(container, object, data).await
    }

    async fn read_object(
        &self,
        container: &str,
        object: &str,
        range: ByteRange,
        max_len: u64,
    ) -> Result<Bytes> {
        Self::check_object(container, object)?;
        if range.start > range.end {
            return Err(Error::InvalidRange {
                container: container.to_string(),
                object: object.to_string(),
                start: range.start,
                end: range.end,
            });
        }
        let max_len = max_len.min(self.limits.max_object_size);
        self.inner
            .read_object(container, object, range, max_len)
            .await
    }

    async fn object_info(&self, container: &str, object: &str) -> Result<ObjectInfo> {
        Self::check_object(container, object)?;
        self.inner.object_info(container, object).await
    }

    async fn has_object(&self, container: &str, object: &str) -> Result<bool> {
        Self::check_object(container, object)?;
        self.inner.has_object(container, object).await
    }

    async fn delete_object(&self, container: &str, object: &str) -> Result<()> {
        Self::check_object(container, object)?;
        self.inner.delete_object(container, object).await
    }

    async fn delete_objects(&self, container: &str, objects: &[String]) -> Result<()> {
        check_name("container", container)?;
        for object in objects {
            check_name("object", object)?;
        }
        self.inner.delete_objects(container, objects).await
    }

    async fn list_objects(&self, container: &str) -> Result<Vec<String>> {
        check_name("container", container)?;
        self.inner.list_objects(container).await
    }

    async fn clear(&self, container: &str) -> Result<()> {
        check_name("container", container)?;
        self.inner.clear(container).await
    }

    async fn copy_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()> {
        Self::check_object(&src.container, &src.object)?;
        Self::check_object(&dest.container, &dest.object)?;
        self.inner.copy_object(src, dest).await
    }

    async fn move_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()> {
        Self::check_object(&src.container, &src.object)?;
        Self::check_object(&dest.container, &dest.object)?;
        self.inner.move_object(src, dest).await
    }
}

/// Seconds since the Unix epoch of `time` (0 before it).
pub(crate) fn epoch_seconds(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_to_the_object() {
        assert_eq!(ByteRange::new(0, 9).within(10), (0, 10));
        assert_eq!(ByteRange::new(2, 4).within(10), (2, 3));
        assert_eq!(ByteRange::new(5, u64::MAX).within(10), (5, 5));
        assert_eq!(ByteRange::new(9, 9).within(10), (9, 1));
        assert_eq!(ByteRange::new(10, 20).within(10), (10, 0));
        assert_eq!(ByteRange::new(0, 0).within(0), (0, 0));
        assert_eq!(ByteRange::ALL.within(0), (0, 0));
    }

    #[test]
    fn names() {
        assert!(check_name("object", "a/../b").is_ok());
        assert!(check_name("object", &"x".repeat(MAX_NAME_BYTES)).is_ok());
        let err = check_name("object", "").unwrap_err();
        assert_eq!(err.to_string(), "invalid object name ``: it is empty");
        let err = check_name("container", &"x".repeat(MAX_NAME_BYTES + 1)).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("it is 1025 bytes long; the limit is 1024"),
            "{err}"
        );
    }
}
