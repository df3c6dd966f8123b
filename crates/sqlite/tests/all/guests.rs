//! The `sql_sqlite*` guests, one per interface generation, each instantiated
//! in `skiff_test_support::guest`'s minimal host (WASI 0.2 and 0.3,
//! wasi:http, this crate's `add_to_linker`) and sent requests through its
//! `wasi:http` handler:
//! `sql_sqlite2` (`fermyon:spin/sqlite@2.0.0`), `sql_sqlite3`
//! (`spin:sqlite/sqlite@3.0.0`, served by the host's `@3.1.0`) and
//! `sql_sqlite31` (the `async func`s of `@3.1.0`, a WASI 0.3 guest).
//!
//! Request format and answers: see `test_programs::sql` and the guests' docs.

use std::sync::Arc;

use anyhow::Result;
use skiff_sqlite::{SqliteManager, SqliteState};
use skiff_test_support::guest::{self, sql_url as url};
use tempfile::TempDir;

const SQLITE2: &str = test_programs_artifacts::SQL_SQLITE2_COMPONENT;
const SQLITE3: &str = test_programs_artifacts::SQL_SQLITE3_COMPONENT;
const SQLITE31: &str = test_programs_artifacts::SQL_SQLITE31_COMPONENT;

/// An app: a manager over a temporary state dir, and the labels its
/// component is granted.
struct App {
    manager: Arc<SqliteManager>,
    granted: Arc<[String]>,
    _dir: TempDir,
}

impl App {
    fn new(granted: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let manager = SqliteManager::builder().state_dir(dir.path()).build();
        Ok(App {
            manager: Arc::new(manager),
            granted: granted.iter().map(|s| s.to_string()).collect(),
            _dir: dir,
        })
    }

    /// A fresh instance's SQLite state.
    fn state(&self) -> SqliteState {
        SqliteState::new(self.manager.clone(), self.granted.clone())
    }

    /// Sends `POST <path_and_query>` with `body` to a fresh instance of the
    /// guest; returns the status and body.
    async fn send(&self, guest: &str, path_and_query: &str, body: &str) -> Result<(u16, String)> {
        guest::send(guest, self.state(), path_and_query, body).await
    }

    /// `send`, expecting `200`; returns the body.
    async fn ok(&self, guest: &str, path_and_query: &str, body: &str) -> Result<String> {
        guest::ok(guest, self.state(), path_and_query, body).await
    }
}

