//! Skiff's MySQL capability: guests connect to MySQL (and MariaDB) servers
//! their component's `allowed_outbound_hosts` grant, and run SQL.
//!
//! Interface implemented: Spin's `fermyon:spin/mysql@2.0.0` (with
//! `fermyon:spin/rdbms-types`), the one spin-sdk's `mysql` module imports.
//!
//! The pieces:
//! - [`MysqlConnection`]: the grant check (before any network traffic: the
//!   address's host must be allowed by a `mysql://HOST[:PORT]` entry, and each
//!   address a name resolves to passes the SSRF guard of
//!   [`AllowedHosts::allows_resolved`](skiff_outbound_networking::AllowedHosts::allows_resolved)),
//!   and statements with `?` parameters;
//! - [`MysqlPools`]: one component's connection pools, one per address,
//!   shared by its instances. A connection goes back when its handle is
//!   dropped or its instance ends, and is reset (`COM_RESET_CONNECTION`)
//!   before the next instance gets it: an open transaction is rolled back,
//!   temporary tables, user variables, locks and session settings are gone.
//!   So a request pays for a TCP and authentication handshake only when no
//!   idle connection is left. A connection dropped in the middle of a
//!   statement (its request timed out) cancels the statement on the server
//!   first (`KILL QUERY`), so a runaway query costs its own request only;
//! - the host side: [`MysqlState`] per instance, [`MysqlHostView`] for the
//!   store data, and [`add_to_linker`].
//!
//! A denied or failed connect is the interface's `connection-failed` error;
//! the message names the grant it needs (``"`mysql://db.internal:3307` is not
//! allowed: add `mysql://db.internal:3307` to `allowed_outbound_hosts`"``) or
//! the server it could not reach, never the password. Server errors are
//! `query-failed` with MySQL's code and SQLSTATE (`ERROR 1146 (42S02): Table
//! 'shop.nope' doesn't exist`); a wrong parameter count is `bad-parameter`.
//!
//! TLS: `?require_ssl=true` connects over TLS only and verifies the server's
//! certificate for the host's name against the Mozilla roots and the
//! system's (`SSL_CERT_FILE` or `SSL_CERT_DIR` name others). Without it the
//! connection is plain text.
//!
//! # Values
//!
//! Results are read by column type: `TINYINT` … `BIGINT` as `int8` …
//! `int64` (`uint8` … `uint64` when `UNSIGNED`; `MEDIUMINT` as 32 bits,
//! `YEAR` as 16), `BIT(1)` as `boolean` and wider `BIT`s as `binary`,
//! `FLOAT` and `DOUBLE` as `floating32`/`floating64`, text types, `ENUM`,
//! `SET`, `JSON` and `DECIMAL` (exact, as text) as `str`, binary strings and
//! `BLOB`s as `binary`, and `DATE`, `TIME`, `DATETIME` and `TIMESTAMP` as
//! `str` in MySQL's own format (`2024-02-29 13:45:00.250000`). `NULL` is
//! `db-null` in any column.
//!
//! Parameters: integers, floats and `boolean` (`1`/`0`) as numbers, `str` as
//! text, `binary` as bytes, `db-null` as `NULL`; the server converts them to
//! the column's type as it does for any client.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use skiff_outbound_networking::AllowedHosts;
//! use skiff_mysql::{MysqlHostView, MysqlPools, MysqlState, MysqlView};
//! use wasmtime::component::{Linker, ResourceTable};
//!
//! struct Host {
//!     table: ResourceTable,
//!     mysql: MysqlState,
//! }
//!
//! impl MysqlHostView for Host {
//!     fn mysql(&mut self) -> MysqlView<'_> {
//!         MysqlView { state: &mut self.mysql, table: &mut self.table }
//!     }
//! }
//!
//! # fn example(engine: &wasmtime::Engine) -> anyhow::Result<()> {
//! // Once per component.
//! let mut linker = Linker::<Host>::new(engine);
//! skiff_mysql::add_to_linker(&mut linker)?;
//! let allowed = Arc::new(AllowedHosts::parse(&["mysql://127.0.0.1:3306"], &|_| None)?);
//! let pools = Arc::new(MysqlPools::default());
//!
//! // Per instance.
//! let host = Host {
//!     table: ResourceTable::new(),
//!     mysql: MysqlState::new(allowed.clone(), pools.clone()),
//! };
//! # let _ = host; Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
mod client;
mod error;
mod host;
mod value;

pub use client::{MysqlConnection, MysqlPools};
pub use error::{Error, Result};
pub use host::{MysqlHostView, MysqlState, MysqlView, add_to_linker};
