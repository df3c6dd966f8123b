//! SQL through `skiff up`, one suite run on three backends by a macro
//! ([`sql_suite!`]): the embedded SQLite database (`spin:sqlite@3.1`, the
//! `sql_sqlite3` guest, granted by `sqlite_databases`), a real PostgreSQL
//! server (`spin:postgres@4`, the `sql_pg4` guest) and a real MariaDB server
//! (`fermyon:spin/mysql@2.0.0`, the `mysql_spin2` guest), both granted by
//! `allowed_outbound_hosts`. Each test checks values, errors, grants and
//! persistence as a guest sees them; PostgreSQL going down and coming back is
//! its own test (MySQL's own tests are in `mysql.rs`).
//!
//! The guests write rows with the JSON of `test_programs::sql`, so the same
//! expected text holds for all.

use std::time::Duration;

use anyhow::{Result, ensure};
use skiff_test_support::mysql_server::MysqlServer;
use test_programs_artifacts::{MYSQL_SPIN2_COMPONENT, SQL_PG4_COMPONENT, SQL_SQLITE3_COMPONENT};

use crate::harness::{AppDir, Server, shared_cache, toml_path};
use crate::outbound_redis::enc;
use crate::pg_server::PgServer;

/// Where the suite's data lives.
pub(crate) enum Backend {
    /// The embedded default database `default` under the app's state dir.
    Sqlite,
    /// A fresh database on a PostgreSQL server at `address`.
    Postgres {
        /// Its connection URL.
        url: String,
        /// `127.0.0.1:PORT`.
        address: String,
    },
    /// A fresh database on a MariaDB server at `address`.
    Mysql {
        /// Its connection URL.
        url: String,
        /// `127.0.0.1:PORT`.
        address: String,
    },
}

impl Backend {
    async fn sqlite() -> Result<Self> {
        Ok(Backend::Sqlite)
    }

    pub(crate) async fn postgres() -> Result<Self> {
        let server = PgServer::shared()?;
        Ok(Backend::Postgres {
            url: server.database().await?,
            address: server.address(),
        })
    }

    pub(crate) async fn mysql() -> Result<Self> {
        let server = MysqlServer::shared()?;
        let db = server.database()?;
        Ok(Backend::Mysql {
            url: server.url_for(&db),
            address: server.address(),
        })
    }

    /// An app with the backend's guest granted at `/db` and not granted at `/ungranted`.
    fn manifest(&self) -> String {
        let (source, grant) = match self {
            Backend::Sqlite => (
                SQL_SQLITE3_COMPONENT,
                "sqlite_databases = [\"default\"]".to_string(),
            ),
            Backend::Postgres { address, .. } => (
                SQL_PG4_COMPONENT,
                format!("allowed_outbound_hosts = [\"postgres://{address}\"]"),
            ),
            Backend::Mysql { address, .. } => (
                MYSQL_SPIN2_COMPONENT,
                format!("allowed_outbound_hosts = [\"mysql://{address}\"]"),
            ),
        };
        let component = |id: &str, grant: &str| {
            format!(
                "[[trigger.http]]\nroute = \"/{id}\"\ncomponent = \"{id}\"\n\
                 [component.{id}]\nsource = {}\n{grant}\n",
                toml_path(source)
            )
        };
        format!("{}{}", component("db", &grant), component("ungranted", ""))
    }

    /// The guest's `db=` parameter.
    pub(crate) fn db(&self) -> String {
        match self {
            Backend::Sqlite => "default".to_string(),
            Backend::Postgres { url, .. } | Backend::Mysql { url, .. } => enc(url),
        }
    }

    /// The `n`th statement parameter's placeholder.
    fn ph(&self, n: usize) -> String {
        match self {
            Backend::Sqlite | Backend::Mysql { .. } => "?".to_string(),
            Backend::Postgres { .. } => format!("${n}"),
        }
    }

    /// A table with a column per value type both interfaces carry.
    fn create_table(&self) -> &'static str {
        match self {
            Backend::Sqlite => {
                "CREATE TABLE vals (id INTEGER PRIMARY KEY, i INTEGER, f REAL, s TEXT, b BLOB, n TEXT)"
            }
            Backend::Postgres { .. } => {
                "CREATE TABLE vals (id SERIAL PRIMARY KEY, i BIGINT, f DOUBLE PRECISION, s TEXT, b BYTEA, n TEXT)"
            }
            Backend::Mysql { .. } => {
                "CREATE TABLE vals (id INT AUTO_INCREMENT PRIMARY KEY, i BIGINT, f DOUBLE, s TEXT, b BLOB, n TEXT)"
            }
        }
    }

    /// The op that runs a statement returning rows.
    pub(crate) fn query_op(&self) -> &'static str {
        match self {
            Backend::Sqlite => "execute",
            Backend::Postgres { .. } | Backend::Mysql { .. } => "query",
        }
    }
}

