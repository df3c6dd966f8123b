//! NATS connections for Skiff's capabilities with a NATS backend: the
//! messaging broker (`[message_broker.LABEL] type = "nats"`), the
//! key-value store on JetStream (`[key_value_store.LABEL] type = "nats"`)
//! and the blob store on JetStream's object stores
//! (`[blob_store.LABEL] type = "nats"`).
//!
//! One shape of configuration for all ([`NatsConfig`], parsed from a
//! runtime-config section by [`NatsConfig::from_section`]: servers, one way
//! to authenticate, TLS, a connect timeout), and one way to connect
//! ([`connect`]) that logs the connection's losses and returns. The
//! capabilities take their connection from [`shared`]: one per
//! configuration in the process, however many labels use it.
//!
//! ```no_run
//! # async fn example() -> Result<(), String> {
//! let client = skiff_nats::connect(&skiff_nats::NatsConfig::new("nats://127.0.0.1:4222")).await?;
//! # drop(client); Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod config;
mod connect;
mod shared;

pub use config::{CONNECTION_KEYS, InvalidKey, NatsConfig, display_url};
pub use connect::connect;
pub use shared::{Connection, shared};

/// The NATS client crate, for the types a connection's users need
/// (JetStream, subjects, headers) at the version [`connect`] returns.
pub use async_nats;
