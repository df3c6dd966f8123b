//! Skiff's SQLite capability: guests run SQL on databases by label, and the
//! operator decides where each label's file lives.
//!
//! Interfaces implemented, all on the same databases:
//! - Spin's `fermyon:spin/sqlite@2.0.0`;
//! - Spin's `spin:sqlite/sqlite@3.1.0`, which also serves guests importing
//!   `@3.0.0` (spin-sdk 5.x). Its `*-async` functions are component-model
//!   `async func`s, callable only from WASI 0.3 guests; `open`, `execute`,
//!   `last-insert-rowid` and `changes` work from any guest.
//!
//! The pieces:
//! - [`Database`] and [`Connection`], the backend traits, with the embedded
//!   backend [`embedded::EmbeddedDatabase`] (a SQLite file, `type = "spin"`);
//! - [`SqliteManager`], the resolver from label to database: sections of the
//!   runtime config ([`SqliteConfig`]), else `<state dir>/sqlite/<label>.db`;
//!   it also runs migrations ([`SqliteManager::execute_batch`]);
//! - the host side: [`SqliteState`] per instance (the grant check lives in
//!   it), [`SqliteHostView`] for the store data, and [`add_to_linker`].
//!
//! Values round-trip as SQLite stores them: `integer(s64)`, `real(f64)`,
//! `text(string)`, `blob(list<u8>)` and `null`. Errors reach the guest as the
//! interface's `error`: an ungranted label is `access-denied` (whether or not
//! it exists), anything SQLite rejects is `io(message)`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use skiff_sqlite::{SqliteConfig, SqliteHostView, SqliteManager, SqliteState, SqliteView};
//! use wasmtime::component::{Linker, ResourceTable};
//!
//! struct Host {
//!     table: ResourceTable,
//!     sqlite: SqliteState,
//! }
//!
//! impl SqliteHostView for Host {
//!     fn sqlite(&mut self) -> SqliteView<'_> {
//!         SqliteView { state: &mut self.sqlite, table: &mut self.table }
//!     }
//! }
//!
//! # async fn example(engine: &wasmtime::Engine) -> anyhow::Result<()> {
//! // Once per app: `[sqlite_database.*]` sections of the runtime config, and
//! // files under the state dir for every other label.
//! let runtime_config: toml::Table = toml::from_str(
//!     r#"
//!     [default]
//!     type = "spin"
//!     path = "data/todo.db"
//!     "#,
//! )?;
//! let manager = SqliteManager::builder()
//!     .state_dir(".skiff")
//!     .base_dir(".")
//!     .build_with(&SqliteConfig::from_toml(&runtime_config)?)
//!     .await?;
//! // `skiff up --sqlite @migrations.sql`
//! manager
//!     .execute_batch("default", "CREATE TABLE IF NOT EXISTS todo (id INTEGER PRIMARY KEY, title TEXT)")
//!     .await?;
//! let manager = Arc::new(manager);
//!
//! // Once per component.
//! let mut linker = Linker::<Host>::new(engine);
//! skiff_sqlite::add_to_linker(&mut linker)?;
//! let granted: Arc<[String]> = vec!["default".to_string()].into();
//!
//! // Per instance.
//! let host = Host {
//!     table: ResourceTable::new(),
//!     sqlite: SqliteState::new(manager.clone(), granted.clone()),
//! };
//! # let _ = host; Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
pub mod config;
mod database;
pub mod embedded;
mod error;
mod host;
pub mod manager;

pub use config::{Backend, DatabaseConfig, SqliteConfig};
pub use database::{Connection, Database, QueryResult, Value};
pub use error::{ConfigError, Error, Result};
pub use host::{SqliteHostView, SqliteState, SqliteView, add_to_linker};
pub use manager::{SqliteManager, SqliteManagerBuilder};
