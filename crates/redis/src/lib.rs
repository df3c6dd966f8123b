//! Skiff's outbound Redis capability: guests connect to the Redis servers
//! their component's `allowed_outbound_hosts` grant, and run commands.
//!
//! Interfaces implemented:
//! - Spin's `fermyon:spin/redis@2.0.0` (spin-sdk 2–5);
//! - Spin's `spin:redis/redis@3.0.0`, the same operations as component-model
//!   `async func`s, callable from WASI 0.3 guests (spin-sdk 7).
//!
//! The pieces:
//! - [`RedisConnection`]: the grant check (before any network traffic, the
//!   address's host and port must be allowed by a `redis://HOST[:PORT]`
//!   entry; each address a name resolves to must pass the SSRF guard of
//!   [`AllowedHosts::allows_resolved`](skiff_outbound_networking::AllowedHosts::allows_resolved)),
//!   connecting with the `redis` crate, and the operations (`publish`,
//!   `get`, `set`, `incr`, `del`, `sadd`, `srem`, `smembers`, and `execute`
//!   with its [`Param`]s and flattened [`Reply`]s);
//! - the host side: [`RedisState`] per instance, [`RedisHostView`] for the
//!   store data, and [`add_to_linker`].
//!
//! An ungranted or unparsable address is the interface's `invalid-address`
//! (what Spin answers); the host log says why, with the component id and
//! the entry to add (``"`redis://cache:6380` is not allowed: add
//! `redis://cache:6380` to `allowed_outbound_hosts`"``). A server that
//! cannot be reached, or answers with an error, is `other(message)` naming
//! the server; `WRONGTYPE` and non-integer `incr` are `type-error`. TLS
//! (`rediss://`, granted as `rediss://host:port`) verifies the server's
//! certificate for its name against the system's roots (`SSL_CERT_FILE` or
//! `SSL_CERT_DIR` name others).
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use skiff_outbound_networking::AllowedHosts;
//! use skiff_redis::{RedisHostView, RedisState, RedisView};
//! use wasmtime::component::{Linker, ResourceTable};
//!
//! struct Host {
//!     table: ResourceTable,
//!     redis: RedisState,
//! }
//!
//! impl RedisHostView for Host {
//!     fn redis(&mut self) -> RedisView<'_> {
//!         RedisView { state: &mut self.redis, table: &mut self.table }
//!     }
//! }
//!
//! # fn example(engine: &wasmtime::Engine) -> anyhow::Result<()> {
//! // Once per component.
//! let mut linker = Linker::<Host>::new(engine);
//! skiff_redis::add_to_linker(&mut linker)?;
//! let allowed = Arc::new(AllowedHosts::parse(&["redis://127.0.0.1:6379"], &|_| None)?);
//!
//! // Per instance.
//! let host = Host {
//!     table: ResourceTable::new(),
//!     redis: RedisState::new(allowed.clone(), "my-component".into()),
//! };
//! # let _ = host; Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
mod client;
mod error;
mod host;

pub use client::{Param, RedisConnection, Reply};
pub use error::{Error, Result};
pub use host::{RedisHostView, RedisState, RedisView, add_to_linker};
