//! `wasi:messaging/{types,producer,request-reply}@0.2.0-draft`.

use std::time::Duration;

use wasmtime::component::Resource;

use super::{ClientHandle, HostError, MessageHandle, MessagingView, RequestOptions};
use crate::bindings::wasi::wasi::messaging::{producer, request_reply, types};
use crate::error::Error;

const INTERFACE: &str = "wasi:messaging@0.2.0-draft";

impl types::Host for MessagingView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<types::Error> {
        let err = match err {
            HostError::Messaging(err) => err,
            HostError::Trap(trap) => return Err(trap),
        };
        Ok(match err {
            Error::Timeout(_) => types::Error::Timeout,
            Error::Connection(m) => types::Error::Connection(m),
            Error::PermissionDenied(m) => types::Error::PermissionDenied(m),
            other => types::Error::Other(other.to_string()),
        })
    }
}

impl types::HostClient for MessagingView<'_> {
    #[tracing::instrument(name = "skiff_messaging.connect", skip_all,
        fields(label = %name, interface = INTERFACE))]
    async fn connect(&mut self, name: String) -> Result<Resource<ClientHandle>, HostError> {
        let broker = self.state.broker(&name).await?;
        Ok(self.table.push(ClientHandle {
            label: name,
            broker,
        })?)
    }

    async fn disconnect(&mut self, client: Resource<ClientHandle>) -> Result<(), HostError> {
        // The connection is the app's, shared by its instances: nothing to
        // close for one guest.
        self.table.get(&client)?;
        Ok(())
    }

    async fn drop(&mut self, client: Resource<ClientHandle>) -> wasmtime::Result<()> {
        self.table.delete(client)?;
        Ok(())
    }
}

impl types::HostMessage for MessagingView<'_> {
    async fn new(&mut self, data: Vec<u8>) -> wasmtime::Result<Resource<MessageHandle>> {
        Ok(self.table.push(MessageHandle::new(data))?)
    }

    async fn topic(
        &mut self,
        message: Resource<MessageHandle>,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&message)?.topic.clone())
    }

    async fn content_type(
        &mut self,
        message: Resource<MessageHandle>,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&message)?.content_type.clone())
    }

    async fn set_content_type(
        &mut self,
        message: Resource<MessageHandle>,
        content_type: String,
    ) -> wasmtime::Result<Result<(), ()>> {
        self.table.get_mut(&message)?.content_type = Some(content_type);
        Ok(Ok(()))
    }

    async fn data(&mut self, message: Resource<MessageHandle>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&message)?.data.to_vec())
    }

    async fn set_data(
        &mut self,
        message: Resource<MessageHandle>,
        data: Vec<u8>,
    ) -> wasmtime::Result<()> {
        self.table.get_mut(&message)?.data = data.into();
        Ok(())
    }

    async fn metadata(
        &mut self,
        message: Resource<MessageHandle>,
    ) -> wasmtime::Result<Option<Vec<(String, String)>>> {
        let metadata = &self.table.get(&message)?.metadata;
        Ok((!metadata.is_empty()).then(|| metadata.clone()))
    }

    async fn add_metadata(
        &mut self,
        message: Resource<MessageHandle>,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), types::MetadataError>> {
        if let Err(reason) = check_metadata(&key, &value) {
            return Ok(Err(types::MetadataError::Invalid(Some(reason))));
        }
        let metadata = &mut self.table.get_mut(&message)?.metadata;
        metadata.retain(|(k, _)| *k != key);
        metadata.push((key, value));
        Ok(Ok(()))
    }

    async fn set_metadata(
        &mut self,
        message: Resource<MessageHandle>,
        meta: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<(), types::MetadataError>> {
        for (key, value) in &meta {
            if let Err(reason) = check_metadata(key, value) {
                return Ok(Err(types::MetadataError::Invalid(Some(reason))));
            }
        }
        self.table.get_mut(&message)?.metadata = meta;
        Ok(Ok(()))
    }

    async fn remove_metadata(
        &mut self,
        message: Resource<MessageHandle>,
        key: String,
    ) -> wasmtime::Result<()> {
        self.table
            .get_mut(&message)?
            .metadata
            .retain(|(k, _)| *k != key);
        Ok(())
    }

    async fn drop(&mut self, message: Resource<MessageHandle>) -> wasmtime::Result<()> {
        self.table.delete(message)?;
        Ok(())
    }
}