/// An app of [`Backend::manifest`] being served.
pub(crate) struct SqlApp {
    pub(crate) dir: AppDir,
    pub(crate) server: Server,
}

impl SqlApp {
    pub(crate) fn start(backend: &Backend) -> Result<Self> {
        Self::start_with(backend, |_| {})
    }

    /// [`SqlApp::start`], its `skiff up` adjusted by `configure`.
    pub(crate) fn start_with(
        backend: &Backend,
        configure: impl FnOnce(&mut std::process::Command),
    ) -> Result<Self> {
        let dir = AppDir::with_manifest(&backend.manifest())?;
        let server = Server::start_with(dir.path(), shared_cache()?, configure)?;
        Ok(SqlApp { dir, server })
    }

    /// `POST /<component>?db=…&op=OP&p=…` with `sql`; the guest must answer 200.
    pub(crate) async fn call(
        &self,
        backend: &Backend,
        component: &str,
        op: &str,
        params: &[&str],
        sql: &str,
    ) -> Result<String> {
        let mut path = format!("/{component}?db={}&op={op}", backend.db());
        for p in params {
            path.push_str(&format!("&p={}", enc(p)));
        }
        self.server.post_ok(&path, sql).await
    }

    /// Rows of a query as `{"columns":…,"rows":…}` (PostgreSQL's column types left out).
    pub(crate) async fn rows(
        &self,
        backend: &Backend,
        params: &[&str],
        sql: &str,
    ) -> Result<String> {
        let text = self
            .call(backend, "db", backend.query_op(), params, sql)
            .await?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("not rows ({e}): {text}"))?;
        Ok(serde_json::json!({"columns": json["columns"], "rows": json["rows"]}).to_string())
    }

    /// Runs `statements` (each ending with `;` at a line end) in order; each must succeed.
    pub(crate) async fn script(&self, backend: &Backend, statements: &str) -> Result<()> {
        let text = self.call(backend, "db", "script", &[], statements).await?;
        ensure!(!text.starts_with("error:"), "script failed: {text}");
        Ok(())
    }
}

/// Runs the listed suite functions as one test per backend: `sql::<backend>::<test>`.
macro_rules! sql_suite {
    ($($backend:ident),* $(,)?) => {$(
        mod $backend {
            sql_suite!(@tests $backend:
                values_round_trip, statement_errors_are_values, ungranted_is_refused,
                data_survives_a_restart);
        }
    )*};
    (@tests $backend:ident: $($test:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $test() -> anyhow::Result<()> {
            super::$test(super::Backend::$backend().await?).await
        }
    )*};
}

sql_suite!(sqlite, postgres, mysql);

/// Integers, floats, text, blobs and nulls go in as parameters and come back
/// as the same values.
async fn values_round_trip(backend: Backend) -> Result<()> {
    let app = SqlApp::start(&backend)?;
    app.script(&backend, backend.create_table()).await?;
    let insert = format!(
        "INSERT INTO vals (i, f, s, b, n) VALUES ({}, {}, {}, {}, {})",
        backend.ph(1),
        backend.ph(2),
        backend.ph(3),
        backend.ph(4),
        backend.ph(5)
    );
    for params in [
        [
            "i64:-9007199254740993",
            "f64:1.5",
            "text:héllo 'quoted'",
            "blob:00ff10",
            "null",
        ],
        ["i64:42", "f64:-0.25", "text:", "blob:", "text:not null"],
    ] {
        let text = app
            .call(&backend, "db", "execute", &params, &insert)
            .await?;
        ensure!(!text.starts_with("error:"), "{insert}: {text}");
    }
    assert_eq!(
        app.rows(&backend, &[], "SELECT i, f, s, b, n FROM vals ORDER BY id")
            .await?,
        r#"{"columns":["i","f","s","b","n"],"rows":[[-9007199254740993,1.5,"héllo 'quoted'",{"blob":"00ff10"},null],[42,-0.25,"",{"blob":""},"not null"]]}"#
    );
    let select = format!("SELECT s FROM vals WHERE i = {}", backend.ph(1));
    assert_eq!(
        app.rows(&backend, &["i64:42"], &select).await?,
        r#"{"columns":["s"],"rows":[[""]]}"#
    );
    Ok(())
}

