//! The backend trait every message broker implements, and the message it carries.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::error::Result;

/// A message as it travels through a broker.
///
/// `headers` are what NATS calls headers and `wasi:messaging` calls
/// metadata; the content type travels as the `content-type` header (see
/// [`Message::content_type`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// The subject it was published on (or is to be published on).
    pub subject: String,
    /// Where replies go, if the sender expects any.
    pub reply_to: Option<String>,
    /// Headers, in order; a name may repeat.
    pub headers: Vec<(String, String)>,
    /// The payload.
    pub payload: Bytes,
}

/// The header that carries a message's content type.
pub const CONTENT_TYPE: &str = "content-type";

impl Message {
    /// A message on `subject` with `payload` and nothing else.
    pub fn new(subject: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Message {
            subject: subject.into(),
            reply_to: None,
            headers: Vec::new(),
            payload: payload.into(),
        }
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `content-type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.header(CONTENT_TYPE)
    }
}

/// Messages delivered to one subscription, in the order the broker
/// delivered them. The stream ends only when the subscription is over for
/// good (the broker was dropped or closed); a NATS connection that drops
/// and comes back keeps the stream going (the client resubscribes).
pub type Subscription = Pin<Box<dyn Stream<Item = Message> + Send>>;

/// A message broker as guests and the messaging trigger see it.
///
/// Written for the semantics of `wasi:messaging` and `wasmcloud:messaging`,
/// not for one backend; the embedded broker and NATS both provide:
///
/// - subjects are `.`-separated tokens; subscriptions may use NATS
///   wildcards: `*` matches one token, a final `>` one or more;
/// - a subscription with a queue group shares the messages of its subject
///   with the other members of that group: each message goes to one member
///   of each group, and to every subscription without a group;
/// - delivery is at most once: a message published while nobody is
///   subscribed is gone;
/// - messages from one publisher to one subscription arrive in order.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Names this broker in messages: `nats://127.0.0.1:4222`, `embedded`.
    fn describe(&self) -> String;

    /// The broker's kind, as traces name it (`messaging.system`): `nats`,
    /// `embedded`.
    fn system(&self) -> &'static str;

    /// Publishes `message` on `message.subject` (with its `reply_to`, if
    /// any). Returns once the broker has taken it; that nobody is
    /// subscribed is not an error.
    async fn publish(&self, message: Message) -> Result<()>;

    /// Publishes `message` with a fresh reply subject and collects the
    /// replies: returns when `max_replies` have arrived or `timeout` has
    /// passed, whichever is first. A timeout with no reply at all is
    /// [`Error::Timeout`](crate::Error::Timeout); with some, they are
    /// returned. `message.reply_to` is ignored. With no timeout, waits for
    /// `max_replies` (the caller bounds it: a guest's request runs under
    /// its component's timeout).
    async fn request(
        &self,
        message: Message,
        timeout: Option<Duration>,
        max_replies: usize,
    ) -> Result<Vec<Message>>;

    /// Subscribes to `subject` (wildcards allowed), in `queue_group` if
    /// given. Messages published after this returns are delivered.
    async fn subscribe(&self, subject: &str, queue_group: Option<&str>) -> Result<Subscription>;
}
