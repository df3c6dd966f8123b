//! Per-instance state, the grant, and what both interfaces share.

mod wasi;
mod wasmcloud;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};

use crate::broker::{Broker, CONTENT_TYPE, Message};
use crate::error::Error;
use crate::manager::MessagingManager;

/// The broker label `wasmcloud:messaging` (which has no client to open)
/// always uses.
pub const DEFAULT_LABEL: &str = "default";

/// The messaging state of one guest instance: the app's brokers, the
/// labels its component's `message_brokers` grant, and the reply subjects
/// of the messages the trigger handed it.
pub struct MessagingState {
    manager: Arc<MessagingManager>,
    granted: Arc<[String]>,
    component_id: Arc<str>,
    /// Subjects this instance may publish to without a grant: the reply
    /// subjects of the messages it was handed, with their brokers.
    replies: Vec<(String, Arc<dyn Broker>)>,
}

impl MessagingState {
    /// State for an instance of component `component_id`, which may use the
    /// brokers labelled `granted` (its `message_brokers`) among `manager`'s.
    pub fn new(
        manager: Arc<MessagingManager>,
        granted: Arc<[String]>,
        component_id: Arc<str>,
    ) -> Self {
        MessagingState {
            manager,
            granted,
            component_id,
            replies: Vec::new(),
        }
    }

    /// The broker labelled `label`, if this component is granted it; the
    /// single grant check of the capability. Failures are logged with the
    /// component id.
    async fn broker(&self, label: &str) -> Result<Arc<dyn Broker>, Error> {
        let id = &self.component_id;
        if !self.granted.iter().any(|g| g == label) {
            let err = Error::PermissionDenied(format!(
                "component `{id}` may not use message broker `{label}`: add \"{label}\" to its \
                 `message_brokers`"
            ));
            tracing::warn!(component = %id, "{err}");
            return Err(err);
        }
        self.manager.broker(label).await.inspect_err(|err| {
            tracing::warn!(
                component = %id,
                "component `{id}` could not reach message broker `{label}` ({}): {err}",
                self.manager.describe(label)
            );
        })
    }

    /// The broker a reply to `subject` goes through, when `subject` is the
    /// reply subject of a message this instance was handed.
    fn reply_broker(&self, subject: &str) -> Option<Arc<dyn Broker>> {
        self.replies
            .iter()
            .find(|(s, _)| s == subject)
            .map(|(_, b)| b.clone())
    }
}

/// What the host bindings need from the store data: the instance's
/// [`MessagingState`] and the resource table the guest's handles live in.
pub struct MessagingView<'a> {
    /// The instance's messaging state.
    pub state: &'a mut MessagingState,
    /// The instance's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
}

impl MessagingView<'_> {
    /// Hands a message `origin` delivered to this instance as a
    /// `wasi:messaging` message resource (for `incoming-handler.handle`);
    /// `request-reply.reply` answers it through `origin`.
    pub fn receive(
        &mut self,
        message: Message,
        origin: Arc<dyn Broker>,
    ) -> wasmtime::Result<Resource<MessageHandle>> {
        Ok(self.table.push(MessageHandle::received(message, origin))?)
    }

    /// Lets this instance publish to `subject`, the reply subject of a
    /// message `origin` delivered to it, without a grant: what a
    /// `wasmcloud:messaging` handler answers a request with.
    pub fn allow_reply(&mut self, subject: &str, origin: Arc<dyn Broker>) {
        self.state.replies.push((subject.to_string(), origin));
    }
}

/// Implemented by a host's store data to expose messaging to guests.
pub trait MessagingHostView: Send {
    /// The messaging view of this instance.
    fn messaging(&mut self) -> MessagingView<'_>;
}

/// The [`HasData`] marker the generated `add_to_linker` functions take.
pub(crate) struct Messaging;

impl HasData for Messaging {
    type Data<'a> = MessagingView<'a>;
}

/// Adds the messaging imports to `linker`: `wasi:messaging/{types,producer,
/// request-reply}@0.2.0-draft` and `wasmcloud:messaging/consumer@0.2.0`.
pub fn add_to_linker<T: MessagingHostView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    use crate::bindings::wasi::wasi::messaging as w;
    use crate::bindings::wasmcloud::wasmcloud::messaging as wc;
    let getter: fn(&mut T) -> MessagingView<'_> = T::messaging;
    w::types::add_to_linker::<T, Messaging>(linker, getter)?;
    w::producer::add_to_linker::<T, Messaging>(linker, getter)?;
    w::request_reply::add_to_linker::<T, Messaging>(linker, getter)?;
    wc::types::add_to_linker::<T, Messaging>(linker, getter)?;
    wc::consumer::add_to_linker::<T, Messaging>(linker, getter)?;
    Ok(())
}

/// A `wasi:messaging` client: an open broker, by label.
pub struct ClientHandle {
    label: String,
    broker: Arc<dyn Broker>,
}

/// A `wasi:messaging` message: built by the guest, or delivered to it.
pub struct MessageHandle {
    /// The subject it arrived on (`None` for one the guest built).
    topic: Option<String>,
    /// Where replies go, for one that arrived.
    reply_to: Option<String>,
    content_type: Option<String>,
    metadata: Vec<(String, String)>,
    data: Bytes,
    /// The broker it arrived through, which replies go back through.
    origin: Option<Arc<dyn Broker>>,
}

impl MessageHandle {
    fn new(data: Vec<u8>) -> Self {
        MessageHandle {
            topic: None,
            reply_to: None,
            content_type: None,
            metadata: Vec::new(),
            data: data.into(),
            origin: None,
        }
    }

    fn received(message: Message, origin: Arc<dyn Broker>) -> Self {
        let mut content_type = None;
        let mut metadata = Vec::with_capacity(message.headers.len());
        for (name, value) in message.headers {
            if content_type.is_none() && name.eq_ignore_ascii_case(CONTENT_TYPE) {
                content_type = Some(value);
            } else {
                metadata.push((name, value));
            }
        }
        MessageHandle {
            topic: Some(message.subject),
            reply_to: message.reply_to,
            content_type,
            metadata,
            data: message.payload,
            origin: Some(origin),
        }
    }

    /// The broker message that sends this on `subject`.
    fn into_message(self, subject: String) -> Message {
        let mut headers = Vec::with_capacity(self.metadata.len() + 1);
        if let Some(ct) = self.content_type {
            headers.push((CONTENT_TYPE.to_string(), ct));
        }
        headers.extend(self.metadata);
        Message {
            subject,
            reply_to: None,
            headers,
            payload: self.data,
        }
    }

    /// [`into_message`](Self::into_message) of a copy, for a message the
    /// guest keeps (a request's, which it only lends).
    fn to_message(&self, subject: String) -> Message {
        MessageHandle {
            topic: None,
            reply_to: None,
            content_type: self.content_type.clone(),
            metadata: self.metadata.clone(),
            data: self.data.clone(),
            origin: None,
        }
        .into_message(subject)
    }
}

/// `wasi:messaging` request options.
#[derive(Default)]
pub struct RequestOptions {
    timeout: Option<Duration>,
    expected_replies: Option<u32>,
}

/// What a host function fails with: an error the guest sees as the
/// interface's error value, or a trap (a bad resource handle).
pub enum HostError {
    /// Returned to the guest.
    Messaging(Error),
    /// Traps the guest.
    Trap(wasmtime::Error),
}

impl From<Error> for HostError {
    fn from(err: Error) -> Self {
        HostError::Messaging(err)
    }
}

impl From<ResourceTableError> for HostError {
    fn from(err: ResourceTableError) -> Self {
        HostError::Trap(err.into())
    }
}
