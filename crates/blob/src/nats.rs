//! `type = "nats"`: containers are NATS JetStream object stores (buckets)
//! and objects their objects, under the guests' names, so other NATS
//! clients (`nats object get BUCKET NAME`) see the same data.
//!
//! Container `C` of a store with bucket prefix `P` is bucket
//! `P_<C escaped>` (stream `OBJ_P_…`, file storage), made by
//! [`create_container`](BlobStore::create_container); see [`buckets`] for
//! the escaping and for names too long for a bucket, which are shortened
//! with a digest. Object names are the guests' names as they are
//! (the object store encodes them itself).
//!
//! - A write stores the value in chunks, then its metadata: a reader sees
//!   the previous version or the new one whole, and of concurrent writers
//!   the last to publish its metadata wins. (Each writer purges the chunks
//!   of the version it replaced; when two race, the loser's chunks stay in
//!   the stream until the container is cleared or deleted.)
//! - A read goes through the object's reader: a range reads the object from
//!   its start, keeping only the bytes asked for, and fails with
//!   [`Error::TooLarge`] before reading when more than `max_len` are asked
//!   for. A version replaced or deleted while it is read (its chunks
//!   purged) is noticed and the read starts again on the current one.
//! - A copy reads the source whole into memory (at most the store's
//!   `max_object_size`) and writes it; a move is a copy and then a delete
//!   of the source, so it is not atomic: for a moment the object is at both
//!   names, and if the delete fails it stays at both.
//! - `created_at` of a container is its stream's creation time, of an
//!   object the time its version was written.
//!
//! While the server is unreachable every call fails at once with
//! [`Error::Backend`] naming it; the client reconnects on its own. Every
//! call is bounded (5 s for one request; a write 5 s and 1 s per MiB; a
//! read fails after 15 s without data; a listing 30 s): a request in
//! flight when the server went away is never answered.

pub mod buckets;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::{Duration, Instant, SystemTime};

use async_nats::connection::State;
use async_nats::jetstream::context::{GetStreamError, GetStreamErrorKind, RequestErrorKind};
use async_nats::jetstream::object_store::{self, DeleteErrorKind, GetErrorKind, Object};
use async_nats::jetstream::response::Response;
use async_nats::jetstream::stream::{StorageType, Stream};
use async_nats::jetstream::{self, ErrorCode};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryStreamExt as _;
use skiff_nats::{NatsConfig, async_nats};
use tokio::io::AsyncReadExt as _;

use self::buckets::{bucket_name, check_prefix};
use crate::error::{Abbrev, Error, Result};
use crate::store::{BlobStore, ByteRange, ContainerInfo, ObjectId, ObjectInfo, epoch_seconds};

/// How long one request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long listing a container may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// The slowest rate a write is given time for, in bytes per second.
const MIN_WRITE_RATE: u64 = 1024 * 1024;

/// How long a read waits for data before it checks that the version it
/// reads is still there.
const STALL_CHECK: Duration = Duration::from_secs(1);

/// How long a read may go without data from a version that is still there.
const STALL_LIMIT: Duration = Duration::from_secs(15);

/// How many times a read starts again on a newer version before it gives up.
const MAX_READ_ATTEMPTS: usize = 10;

/// A blob store in NATS JetStream object stores, one per container.
pub struct NatsStore {
    /// The connection, shared with other users of the same configuration.
    client: skiff_nats::Connection,
    jetstream: jetstream::Context,
    prefix: String,
    max_copy: u64,
    /// `nats blob store `P` at nats://…` (never credentials).
    description: String,
}

