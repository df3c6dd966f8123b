//! The NATS backend, over `async-nats`.

use std::str::FromStr;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{
    HeaderMap, HeaderName, HeaderValue, PublishError, PublishErrorKind, RequestErrorKind,
    StatusCode, SubscribeError, SubscribeErrorKind,
};
use async_trait::async_trait;
use futures_util::StreamExt;

use crate::broker::{Broker, Message, Subscription};
use crate::config::NatsConfig;
use crate::error::{Error, Result};
use crate::memory::{check_headers, message_size};
use crate::subject;

/// A connection to a NATS server (or cluster).
///
/// The client reconnects on its own when the connection drops, and its
/// subscriptions carry on afterwards. While it is disconnected,
/// [`publish`](Broker::publish) and [`request`](Broker::request) fail with
/// [`Error::Connection`] rather than buffering messages that may never go
/// out.
///
/// ```no_run
/// # async fn example() -> skiff_messaging::Result<()> {
/// use skiff_messaging::{Broker, Message, NatsBroker, NatsConfig};
///
/// let broker = NatsBroker::connect(&NatsConfig::new("nats://127.0.0.1:4222")).await?;
/// broker.publish(Message::new("orders.created", "42")).await?;
/// # Ok(())
/// # }
/// ```
pub struct NatsBroker {
    /// The connection, shared with other users of the same configuration.
    client: skiff_nats::Connection,
    /// The servers, without credentials.
    description: String,
    /// Bounds waiting for the server to confirm a subscription.
    confirm_timeout: Duration,
}

impl NatsBroker {
    /// Connects to the server(s) `config` names, within its
    /// `connect_timeout` per server. Fails with [`Error::Connection`] naming
    /// the server (never its credentials) and the cause.
    pub async fn connect(config: &NatsConfig) -> Result<Self> {
        let client = skiff_nats::shared(config)
            .await
            .map_err(Error::Connection)?;
        let description = config.describe();
        Ok(NatsBroker {
            client,
            description,
            confirm_timeout: config.connect_timeout,
        })
    }

    /// Fails unless the client is connected now.
    fn check_connected(&self) -> Result<()> {
        match self.client.connection_state() {
            State::Connected => Ok(()),
            state => Err(Error::Connection(format!(
                "nats server at {} is unreachable (the client is {state}; it keeps \
                 reconnecting)",
                self.description
            ))),
        }
    }

    /// Checks a message to publish: its subject, headers and size.
    fn check_outgoing(&self, message: &Message) -> Result<Option<HeaderMap>> {
        subject::check_publish(&message.subject)?;
        check_headers(message)?;
        let size = message_size(message);
        let limit = self.client.max_payload();
        if size > limit {
            return Err(too_large(&message.subject, size, limit, &self.description));
        }
        to_header_map(&message.headers)
    }

    fn publish_error(&self, subject: &str, err: PublishError) -> Error {
        match err.kind() {
            PublishErrorKind::MaxPayloadExceeded => Error::Other(format!(
                "message on `{subject}` is too large for nats server at {}: {err}",
                self.description
            )),
            PublishErrorKind::InvalidSubject => {
                Error::InvalidSubject(format!("invalid subject `{subject}`: {err}"))
            }
            _ => Error::Connection(format!(
                "could not publish on `{subject}` to nats server at {}: {err}",
                self.description
            )),
        }
    }

    fn subscribe_error(&self, subject: &str, err: SubscribeError) -> Error {
        match err.kind() {
            SubscribeErrorKind::InvalidSubject | SubscribeErrorKind::InvalidQueueName => {
                Error::InvalidSubject(format!("could not subscribe to `{subject}`: {err}"))
            }
            _ => Error::Connection(format!(
                "could not subscribe to `{subject}` at nats server at {}: {err}",
                self.description
            )),
        }
    }

