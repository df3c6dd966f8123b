//! `wasi:blobstore/types`: the values guests write objects through and read
//! them from.
//!
//! An `outgoing-value`'s body is buffered in host memory (up to the store's
//! `max_object_size`) and written to the store whole, so the object is
//! replaced atomically. When it is written depends on the order the guest
//! calls things in, and both orders guests use work:
//!
//! - body written and its stream dropped, then `write-data`: the value is
//!   complete, so `write-data` writes it at once (`finish` then has nothing
//!   left to do);
//! - `write-data` first (or while the stream is still open), then the body,
//!   then `finish`: `write-data` checks the container and remembers the
//!   object, and `finish` writes it.
//!
//! A value dropped without `finish` writes nothing it had not written
//! already (the interface calls it corrupted). Nothing here traps on a
//! guest's misuse: a second `outgoing-value-write-body` is an error, a write
//! to a finished value's stream is `closed`, one past the limit fails with
//! the limit in the stream error.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use wasmtime::component::Resource;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, InputStream, OutputStream, Pollable, StreamError, StreamResult,
};

use super::budget::Reservation;
use super::{BlobView, GuestResult, guest};
use crate::bindings::wasi::wasi::blobstore::types;
use crate::error::Error;
use crate::store::{BlobStore, Limited};

/// How many bytes a guest may write to a body stream at once.
const WRITE_PERMIT: usize = 1024 * 1024;

/// An object value the guest is writing (`outgoing-value`).
pub struct OutgoingValue {
    body: Arc<Mutex<Body>>,
    /// Whether `outgoing-value-write-body` handed out the stream.
    stream_taken: bool,
    /// Objects `write-data` named before the body was complete, written by
    /// `finish`.
    pending: Vec<Target>,
}

/// Where `finish` writes a value.
struct Target {
    store: Arc<Limited>,
    container: String,
    object: String,
}

/// The bytes of an outgoing value, shared with its stream.
struct Body {
    bytes: BodyBytes,
    /// Whether the stream is still in the guest's hands.
    stream_open: bool,
    /// Set by `finish` or by dropping the value: the stream's writes fail.
    closed: bool,
    /// Why the body is unusable (a write past the limit).
    failed: Option<Error>,
    max_object_size: u64,
    held: Reservation,
}

enum BodyBytes {
    Writing(BytesMut),
    Done(Bytes),
}

impl Body {
    fn len(&self) -> u64 {
        match &self.bytes {
            BodyBytes::Writing(b) => b.len() as u64,
            BodyBytes::Done(b) => b.len() as u64,
        }
    }

    /// The whole body, no longer writable.
    fn done(&mut self) -> Bytes {
        let bytes = match std::mem::replace(&mut self.bytes, BodyBytes::Done(Bytes::new())) {
            BodyBytes::Writing(b) => b.freeze(),
            BodyBytes::Done(b) => b,
        };
        self.bytes = BodyBytes::Done(bytes.clone());
        bytes
    }

    fn write(&mut self, data: Bytes) -> Result<(), StreamError> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        if let Some(err) = &self.failed {
            return Err(StreamError::LastOperationFailed(wasmtime::Error::msg(
                err.to_string(),
            )));
        }
        let len = self.len() + data.len() as u64;
        let check = if len > self.max_object_size {
            Err(Error::ValueTooLarge {
                len,
                max: self.max_object_size,
            })
        } else {
            self.held.grow(data.len() as u64, 2 * self.max_object_size)
        };
        if let Err(err) = check {
            let message = err.to_string();
            self.failed = Some(err);
            return Err(StreamError::LastOperationFailed(wasmtime::Error::msg(
                message,
            )));
        }
        match &mut self.bytes {
            BodyBytes::Writing(b) => b.extend_from_slice(&data),
            BodyBytes::Done(_) => return Err(StreamError::Closed),
        }
        Ok(())
    }
}

fn lock(body: &Mutex<Body>) -> MutexGuard<'_, Body> {
    body.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for OutgoingValue {
    fn drop(&mut self) {
        lock(&self.body).closed = true;
    }
}

/// The `output-stream` of an outgoing value's body.
struct BodyWriter {
    body: Arc<Mutex<Body>>,
}

impl OutputStream for BodyWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        lock(&self.body).write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let body = lock(&self.body);
        if body.closed {
            return Err(StreamError::Closed);
        }
        match &body.failed {
            Some(err) => Err(StreamError::LastOperationFailed(wasmtime::Error::msg(
                err.to_string(),
            ))),
            None => Ok(WRITE_PERMIT),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for BodyWriter {
    async fn ready(&mut self) {}
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        lock(&self.body).stream_open = false;
    }
}

/// Object bytes the guest got from `get-data` (`incoming-value`).
pub struct IncomingValue {
    data: Bytes,
    held: Reservation,
}

/// The `input-stream` of an incoming value.
struct BytesReader {
    data: Bytes,
    _held: Reservation,
}

impl InputStream for BytesReader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if self.data.is_empty() {
            return Err(StreamError::Closed);
        }
        let n = size.min(self.data.len());
        Ok(self.data.split_to(n))
    }
}

#[async_trait::async_trait]
impl Pollable for BytesReader {
    async fn ready(&mut self) {}
}