impl NatsStore {
    /// Connects to the server(s) `config` names, in JetStream domain
    /// `jetstream_domain` if given, for containers in buckets named
    /// `<bucket_prefix>_…`. `max_object_size` bounds the objects
    /// [`copy_object`](BlobStore::copy_object) and
    /// [`move_object`](BlobStore::move_object) take (they go through
    /// memory). Makes no bucket; fails when the server cannot be reached
    /// now or JetStream does not answer there.
    pub async fn connect(
        config: &NatsConfig,
        bucket_prefix: &str,
        jetstream_domain: Option<&str>,
        max_object_size: u64,
    ) -> Result<Self> {
        let description = format!("nats blob store `{bucket_prefix}` at {}", config.describe());
        check_prefix(bucket_prefix)
            .map_err(|message| Error::backend(format!("{description}: bucket prefix {message}")))?;
        let client = skiff_nats::shared(config).await.map_err(Error::backend)?;
        let jetstream = match jetstream_domain {
            Some(domain) => jetstream::with_domain(client.client().clone(), domain),
            None => jetstream::new(client.client().clone()),
        };
        let store = NatsStore {
            client,
            jetstream,
            prefix: bucket_prefix.to_string(),
            max_copy: max_object_size,
            description,
        };
        store.check_jetstream(jetstream_domain).await?;
        tracing::debug!("opened {}", store.description);
        Ok(store)
    }

    /// Fails unless JetStream answers: asks for the account's info, reading
    /// none of it (async-nats's type for it needs fields that servers
    /// before 2.10, Debian's 2.9 among them, do not send).
    async fn check_jetstream(&self, domain: Option<&str>) -> Result<()> {
        let hint = "is JetStream on (`nats-server -js`), and may this user use it?";
        let domain = domain
            .map(|d| format!(" in domain `{d}`"))
            .unwrap_or_default();
        let empty: BTreeMap<&str, &str> = BTreeMap::new();
        let ask = self
            .jetstream
            .request::<_, _, Response<serde::de::IgnoredAny>>("INFO", &empty);
        match tokio::time::timeout(CALL_TIMEOUT, ask).await {
            Ok(Ok(Response::Ok(_))) => Ok(()),
            Ok(Ok(Response::Err { error })) => Err(self.error(format!(
                "JetStream{domain} refused the account's info ({error}); {hint}"
            ))),
            Ok(Err(err)) if err.kind() == RequestErrorKind::NoResponders => Err(self.error(
                format!("JetStream does not answer{domain} (no responders); {hint}"),
            )),
            Ok(Err(err)) => {
                Err(self.error(format!("could not reach JetStream{domain}: {err}; {hint}")))
            }
            Err(_) => Err(self.error(format!(
                "JetStream{domain} did not answer within {CALL_TIMEOUT:?}; {hint}"
            ))),
        }
    }

    fn error(&self, cause: impl Display) -> Error {
        Error::backend(format!("{}: {cause}", self.description))
    }

    /// Fails at once unless the client is connected now (rather than after
    /// a timeout).
    fn connected(&self) -> Result<()> {
        match self.client.connection_state() {
            State::Connected => Ok(()),
            state => Err(self.error(format!(
                "unreachable (the client is {state}; it keeps reconnecting)"
            ))),
        }
    }

    /// Runs `call` (`what` in messages) if the client is connected, within
    /// `bound`: a request lost while the server went away would never be
    /// answered.
    async fn bounded<T>(
        &self,
        what: &str,
        bound: Duration,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        self.connected()?;
        match tokio::time::timeout(bound, call).await {
            Ok(result) => result,
            Err(_) => Err(self.error(format!("no answer to {what} within {bound:?}"))),
        }
    }

    fn stream_name(&self, container: &str) -> String {
        format!("OBJ_{}", bucket_name(&self.prefix, container))
    }

    /// The stream of `container`.
    async fn stream(&self, container: &str) -> Result<Stream> {
        match self.jetstream.get_stream(self.stream_name(container)).await {
            Ok(stream) => Ok(stream),
            Err(err) if stream_missing(&err) => Err(Error::no_such_container(container)),
            Err(err) => Err(self.error(format!(
                "could not read container `{}`: {err}",
                Abbrev(container)
            ))),
        }
    }

    /// The object store of `container`.
    async fn bucket(&self, container: &str) -> Result<object_store::ObjectStore> {
        let bucket = bucket_name(&self.prefix, container);
        match self.jetstream.get_object_store(&bucket).await {
            Ok(store) => Ok(store),
            Err(err) => {
                let missing = std::error::Error::source(&err)
                    .and_then(|source| source.downcast_ref::<GetStreamError>())
                    .is_some_and(stream_missing);
                Err(if missing {
                    Error::no_such_container(container)
                } else {
                    self.error(format!(
                        "could not open container `{}`: {err}",
                        Abbrev(container)
                    ))
                })
            }
        }
    }