    /// One reply, with async-nats's own request.
    async fn request_one(
        &self,
        message: Message,
        headers: Option<HeaderMap>,
        timeout: Option<Duration>,
    ) -> Result<Vec<Message>> {
        let mut request = async_nats::Request::new()
            .payload(message.payload)
            .timeout(timeout);
        if let Some(headers) = headers {
            request = request.headers(headers);
        }
        let subject = message.subject;
        match self.client.send_request(subject.clone(), request).await {
            Ok(reply) => Ok(vec![from_nats(reply)]),
            Err(err) => Err(match err.kind() {
                RequestErrorKind::TimedOut => Error::Timeout(timeout.unwrap_or_default()),
                RequestErrorKind::NoResponders => Error::NoResponders(subject),
                RequestErrorKind::InvalidSubject => {
                    Error::InvalidSubject(format!("invalid subject `{subject}`: {err}"))
                }
                RequestErrorKind::MaxPayloadExceeded => Error::Other(format!(
                    "request on `{subject}` is too large for nats server at {}: {err}",
                    self.description
                )),
                _ => Error::Connection(format!(
                    "request on `{subject}` to nats server at {} failed: {err}",
                    self.description
                )),
            }),
        }
    }

    /// Several replies: a fresh inbox, collected until `max_replies` or the
    /// deadline.
    async fn request_many(
        &self,
        message: Message,
        headers: Option<HeaderMap>,
        timeout: Option<Duration>,
        max_replies: usize,
    ) -> Result<Vec<Message>> {
        let subject = message.subject;
        let inbox = self.client.new_inbox();
        let mut replies = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|err| self.subscribe_error(&inbox, err))?;
        let sent = match headers {
            Some(headers) => {
                self.client
                    .publish_with_reply_and_headers(
                        subject.clone(),
                        inbox,
                        headers,
                        message.payload,
                    )
                    .await
            }
            None => {
                self.client
                    .publish_with_reply(subject.clone(), inbox, message.payload)
                    .await
            }
        };
        if let Err(err) = sent {
            return Err(self.publish_error(&subject, err));
        }

        let deadline = timeout.map(|timeout| tokio::time::Instant::now() + timeout);
        let mut collected = Vec::new();
        let mut no_responders = false;
        while collected.len() < max_replies {
            let next = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, replies.next()).await {
                    Ok(next) => next,
                    Err(_elapsed) => break,
                },
                None => replies.next().await,
            };
            match next {
                // The server's answer when nobody is subscribed.
                Some(reply) if reply.status == Some(StatusCode::NO_RESPONDERS) => {
                    no_responders = true;
                    break;
                }
                Some(reply) => collected.push(from_nats(reply)),
                None => break,
            }
        }
        if let Err(err) = replies.unsubscribe().await {
            tracing::debug!(server = %self.description, "could not unsubscribe a request inbox: {err}");
        }
        if collected.is_empty() {
            return Err(if no_responders {
                Error::NoResponders(subject)
            } else if let Some(timeout) = timeout {
                Error::Timeout(timeout)
            } else {
                Error::Connection(format!(
                    "the connection to nats server at {} closed during a request on `{subject}`",
                    self.description
                ))
            });
        }
        Ok(collected)
    }
}

