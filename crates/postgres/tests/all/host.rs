//! The host for the `sql_*` guests: `skiff_test_support::guest` (WASI 0.2 and
//! 0.3, wasi:http, a fresh instance per request) with SQLite and PostgreSQL.

use std::sync::Arc;

use anyhow::Result;
use skiff_outbound_networking::AllowedHosts;
use skiff_postgres::PgState;
use skiff_sqlite::{SqliteManager, SqliteState};
pub use skiff_test_support::guest::sql_url as url;
use skiff_test_support::guest::{self, Capability, GuestHost, Holds};
use tempfile::TempDir;
use wasmtime::component::Linker;

/// One instance's state: both SQL capabilities.
struct Sql {
    sqlite: SqliteState,
    pg: PgState,
}

impl Holds<SqliteState> for Sql {
    fn part(&mut self) -> &mut SqliteState {
        &mut self.sqlite
    }
}

impl Holds<PgState> for Sql {
    fn part(&mut self) -> &mut PgState {
        &mut self.pg
    }
}

impl Capability for Sql {
    fn add_to_linker(linker: &mut Linker<GuestHost<Self>>) -> Result<()> {
        skiff_sqlite::add_to_linker(linker)?;
        skiff_postgres::add_to_linker(linker)
    }
}

/// An app: SQLite databases under a temporary state dir (`default`
/// granted) and the component's `allowed_outbound_hosts`.
pub struct App {
    sqlite: Arc<SqliteManager>,
    granted: Arc<[String]>,
    allowed: Arc<AllowedHosts>,
    _dir: TempDir,
}

impl App {
    pub fn new(allowed: AllowedHosts) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        Ok(App {
            sqlite: Arc::new(SqliteManager::builder().state_dir(dir.path()).build()),
            granted: vec!["default".to_string()].into(),
            allowed: Arc::new(allowed),
            _dir: dir,
        })
    }

    /// Sends `POST <path_and_query>` with `body` to a fresh instance of the
    /// guest, expecting `200`; returns the body.
    pub async fn ok(&self, guest: &str, path_and_query: &str, body: &str) -> Result<String> {
        let state = Sql {
            sqlite: SqliteState::new(self.sqlite.clone(), self.granted.clone()),
            pg: PgState::new(self.allowed.clone()),
        };
        guest::ok(guest, state, path_and_query, body).await
    }
}