    /// The current version of an object, its bytes not read yet.
    async fn object(
        &self,
        bucket: &object_store::ObjectStore,
        container: &str,
        name: &str,
    ) -> Result<Object> {
        bucket.get(name).await.map_err(|err| match err.kind() {
            GetErrorKind::NotFound => Error::no_such_object(container, name),
            _ => self.error(format!(
                "could not read object `{}` in container `{}`: {err}",
                Abbrev(name),
                Abbrev(container)
            )),
        })
    }

    /// `range` of an object, at most `max_len` bytes.
    async fn read_range(
        &self,
        bucket: &object_store::ObjectStore,
        container: &str,
        name: &str,
        range: ByteRange,
        max_len: u64,
    ) -> Result<Bytes> {
        for _ in 0..MAX_READ_ATTEMPTS {
            let mut object = self
                .bounded("a read", CALL_TIMEOUT, self.object(bucket, container, name))
                .await?;
            let (start, len) = range.within(object.info.size as u64);
            if len > max_len {
                return Err(Error::TooLarge {
                    container: container.to_string(),
                    object: name.to_string(),
                    len,
                    max: max_len,
                });
            }
            if len == 0 {
                return Ok(Bytes::new());
            }
            let part = self
                .read_part(bucket, &mut object, container, name, start, len)
                .await?;
            match part {
                Some(bytes) => return Ok(bytes),
                None => tracing::debug!(
                    "{}: object `{}` in container `{}` was replaced while it was read; \
                     reading the new version",
                    self.description,
                    Abbrev(name),
                    Abbrev(container)
                ),
            }
        }
        Err(self.error(format!(
            "object `{}` in container `{}` was replaced {MAX_READ_ATTEMPTS} times while it \
             was read",
            Abbrev(name),
            Abbrev(container)
        )))
    }

    /// Bytes `start..start + len` of `object` (a version of `name`), read
    /// through its reader; `None` if that version was replaced or deleted
    /// meanwhile (its chunks purged, the reader would wait for ever).
    async fn read_part(
        &self,
        bucket: &object_store::ObjectStore,
        object: &mut Object,
        container: &str,
        name: &str,
        start: u64,
        len: u64,
    ) -> Result<Option<Bytes>> {
        let whole = object.info.size;
        let failed = |cause: String| {
            self.error(format!(
                "could not read object `{}` in container `{}`: {cause}",
                Abbrev(name),
                Abbrev(container)
            ))
        };
        let want = usize::try_from(len).expect("at most max_len, which is held in memory");
        let mut out = Vec::with_capacity(want);
        let mut skip = start;
        let mut scratch = vec![0; 128 * 1024];
        let mut last_data = Instant::now();
        while (out.len() as u64) < len {
            match tokio::time::timeout(STALL_CHECK, object.read(&mut scratch)).await {
                Ok(Ok(0)) => {
                    return Err(failed(format!(
                        "it ended after {} of its {whole} bytes",
                        start - skip + out.len() as u64
                    )));
                }
                Ok(Ok(n)) => {
                    last_data = Instant::now();
                    let skipped = usize::try_from(skip.min(n as u64)).expect("at most n");
                    skip -= skipped as u64;
                    let wanted = &scratch[skipped..n];
                    let take = wanted.len().min(want - out.len());
                    out.extend_from_slice(&wanted[..take]);
                }
                Ok(Err(err)) => return Err(failed(err.to_string())),
                // No data for a while: fail at once if the server went
                // away; start again if the version read is gone.
                Err(_no_data_yet) => {
                    let current = self
                        .bounded("a read", CALL_TIMEOUT, async {
                            match bucket.get(name).await {
                                Ok(current) => Ok(Some(current.info.nuid.clone())),
                                Err(err) if err.kind() == GetErrorKind::NotFound => Ok(None),
                                Err(err) => Err(failed(err.to_string())),
                            }
                        })
                        .await?;
                    if current.as_deref() != Some(object.info.nuid.as_str()) {
                        return Ok(None);
                    }
                    if last_data.elapsed() > STALL_LIMIT {
                        return Err(failed(format!("no data within {STALL_LIMIT:?}")));
                    }
                }
            }
        }
        Ok(Some(out.into()))
    }

