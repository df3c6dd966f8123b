//! Skiff's PostgreSQL capability: guests connect to PostgreSQL servers their
//! component's `allowed_outbound_hosts` grant, and run SQL.
//!
//! Interfaces implemented (the versions spin-sdk 5.2 and 7.0 import):
//! - Spin's `fermyon:spin/postgres@2.0.0` (with `fermyon:spin/rdbms-types`);
//! - Spin's `spin:postgres/postgres@3.0.0` (adds `date`, `time`,
//!   `datetime`, `timestamp`);
//! - Spin's `spin:postgres/postgres@4.2.0`, which also serves guests
//!   importing `@4.0.0` (spin-sdk 5.x) and `@4.1.0` (adds `uuid`, `jsonb`,
//!   `decimal`, ranges, arrays, `interval`, structured server errors and a
//!   `connection-builder`). Its `*-async` functions are component-model
//!   `async func`s, callable only from WASI 0.3 guests; the rest work from
//!   any guest.
//!
//! The pieces:
//! - [`PgConnection`]: the grant check (before any network traffic: every
//!   host of the address must be allowed by a `postgres://HOST[:PORT]`
//!   entry, and each address a name resolves to passes the SSRF guard of
//!   [`AllowedHosts::allows_resolved`](skiff_outbound_networking::AllowedHosts::allows_resolved)),
//!   connecting with `tokio-postgres`, and statements with typed parameters
//!   and results ([`Value`], [`RowSet`]);
//! - the host side: [`PgState`] per instance (it reuses an instance's
//!   connection to the same address), [`PgHostView`] for the store data,
//!   and [`add_to_linker`].
//!
//! A denied or failed connect is the interface's `connection-failed` error;
//! the message names the grant it needs (``"`postgres://db.internal:5433` is
//! not allowed: add `postgres://db.internal:5433` to
//! `allowed_outbound_hosts`"``) or the server it could not reach.
//!
//! TLS: `sslmode=require`, or a builder's CA root (`spin:postgres@4.1+`),
//! connects over TLS only — never falling back to plain text — and verifies
//! the server's certificate for the host's name against the system's roots
//! (`SSL_CERT_FILE` or `SSL_CERT_DIR` name others) plus that CA. The default
//! (`prefer`) and `disable` connect in plain text.
//!
//! # Values
//!
//! Results are read by column type: `boolean`, `"char"` (`int8`),
//! `smallint`, `integer`, `bigint`, `real`, `double precision`, text types
//! (`str`), `bytea` (`binary`), `date`, `time`, `timestamp` and
//! `timestamptz` (`datetime`, in UTC), `uuid`, `json`/`jsonb` (`jsonb`, the
//! JSON text), `numeric` (`decimal`, exact text at any precision, `NaN` and
//! `±Infinity` too), `int4range`, `int8range`, `numrange` (an empty range is
//! written as `(0,0)`, which reads back as empty), one-dimensional
//! `integer[]`, `bigint[]`, `numeric[]`, `text[]`/`varchar[]`, and
//! `interval`. A generation without a type gets `unsupported` (with the
//! value's binary wire form in `@4`) and column type `other`.
//!
//! Parameters are converted to the type the server infers for each
//! placeholder, so guests need not match widths exactly; anything else is
//! `bad-parameter`, naming the placeholder and both types:
//! - integers (any width, signed or not) → any integer type they fit
//!   (`smallint`, `integer`, `bigint`, `"char"`, `oid`), `real`, `double
//!   precision`, `numeric`;
//! - floats → `real`, `double precision`, `numeric`;
//! - `str` → text types (`text`, `varchar`, `char(n)`, `name`, enums,
//!   `citext`…), `json`/`jsonb`, `uuid`, `numeric`;
//! - `decimal` → `numeric`, the float and integer types (if it fits), text;
//! - `timestamp` (seconds since the epoch) → `timestamp`, `timestamptz`,
//!   integer types; `datetime` → `timestamp`, `timestamptz` (as UTC);
//! - `uuid`, `jsonb` → their types or text; integer arrays and ranges →
//!   arrays and ranges of any integer width they fit;
//! - `null` → any type.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use skiff_outbound_networking::AllowedHosts;
//! use skiff_postgres::{PgHostView, PgState, PgView};
//! use wasmtime::component::{Linker, ResourceTable};
//!
//! struct Host {
//!     table: ResourceTable,
//!     pg: PgState,
//! }
//!
//! impl PgHostView for Host {
//!     fn pg(&mut self) -> PgView<'_> {
//!         PgView { state: &mut self.pg, table: &mut self.table }
//!     }
//! }
//!
//! # fn example(engine: &wasmtime::Engine) -> anyhow::Result<()> {
//! // Once per component.
//! let mut linker = Linker::<Host>::new(engine);
//! skiff_postgres::add_to_linker(&mut linker)?;
//! let allowed = Arc::new(AllowedHosts::parse(&["postgres://127.0.0.1:5432"], &|_| None)?);
//!
//! // Per instance.
//! let host = Host {
//!     table: ResourceTable::new(),
//!     pg: PgState::new(allowed.clone()),
//! };
//! # let _ = host; Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
mod client;
mod decode;
mod encode;
mod error;
mod host;
mod tls;
mod value;
mod wire;

pub use client::PgConnection;
pub use error::{DbError, Error, Result};
pub use host::{PgHostView, PgState, PgView, add_to_linker};
pub use value::{Bound, Column, ColumnType, Interval, RowSet, Value};
