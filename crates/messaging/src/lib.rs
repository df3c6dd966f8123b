//! Skiff's messaging capability: guests publish, request and reply on the
//! message brokers their component is granted, and the messaging trigger
//! hands them the messages of the subjects an app subscribes to.
//!
//! Interfaces implemented:
//! - `wasi:messaging/{types,producer,request-reply}@0.2.0-draft` (imports;
//!   the trigger calls the `incoming-handler` export);
//! - `wasmcloud:messaging/consumer@0.2.0` (imports; the trigger calls
//!   `wasmcloud:messaging/handler@0.2.0`), what wasmCloud components use.
//!
//! The pieces:
//! - [`Broker`], the backend trait, and [`Message`];
//! - backends: the embedded broker ([`MemoryBroker`], in the host process,
//!   the default for every label) and NATS ([`NatsBroker`], `async-nats`);
//! - [`MessagingConfig`]: the runtime config's `[message_broker.LABEL]`
//!   sections; [`MessagingManager`]: an app's brokers by label, connected at
//!   first use;
//! - the host side: [`MessagingState`] per instance (the grant check: the
//!   component's `message_brokers`), [`MessagingHostView`] for the store
//!   data, and [`add_to_linker`].
#![deny(missing_docs)]

pub mod bindings;
mod broker;
mod config;
mod error;
mod host;
mod manager;
mod memory;
mod nats;
pub mod subject;

pub use broker::{Broker, CONTENT_TYPE, Message, Subscription};
pub use config::{BrokerConfig, MessagingConfig, NatsConfig, SECTION};
pub use error::{Error, Result};
pub use host::{
    ClientHandle, MessageHandle, MessagingHostView, MessagingState, MessagingView, RequestOptions,
    add_to_linker,
};
pub use manager::{LabelSubscription, MessagingManager, PreparedBrokers};
pub use memory::MemoryBroker;
pub use nats::NatsBroker;