    /// Stores `data` as object `name`, replacing it.
    async fn put(
        &self,
        bucket: &object_store::ObjectStore,
        container: &str,
        name: &str,
        data: &[u8],
    ) -> Result<()> {
        let bound = CALL_TIMEOUT + Duration::from_secs(data.len() as u64 / MIN_WRITE_RATE);
        let put = async {
            let mut reader = data;
            bucket
                .put(name, &mut reader)
                .await
                .map(drop)
                .map_err(|err| {
                    self.error(format!(
                        "could not write object `{}` in container `{}`: {err}",
                        Abbrev(name),
                        Abbrev(container)
                    ))
                })
        };
        self.bounded("a write", bound, put).await
    }

    async fn delete(
        &self,
        bucket: &object_store::ObjectStore,
        container: &str,
        name: &str,
    ) -> Result<()> {
        let delete = async {
            match bucket.delete(name).await {
                Err(err) if err.kind() != DeleteErrorKind::NotFound => Err(self.error(format!(
                    "could not delete object `{}` in container `{}`: {err}",
                    Abbrev(name),
                    Abbrev(container)
                ))),
                _ => Ok(()),
            }
        };
        self.bounded("a delete", CALL_TIMEOUT, delete).await
    }

    /// Checks that `src` exists and `dest`'s container does; returns the
    /// source's and the destination's buckets.
    async fn source_and_destination(
        &self,
        src: &ObjectId,
        dest: &ObjectId,
    ) -> Result<(object_store::ObjectStore, object_store::ObjectStore)> {
        let check = async {
            let from = self.bucket(&src.container).await?;
            self.object(&from, &src.container, &src.object).await?;
            let to = if dest.container == src.container {
                from.clone()
            } else {
                self.bucket(&dest.container).await?
            };
            Ok((from, to))
        };
        self.bounded("a copy", CALL_TIMEOUT, check).await
    }

    async fn copy(&self, src: &ObjectId, dest: &ObjectId) -> Result<bool> {
        let (from, to) = self.source_and_destination(src, dest).await?;
        if src == dest {
            return Ok(false);
        }
        let data = self
            .read_range(
                &from,
                &src.container,
                &src.object,
                ByteRange::ALL,
                self.max_copy,
            )
            .await?;
        self.put(&to, &dest.container, &dest.object, &data).await?;
        Ok(true)
    }
}