/// What both generations have: statements, parameters of every value type,
/// errors.
async fn basic(app: &App, guest: &str) -> Result<()> {
    let run = |sql: &'static str, params: &'static [&'static str]| async move {
        app.ok(guest, &url("default", "execute", params), sql).await
    };
    assert_eq!(
        run("CREATE TABLE t (id INTEGER PRIMARY KEY, v)", &[]).await?,
        r#"{"columns":[],"rows":[]}"#
    );
    for (id, value) in [
        "i64:-9223372036854775808",
        "i32:42",
        "f64:2.5",
        "f32:0.5",
        "text:späße, \"quoted\"",
        "text:",
        "blob:00ff10",
        "blob:",
        "null",
    ]
    .iter()
    .enumerate()
    {
        let params = [format!("i64:{}", id + 1), value.to_string()];
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let got = app
            .ok(
                guest,
                &url("default", "execute", &params),
                "INSERT INTO t (id, v) VALUES (?, ?)",
            )
            .await?;
        assert_eq!(got, r#"{"columns":[],"rows":[]}"#);
    }
    assert_eq!(
        run("SELECT id, v FROM t ORDER BY id", &[]).await?,
        concat!(
            r#"{"columns":["id","v"],"rows":[[1,-9223372036854775808],[2,42],[3,2.5],[4,0.5],"#,
            r#"[5,"späße, \"quoted\""],[6,""],[7,{"blob":"00ff10"}],[8,{"blob":""}],[9,null]]}"#
        )
    );
    assert_eq!(
        run("SELECT count(*) AS n FROM t WHERE v IS NULL", &[]).await?,
        r#"{"columns":["n"],"rows":[[1]]}"#
    );
    let err = run("SELECT * FROM nowhere", &[]).await?;
    assert_eq!(err, "error: io: no such table: nowhere");
    let err = run("INSERT INTO t (id) VALUES (1)", &[]).await?;
    assert_eq!(err, "error: io: UNIQUE constraint failed: t.id");
    // Not in either interface: booleans.
    let (status, _) = app
        .send(
            guest,
            &url("default", "execute", &["bool:true"]),
            "SELECT ?",
        )
        .await?;
    assert_eq!(status, 400);
    Ok(())
}

/// Ungranted labels are `access-denied`, whether or not a database exists;
/// granted labels without one are `no-such-database`.
async fn grants(guest: &str) -> Result<()> {
    let app = App::new(&["default"])?;
    // `secret` exists (the operator made it), but is not granted.
    app.manager
        .execute_batch("secret", "CREATE TABLE s (v)")
        .await?;
    for label in ["secret", "nope", "Default", ""] {
        let got = app
            .ok(guest, &url(label, "execute", &[]), "SELECT 1")
            .await?;
        assert_eq!(got, "error: access-denied", "{label:?}");
    }
    let app = App {
        manager: Arc::new(SqliteManager::builder().build()),
        ..App::new(&["default"])?
    };
    let got = app
        .ok(guest, &url("default", "execute", &[]), "SELECT 1")
        .await?;
    assert_eq!(got, "error: no-such-database");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_sqlite2() -> Result<()> {
    let app = App::new(&["default"])?;
    basic(&app, SQLITE2).await?;
    grants(SQLITE2).await
}

/// `changes` and `last-insert-rowid` describe the instance's own statements.
async fn stats(guest: &str) -> Result<()> {
    let app = &App::new(&["default"])?;
    let stats = |script: &'static str| async move {
        app.ok(guest, &url("default", "stats", &[]), script).await
    };
    assert_eq!(
        stats("CREATE TABLE n (id INTEGER PRIMARY KEY, v)").await?,
        r#"{"changes":0,"last_insert_rowid":0}"#
    );
    assert_eq!(
        stats("INSERT INTO n (v) VALUES (1);\nINSERT INTO n (v) VALUES (2);\nSELECT * FROM n")
            .await?,
        r#"{"changes":1,"last_insert_rowid":2}"#
    );
    // A new instance has a connection of its own: no history.
    assert_eq!(
        stats("SELECT * FROM n").await?,
        r#"{"changes":0,"last_insert_rowid":0}"#
    );
    assert_eq!(
        stats("UPDATE n SET v = 0").await?,
        r#"{"changes":2,"last_insert_rowid":0}"#
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_sqlite3() -> Result<()> {
    let app = App::new(&["default"])?;
    basic(&app, SQLITE3).await?;
    grants(SQLITE3).await?;
    stats(SQLITE3).await
}

/// The `async func`s of `@3.1.0`, from a WASI 0.3 guest.
#[tokio::test(flavor = "multi_thread")]
async fn sql_sqlite31() -> Result<()> {
    let app = App::new(&["default"])?;
    basic(&app, SQLITE31).await?;
    grants(SQLITE31).await?;
    stats(SQLITE31).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_generation_shares_databases_and_migrations() -> Result<()> {
    let app = App::new(&["default", "other"])?;
    app.manager
        .execute_batch(
            "default",
            "CREATE TABLE todo (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
             INSERT INTO todo (title) VALUES ('migrated');",
        )
        .await?;
    app.ok(
        SQLITE2,
        &url("default", "execute", &["text:from v2"]),
        "INSERT INTO todo (title) VALUES (?)",
    )
    .await?;
    app.ok(
        SQLITE3,
        &url("default", "execute", &["text:from v3"]),
        "INSERT INTO todo (title) VALUES (?)",
    )
    .await?;
    app.ok(
        SQLITE31,
        &url("default", "execute", &["text:from v3.1"]),
        "INSERT INTO todo (title) VALUES (?)",
    )
    .await?;
    for guest in [SQLITE2, SQLITE3, SQLITE31] {
        let got = app
            .ok(
                guest,
                &url("default", "execute", &[]),
                "SELECT title FROM todo ORDER BY id",
            )
            .await?;
        assert_eq!(
            got,
            r#"{"columns":["title"],"rows":[["migrated"],["from v2"],["from v3"],["from v3.1"]]}"#
        );
        let got = app
            .ok(guest, &url("other", "execute", &[]), "SELECT * FROM todo")
            .await?;
        assert_eq!(got, "error: io: no such table: todo");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_left_open_by_a_guest_is_rolled_back() -> Result<()> {
    let app = App::new(&["default"])?;
    app.manager
        .execute_batch("default", "CREATE TABLE t (v INTEGER)")
        .await?;
    for guest in [SQLITE2, SQLITE3, SQLITE31] {
        let got = app
            .ok(
                guest,
                &url("default", "script", &[]),
                "BEGIN;\nINSERT INTO t VALUES (1);\nSELECT count(*) FROM t",
            )
            .await?;
        assert_eq!(got, r#"{"columns":["count(*)"],"rows":[[1]]}"#);
        // The instance is gone: its insert was never committed, and the
        // next instance can write.
        let got = app
            .ok(
                guest,
                &url("default", "script", &[]),
                "INSERT INTO t VALUES (2);\nSELECT count(*) FROM t",
            )
            .await?;
        assert_eq!(got, r#"{"columns":["count(*)"],"rows":[[1]]}"#);
        app.manager
            .execute_batch("default", "DELETE FROM t")
            .await?;
    }
    Ok(())
}
