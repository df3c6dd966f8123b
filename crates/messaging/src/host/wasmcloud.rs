//! `wasmcloud:messaging/consumer@0.2.0`: publish and request on the broker
//! labelled [`DEFAULT_LABEL`], errors as strings.

use std::time::Duration;

use super::{DEFAULT_LABEL, MessagingView};
use crate::bindings::wasmcloud::wasmcloud::messaging::{consumer, types};
use crate::broker::Message;
use crate::error::Error;

const INTERFACE: &str = "wasmcloud:messaging@0.2.0";

impl types::Host for MessagingView<'_> {}

impl consumer::Host for MessagingView<'_> {
    #[tracing::instrument(name = "skiff_messaging.request", skip_all,
        fields(interface = INTERFACE))]
    async fn request(
        &mut self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<types::BrokerMessage, String>> {
        let result = async {
            let broker = self.state.broker(DEFAULT_LABEL).await?;
            let timeout = Duration::from_millis(timeout_ms.into());
            let mut replies = broker
                .request(Message::new(subject, body), Some(timeout), 1)
                .await?;
            replies.pop().ok_or(Error::Timeout(timeout))
        }
        .await;
        Ok(result
            .map(|reply| types::BrokerMessage {
                subject: reply.subject,
                body: reply.payload.to_vec(),
                reply_to: reply.reply_to,
            })
            .map_err(|err| err.to_string()))
    }

    #[tracing::instrument(name = "skiff_messaging.publish", skip_all,
        fields(interface = INTERFACE))]
    async fn publish(&mut self, msg: types::BrokerMessage) -> wasmtime::Result<Result<(), String>> {
        // A reply to a message this instance was handed goes back through
        // the broker it came from, with no grant; anything else through the
        // granted default broker.
        let state = &*self.state;
        let result = async {
            let broker = match state.reply_broker(&msg.subject) {
                Some(broker) => broker,
                None => state.broker(DEFAULT_LABEL).await?,
            };
            let message = Message {
                subject: msg.subject,
                reply_to: msg.reply_to,
                headers: Vec::new(),
                payload: msg.body.into(),
            };
            broker.publish(message).await
        }
        .await;
        Ok(result.map_err(|err| err.to_string()))
    }
}