/// Whether `err` says the stream does not exist.
fn stream_missing(err: &GetStreamError) -> bool {
    matches!(err.kind(), GetStreamErrorKind::JetStream(err)
        if err.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

fn container_info(name: &str, stream: &Stream) -> ContainerInfo {
    ContainerInfo {
        name: name.to_string(),
        created_at: epoch_seconds(SystemTime::from(stream.cached_info().created)),
    }
}

#[async_trait]
impl BlobStore for NatsStore {
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn create_container(&self, name: &str) -> Result<ContainerInfo> {
        let create = async {
            match self.stream(name).await {
                Ok(stream) => return Ok(container_info(name, &stream)),
                Err(Error::NoSuchContainer { .. }) => {}
                Err(err) => return Err(err),
            }
            let config = object_store::Config {
                bucket: bucket_name(&self.prefix, name),
                description: Some(format!("wasi:blobstore container `{name}` of a Skiff app")),
                storage: StorageType::File,
                ..Default::default()
            };
            let made = self.jetstream.create_object_store(config).await;
            // Made meanwhile by another writer: that one stands.
            match (self.stream(name).await, made) {
                (Ok(stream), _) => Ok(container_info(name, &stream)),
                (Err(_), Err(err)) => Err(self.error(format!(
                    "could not create container `{}`: {err}",
                    Abbrev(name)
                ))),
                (Err(err), Ok(_)) => Err(err),
            }
        };
        self.bounded("a create", CALL_TIMEOUT, create).await
    }

    async fn container_info(&self, name: &str) -> Result<ContainerInfo> {
        let info = async { Ok(container_info(name, &self.stream(name).await?)) };
        self.bounded("a read", CALL_TIMEOUT, info).await
    }

    async fn container_exists(&self, name: &str) -> Result<bool> {
        let exists = async {
            match self.stream(name).await {
                Ok(_) => Ok(true),
                Err(Error::NoSuchContainer { .. }) => Ok(false),
                Err(err) => Err(err),
            }
        };
        self.bounded("a read", CALL_TIMEOUT, exists).await
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        let delete = async {
            match self.jetstream.delete_stream(self.stream_name(name)).await {
                Ok(_) => Ok(()),
                Err(err) if stream_missing(&err) => Err(Error::no_such_container(name)),
                Err(err) => Err(self.error(format!(
                    "could not delete container `{}`: {err}",
                    Abbrev(name)
                ))),
            }
        };
        self.bounded("a delete", CALL_TIMEOUT, delete).await
    }

    async fn write_object(&self, container: &str, object: &str, data: Bytes) -> Result<()> {
        let bucket = self
            .bounded("a write", CALL_TIMEOUT, self.bucket(container))
            .await?;
        self.put(&bucket, container, object, &data).await
    }

    async fn read_object(
        &self,
        container: &str,
        object: &str,
        range: ByteRange,
        max_len: u64,
    ) -> Result<Bytes> {
        let bucket = self
            .bounded("a read", CALL_TIMEOUT, self.bucket(container))
            .await?;
        self.read_range(&bucket, container, object, range, max_len)
            .await
    }

    async fn object_info(&self, container: &str, name: &str) -> Result<ObjectInfo> {
        let info = async {
            let bucket = self.bucket(container).await?;
            let object = self.object(&bucket, container, name).await?;
            Ok(ObjectInfo {
                name: name.to_string(),
                container: container.to_string(),
                created_at: object
                    .info
                    .modified
                    .map(|time| epoch_seconds(SystemTime::from(time)))
                    .unwrap_or(0),
                size: object.info.size as u64,
            })
        };
        self.bounded("a read", CALL_TIMEOUT, info).await
    }

    async fn has_object(&self, container: &str, name: &str) -> Result<bool> {
        let has = async {
            let bucket = self.bucket(container).await?;
            match self.object(&bucket, container, name).await {
                Ok(_) => Ok(true),
                Err(Error::NoSuchObject { .. }) => Ok(false),
                Err(err) => Err(err),
            }
        };
        self.bounded("a read", CALL_TIMEOUT, has).await
    }

    async fn delete_object(&self, container: &str, object: &str) -> Result<()> {
        let bucket = self
            .bounded("a delete", CALL_TIMEOUT, self.bucket(container))
            .await?;
        self.delete(&bucket, container, object).await
    }

    async fn delete_objects(&self, container: &str, objects: &[String]) -> Result<()> {
        let bucket = self
            .bounded("a delete", CALL_TIMEOUT, self.bucket(container))
            .await?;
        for object in objects {
            self.delete(&bucket, container, object).await?;
        }
        Ok(())
    }

    async fn list_objects(&self, container: &str) -> Result<Vec<String>> {
        let list = async {
            let bucket = self.bucket(container).await?;
            let failed = |err: &dyn Display| {
                self.error(format!(
                    "could not list container `{}`: {err}",
                    Abbrev(container)
                ))
            };
            let objects = bucket.list().await.map_err(|err| failed(&err))?;
            objects
                .map_ok(|info| info.name)
                .try_collect::<Vec<String>>()
                .await
                .map_err(|err| failed(&err))
        };
        let mut names = self.bounded("a listing", LIST_TIMEOUT, list).await?;
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Purges the container's stream: every object goes at once.
    async fn clear(&self, container: &str) -> Result<()> {
        let clear = async {
            let stream = self.stream(container).await?;
            stream.purge().await.map(drop).map_err(|err| {
                self.error(format!(
                    "could not clear container `{}`: {err}",
                    Abbrev(container)
                ))
            })
        };
        self.bounded("a purge", CALL_TIMEOUT, clear).await
    }

    async fn copy_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()> {
        self.copy(src, dest).await.map(drop)
    }

    /// A copy, then a delete of the source: not atomic (see the module
    /// docs).
    async fn move_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()> {
        if self.copy(src, dest).await? {
            self.delete_object(&src.container, &src.object).await?;
        }
        Ok(())
    }
}
