//! Skiff's outbound MQTT capability: guests publish to the MQTT brokers
//! their component's `allowed_outbound_hosts` grant.
//!
//! Interfaces implemented:
//! - Spin's `fermyon:spin/mqtt@2.0.0` (spin-sdk 2–5);
//! - Spin's `spin:mqtt/mqtt@3.0.0`, the same operations as component-model
//!   `async func`s, callable from WASI 0.3 guests (spin-sdk 7).
//!
//! The pieces:
//! - [`MqttConnection`]: the grant check (before any network traffic, the
//!   broker's host and port must be allowed by an `mqtt://HOST[:PORT]`
//!   entry; each address a name resolves to must pass the SSRF guard of
//!   [`AllowedHosts::allows_resolved`](skiff_outbound_networking::AllowedHosts::allows_resolved)),
//!   an MQTT 3.1.1 session with `rumqttc` (opening waits for the broker's
//!   `CONNACK`), and [`MqttConnection::publish`], which returns once the
//!   broker has the message as the QoS promises;
//! - the host side: [`MqttState`] per instance, [`MqttHostView`] for the
//!   store data, and [`add_to_linker`].
//!
//! An ungranted address is `connection-failed` with the entry to add
//! (``"`mqtt://broker:1884` is not allowed: add `mqtt://broker:1884` to
//! `allowed_outbound_hosts`"``); an unparsable one is `invalid-address`;
//! an unreachable or refusing broker is `connection-failed` naming it. TLS
//! (`mqtts://host:port`, granted as such) verifies the broker's certificate
//! for its name against the system's roots (`SSL_CERT_FILE` or
//! `SSL_CERT_DIR` name others).
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use skiff_outbound_networking::AllowedHosts;
//! use skiff_mqtt::{MqttHostView, MqttState, MqttView};
//! use wasmtime::component::{Linker, ResourceTable};
//!
//! struct Host {
//!     table: ResourceTable,
//!     mqtt: MqttState,
//! }
//!
//! impl MqttHostView for Host {
//!     fn mqtt(&mut self) -> MqttView<'_> {
//!         MqttView { state: &mut self.mqtt, table: &mut self.table }
//!     }
//! }
//!
//! # fn example(engine: &wasmtime::Engine) -> anyhow::Result<()> {
//! let mut linker = Linker::<Host>::new(engine);
//! skiff_mqtt::add_to_linker(&mut linker)?;
//! let allowed = Arc::new(AllowedHosts::parse(&["mqtt://127.0.0.1:1883"], &|_| None)?);
//! let host = Host {
//!     table: ResourceTable::new(),
//!     mqtt: MqttState::new(allowed, "my-component".into()),
//! };
//! # let _ = host; Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
mod client;
mod error;
mod host;

pub use client::{MqttConnection, Qos};
pub use error::{Error, Result};
pub use host::{MqttHostView, MqttState, MqttView, add_to_linker};