#[async_trait]
impl Broker for NatsBroker {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn system(&self) -> &'static str {
        "nats"
    }

    async fn publish(&self, message: Message) -> Result<()> {
        let headers = self.check_outgoing(&message)?;
        self.check_connected()?;
        let Message {
            subject,
            reply_to,
            payload,
            ..
        } = message;
        let client = &self.client;
        let sent = match (reply_to, headers) {
            (None, None) => client.publish(subject.clone(), payload).await,
            (None, Some(headers)) => {
                client
                    .publish_with_headers(subject.clone(), headers, payload)
                    .await
            }
            (Some(reply), None) => {
                client
                    .publish_with_reply(subject.clone(), reply, payload)
                    .await
            }
            (Some(reply), Some(headers)) => {
                client
                    .publish_with_reply_and_headers(subject.clone(), reply, headers, payload)
                    .await
            }
        };
        sent.map_err(|err| self.publish_error(&subject, err))
    }

    async fn request(
        &self,
        message: Message,
        timeout: Option<Duration>,
        max_replies: usize,
    ) -> Result<Vec<Message>> {
        let headers = self.check_outgoing(&message)?;
        self.check_connected()?;
        // A request wants at least one reply.
        match max_replies {
            0 | 1 => self.request_one(message, headers, timeout).await,
            n => self.request_many(message, headers, timeout, n).await,
        }
    }

    async fn subscribe(&self, subject: &str, queue_group: Option<&str>) -> Result<Subscription> {
        subject::check_subscribe(subject)?;
        let subscriber = match queue_group {
            None => self.client.subscribe(subject.to_string()).await,
            Some(group) => {
                subject::check_queue_group(group)?;
                self.client
                    .queue_subscribe(subject.to_string(), group.to_string())
                    .await
            }
        }
        .map_err(|err| self.subscribe_error(subject, err))?;
        // Wait for the server to have the subscription, so that messages
        // published after this returns (from any connection) reach it.
        // While disconnected, the client subscribes when it reconnects.
        if self.client.connection_state() == State::Connected {
            match tokio::time::timeout(self.confirm_timeout, self.client.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::debug!(server = %self.description, "flush after subscribing to `{subject}` failed: {err}")
                }
                Err(_elapsed) => {
                    tracing::debug!(server = %self.description, "nats server at {} did not confirm the subscription to `{subject}` within {:?}", self.description, self.confirm_timeout)
                }
            }
        }
        Ok(Box::pin(subscriber.map(from_nats)))
    }
}

fn too_large(subject: &str, size: usize, limit: usize, server: &str) -> Error {
    Error::Other(format!(
        "message on `{subject}` is {size} bytes (payload and headers); nats server at \
         {server} takes at most {limit} bytes"
    ))
}

/// Our headers as async-nats's: the values of a name keep their order; the
/// order between names is not kept (`HeaderMap` is a hash map).
fn to_header_map(headers: &[(String, String)]) -> Result<Option<HeaderMap>> {
    if headers.is_empty() {
        return Ok(None);
    }
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_str(name).map_err(|_| {
            Error::Other(format!(
                "header name `{}` is not valid for NATS",
                name.escape_debug()
            ))
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::Other(format!(
                "the value of header `{name}` is not valid for NATS (no line breaks)"
            ))
        })?;
        map.append(name, value);
    }
    Ok(Some(map))
}

/// A received message as ours; headers sorted by name (the order between
/// names is lost on the way), the values of one name in their order.
fn from_nats(message: async_nats::Message) -> Message {
    let mut headers = Vec::new();
    if let Some(map) = &message.headers {
        let mut names: Vec<_> = map.iter().collect();
        names.sort_by_key(|(name, _)| name.to_string());
        for (name, values) in names {
            for value in values {
                headers.push((name.to_string(), value.as_str().to_string()));
            }
        }
    }
    Message {
        subject: message.subject.to_string(),
        reply_to: message.reply.map(|reply| reply.to_string()),
        headers,
        payload: message.payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_per_name() {
        let headers = vec![
            ("content-type".to_string(), "text/plain".to_string()),
            ("x-tag".to_string(), "a".to_string()),
            ("x-tag".to_string(), "b".to_string()),
        ];
        let map = to_header_map(&headers).unwrap().unwrap();
        let message = async_nats::Message {
            subject: "s".into(),
            reply: None,
            payload: "p".into(),
            headers: Some(map),
            status: None,
            description: None,
            length: 0,
        };
        assert_eq!(from_nats(message).headers, headers);
    }

    #[test]
    fn bad_headers_are_errors_not_panics() {
        assert!(to_header_map(&[("a b".into(), "v".into())]).is_err());
        assert!(to_header_map(&[("a:b".into(), "v".into())]).is_err());
        assert!(to_header_map(&[("a".into(), "v\r\n".into())]).is_err());
        assert_eq!(to_header_map(&[]).unwrap(), None);
    }
}