/// A statement the database rejects is the interface's error value, given to
/// the guest; the next statement works.
async fn statement_errors_are_values(backend: Backend) -> Result<()> {
    let app = SqlApp::start(&backend)?;
    for bad in ["SELEC 1", "SELECT * FROM no_such_table"] {
        let text = app
            .call(&backend, "db", backend.query_op(), &[], bad)
            .await?;
        let expected = match backend {
            Backend::Sqlite => "error: io: ",
            Backend::Postgres { .. } | Backend::Mysql { .. } => "error: query-failed: ",
        };
        ensure!(text.starts_with(expected), "{bad}: {text}");
    }
    assert_eq!(
        app.rows(&backend, &[], "SELECT 1 AS one").await?,
        r#"{"columns":["one"],"rows":[[1]]}"#
    );
    Ok(())
}

/// A component without the grant is refused with the interface's error,
/// naming what to grant where the interface has room for a message.
async fn ungranted_is_refused(backend: Backend) -> Result<()> {
    let app = SqlApp::start(&backend)?;
    let text = app
        .call(&backend, "ungranted", backend.query_op(), &[], "SELECT 1")
        .await?;
    match &backend {
        Backend::Sqlite => assert_eq!(text, "error: access-denied"),
        Backend::Postgres { address, .. } => assert_eq!(
            text,
            format!(
                "error: connection-failed: `postgres://{address}` is not allowed: add \
                 `postgres://{address}` to `allowed_outbound_hosts`"
            )
        ),
        Backend::Mysql { address, .. } => assert_eq!(
            text,
            format!(
                "error: connection-failed: `mysql://{address}` is not allowed: add \
                 `mysql://{address}` to `allowed_outbound_hosts`"
            )
        ),
    }
    Ok(())
}

/// Written rows are there after `skiff up` restarts on the same app directory.
async fn data_survives_a_restart(backend: Backend) -> Result<()> {
    let app = SqlApp::start(&backend)?;
    app.script(
        &backend,
        "CREATE TABLE kept (v TEXT);\nINSERT INTO kept VALUES ('before')",
    )
    .await?;
    let SqlApp { dir, server } = app;
    drop(server);
    let server = Server::start(dir.path(), shared_cache()?)?;
    let app = SqlApp { dir, server };
    assert_eq!(
        app.rows(&backend, &[], "SELECT v FROM kept").await?,
        r#"{"columns":["v"],"rows":[["before"]]}"#
    );
    Ok(())
}

/// PostgreSQL stopped under a serving app: the guest gets `connection-failed`
/// naming the server, `skiff up` keeps serving, and once PostgreSQL is back
/// the same app's requests succeed with no restart.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_down_and_back() -> Result<()> {
    let mut pg = PgServer::start()?;
    let backend = Backend::Postgres {
        url: pg.url("postgres"),
        address: pg.address(),
    };
    let app = SqlApp::start(&backend)?;
    app.script(
        &backend,
        "CREATE TABLE kept (v int);\nINSERT INTO kept VALUES (7)",
    )
    .await?;

    pg.stop()?;
    for _ in 0..2 {
        let text = app
            .call(&backend, "db", "query", &[], "SELECT v FROM kept")
            .await?;
        ensure!(
            text.starts_with("error: connection-failed: ") && text.contains(&pg.address()),
            "{text}"
        );
    }

    pg.restart()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match app.rows(&backend, &[], "SELECT v FROM kept").await {
            Ok(rows) => {
                assert_eq!(rows, r#"{"columns":["v"],"rows":[[7]]}"#);
                break;
            }
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.context("PostgreSQL came back but the app still fails")),
        }
    }
    Ok(())
}

/// `sslmode=require` to a PostgreSQL with TLS on: the connection is TLS (the
/// server's `pg_stat_ssl` says so) when the CA that signed its certificate is
/// trusted through `SSL_CERT_FILE`, while the default `sslmode` stays plain;
/// without that trust the guest gets `connection-failed` naming the
/// certificate problem, never a plain-text connection.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_over_tls() -> Result<()> {
    let pg = PgServer::start_tls()?;
    let ca = pg.ca_file().expect("a TLS server").to_path_buf();
    let backend = |url: String| Backend::Postgres {
        url,
        address: pg.address(),
    };
    let tls = backend(format!("{}?sslmode=require", pg.url("postgres")));
    let plain = backend(pg.url("postgres"));
    let ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

    let app = SqlApp::start_with(&tls, |cmd| {
        cmd.env("SSL_CERT_FILE", &ca);
    })?;
    assert_eq!(
        app.rows(&tls, &[], ssl).await?,
        r#"{"columns":["ssl"],"rows":[[true]]}"#
    );
    assert_eq!(
        app.rows(&plain, &[], ssl).await?,
        r#"{"columns":["ssl"],"rows":[[false]]}"#
    );

    let doubting = SqlApp::start_with(&tls, |cmd| {
        cmd.env_remove("SSL_CERT_FILE");
    })?;
    let text = doubting.call(&tls, "db", tls.query_op(), &[], ssl).await?;
    ensure!(
        text.starts_with("error: connection-failed: ")
            && text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );
    Ok(())
}