impl BlobView<'_> {
    /// An incoming value holding `data`, counted against this instance's
    /// budget.
    pub(crate) fn incoming_value(
        &mut self,
        data: Bytes,
        max_object_size: u64,
    ) -> Result<IncomingValue, Error> {
        let mut held = self.state.held.reservation();
        held.grow(data.len() as u64, 2 * max_object_size)?;
        Ok(IncomingValue { data, held })
    }

    /// `write-data`: writes `value` to `object` in `container` now if its
    /// body is complete, or remembers the object for `finish`.
    pub(crate) async fn write_value(
        &mut self,
        store: Arc<Limited>,
        container: String,
        object: String,
        value: &Resource<OutgoingValue>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let checked = async {
            crate::store::check_name("object", &object)?;
            if !store.container_exists(&container).await? {
                return Err(Error::no_such_container(&container));
            }
            Ok(())
        };
        if let Err(err) = checked.await {
            return Ok(Err(err));
        }
        let entry = self.table.get_mut(value)?;
        let complete = {
            let mut body = lock(&entry.body);
            if let Some(err) = &body.failed {
                return Ok(Err(match *err {
                    Error::ValueTooLarge { len, max } => Error::TooLarge {
                        container,
                        object,
                        len,
                        max,
                    },
                    ref other => other.clone(),
                }));
            }
            (entry.stream_taken && !body.stream_open).then(|| body.done())
        };
        let Some(bytes) = complete else {
            entry.pending.push(Target {
                store,
                container,
                object,
            });
            return Ok(Ok(()));
        };
        Ok(store.write_object(&container, &object, bytes).await)
    }
}

impl types::Host for BlobView<'_> {}

impl types::HostOutgoingValue for BlobView<'_> {
    #[tracing::instrument(name = "skiff_blob.new_outgoing_value", skip_all)]
    async fn new_outgoing_value(&mut self) -> wasmtime::Result<Resource<OutgoingValue>> {
        let max_object_size = self.state.max_object_size().await;
        let body = Body {
            bytes: BodyBytes::Writing(BytesMut::new()),
            stream_open: false,
            closed: false,
            failed: None,
            max_object_size,
            held: self.state.held.reservation(),
        };
        Ok(self.table.push(OutgoingValue {
            body: Arc::new(Mutex::new(body)),
            stream_taken: false,
            pending: Vec::new(),
        })?)
    }

    #[tracing::instrument(name = "skiff_blob.outgoing_value_write_body", skip_all)]
    async fn outgoing_value_write_body(
        &mut self,
        value: Resource<OutgoingValue>,
    ) -> wasmtime::Result<Result<Resource<DynOutputStream>, ()>> {
        let value = self.table.get_mut(&value)?;
        if value.stream_taken {
            return Ok(Err(()));
        }
        value.stream_taken = true;
        lock(&value.body).stream_open = true;
        let writer: DynOutputStream = Box::new(BodyWriter {
            body: value.body.clone(),
        });
        Ok(Ok(self.table.push(writer)?))
    }

    #[tracing::instrument(name = "skiff_blob.finish", skip_all)]
    async fn finish(&mut self, value: Resource<OutgoingValue>) -> GuestResult<()> {
        let mut value = self.table.delete(value)?;
        let pending = std::mem::take(&mut value.pending);
        let bytes = {
            let mut body = lock(&value.body);
            body.closed = true;
            if let Some(err) = body.failed.clone() {
                return guest(Err(err));
            }
            body.done()
        };
        for target in pending {
            let written = target
                .store
                .write_object(&target.container, &target.object, bytes.clone())
                .await;
            if written.is_err() {
                return guest(written);
            }
        }
        Ok(Ok(()))
    }

    async fn drop(&mut self, value: Resource<OutgoingValue>) -> wasmtime::Result<()> {
        let value = self.table.delete(value)?;
        if !value.pending.is_empty() {
            tracing::debug!(
                objects = value.pending.len(),
                "an outgoing value was dropped without `finish`; its objects are not written"
            );
        }
        Ok(())
    }
}

impl types::HostIncomingValue for BlobView<'_> {
    #[tracing::instrument(name = "skiff_blob.incoming_value_consume_sync", skip_all)]
    async fn incoming_value_consume_sync(
        &mut self,
        value: Resource<IncomingValue>,
    ) -> GuestResult<Vec<u8>> {
        let value = self.table.delete(value)?;
        Ok(Ok(value.data.to_vec()))
    }

    #[tracing::instrument(name = "skiff_blob.incoming_value_consume_async", skip_all)]
    async fn incoming_value_consume_async(
        &mut self,
        value: Resource<IncomingValue>,
    ) -> GuestResult<Resource<DynInputStream>> {
        let IncomingValue { data, held } = self.table.delete(value)?;
        let reader: DynInputStream = Box::new(BytesReader { data, _held: held });
        Ok(Ok(self.table.push(reader)?))
    }

    async fn size(&mut self, value: Resource<IncomingValue>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&value)?.data.len() as u64)
    }

    async fn drop(&mut self, value: Resource<IncomingValue>) -> wasmtime::Result<()> {
        self.table.delete(value)?;
        Ok(())
    }
}