/// Header names and values must survive NATS's text protocol: a name is
/// printable ASCII without `:`, and neither may hold a line break.
fn check_metadata(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(format!(
            "metadata key `{key}` must be printable ASCII without spaces or `:`"
        ));
    }
    if value.contains(['\r', '\n']) {
        return Err(format!(
            "the value of metadata key `{key}` must not hold a line break"
        ));
    }
    Ok(())
}

impl producer::Host for MessagingView<'_> {
    #[tracing::instrument(name = "skiff_messaging.send", skip_all,
        fields(label, interface = INTERFACE, otel.kind = "producer"))]
    async fn send(
        &mut self,
        client: Resource<ClientHandle>,
        topic: String,
        message: Resource<MessageHandle>,
    ) -> Result<(), HostError> {
        let client = self.table.get(&client)?;
        tracing::Span::current().record("label", client.label.as_str());
        let broker = client.broker.clone();
        let mut message = self.table.delete(message)?.into_message(topic);
        // With traces on, the message carries this span to its handlers.
        skiff_telemetry::inject_current(&mut message.headers);
        Ok(broker.publish(message).await?)
    }
}

impl request_reply::Host for MessagingView<'_> {
    #[tracing::instrument(name = "skiff_messaging.request", skip_all,
        fields(label, interface = INTERFACE, otel.kind = "producer"))]
    async fn request(
        &mut self,
        client: Resource<ClientHandle>,
        topic: String,
        message: Resource<MessageHandle>,
        options: Option<Resource<RequestOptions>>,
    ) -> Result<Vec<Resource<MessageHandle>>, HostError> {
        let client = self.table.get(&client)?;
        tracing::Span::current().record("label", client.label.as_str());
        let broker = client.broker.clone();
        let mut message = self.table.get(&message)?.to_message(topic);
        skiff_telemetry::inject_current(&mut message.headers);
        let (timeout, expected) = match options {
            Some(options) => {
                let options = self.table.delete(options)?;
                (options.timeout, options.expected_replies)
            }
            None => (None, None),
        };
        let max = expected.map_or(1, |n| n.max(1) as usize);
        let replies = broker.request(message, timeout, max).await?;
        let mut handles = Vec::with_capacity(replies.len());
        for reply in replies {
            handles.push(
                self.table
                    .push(MessageHandle::received(reply, broker.clone()))?,
            );
        }
        Ok(handles)
    }

    #[tracing::instrument(name = "skiff_messaging.reply", skip_all,
        fields(interface = INTERFACE))]
    async fn reply(
        &mut self,
        reply_to: Resource<MessageHandle>,
        message: Resource<MessageHandle>,
    ) -> Result<(), HostError> {
        let answer = self.table.delete(message)?;
        let received = self.table.get(&reply_to)?;
        let (Some(subject), Some(origin)) = (received.reply_to.clone(), received.origin.clone())
        else {
            // The spec makes this a no-op: not every message expects a reply.
            tracing::debug!("reply to a message that expects none: dropped");
            return Ok(());
        };
        Ok(origin.publish(answer.into_message(subject)).await?)
    }
}

impl request_reply::HostRequestOptions for MessagingView<'_> {
    async fn new(&mut self) -> wasmtime::Result<Resource<RequestOptions>> {
        Ok(self.table.push(RequestOptions::default())?)
    }

    async fn set_timeout_ms(
        &mut self,
        options: Resource<RequestOptions>,
        timeout_ms: u32,
    ) -> wasmtime::Result<()> {
        self.table.get_mut(&options)?.timeout = Some(Duration::from_millis(timeout_ms.into()));
        Ok(())
    }

    async fn set_expected_replies(
        &mut self,
        options: Resource<RequestOptions>,
        expected_replies: u32,
    ) -> wasmtime::Result<()> {
        self.table.get_mut(&options)?.expected_replies = Some(expected_replies);
        Ok(())
    }

    async fn drop(&mut self, options: Resource<RequestOptions>) -> wasmtime::Result<()> {
        self.table.delete(options)?;
        Ok(())
    }
}
