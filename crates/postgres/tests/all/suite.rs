//! The SQL suite, run by `sql_test!` through every `sql_*` guest: SQLite
//! through `fermyon:spin/sqlite@2.0.0`, `spin:sqlite/sqlite@3.0.0` and the
//! `async func`s of `@3.1.0`, PostgreSQL through
//! `fermyon:spin/postgres@2.0.0`, `spin:postgres/postgres@3.0.0`, `@4.0.0`
//! and the `async func`s of `@4.2.0`. Where the backends differ
//! (column type names, error variants) the [`Db`] fixture says how; the
//! statements, parameters and expected rows are the same.

use anyhow::Result;
use skiff_outbound_networking::AllowedHosts;

use crate::client::allow;
use crate::host::{App, url};
use crate::pg_server::PgServer;

pub const SQLITE2: &str = test_programs_artifacts::SQL_SQLITE2_COMPONENT;
pub const SQLITE3: &str = test_programs_artifacts::SQL_SQLITE3_COMPONENT;
pub const SQLITE31: &str = test_programs_artifacts::SQL_SQLITE31_COMPONENT;
pub const PG2: &str = test_programs_artifacts::SQL_PG2_COMPONENT;
pub const PG3: &str = test_programs_artifacts::SQL_PG3_COMPONENT;
pub const PG4: &str = test_programs_artifacts::SQL_PG4_COMPONENT;
pub const PG42: &str = test_programs_artifacts::SQL_PG42_COMPONENT;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A database reached through one guest, in a fresh app.
pub struct Db {
    app: App,
    guest: &'static str,
    db: String,
    pub dialect: Dialect,
}

impl Db {
    pub async fn sqlite(guest: &'static str) -> Result<Self> {
        Ok(Db {
            app: App::new(AllowedHosts::default())?,
            guest,
            db: "default".into(),
            dialect: Dialect::Sqlite,
        })
    }

    pub async fn postgres(guest: &'static str) -> Result<Self> {
        let server = PgServer::shared()?;
        Ok(Db {
            app: App::new(allow(server))?,
            guest,
            db: server.database().await?,
            dialect: Dialect::Postgres,
        })
    }

    /// The raw answer to `sql` with `op` (SQLite guests have one op for
    /// everything).
    async fn send(&self, op: &str, sql: &str, params: &[&str]) -> Result<String> {
        let op = match self.dialect {
            Dialect::Sqlite => "execute",
            Dialect::Postgres => op,
        };
        self.app
            .ok(self.guest, &url(&self.db, op, params), sql)
            .await
    }

    /// Runs a statement that returns no rows; fails on an error answer.
    pub async fn exec(&self, sql: &str, params: &[&str]) -> Result<()> {
        let answer = self.send("execute", sql, params).await?;
        anyhow::ensure!(!answer.starts_with("error:"), "{sql}: {answer}");
        Ok(())
    }

    /// The rows of a query as `{"columns":[…],"rows":[…]}` (PostgreSQL's
    /// column types left out), or the error answer.
    pub async fn query(&self, sql: &str, params: &[&str]) -> Result<String> {
        let answer = self.send("query", sql, params).await?;
        Ok(match answer.find(",\"types\":[") {
            Some(start) => {
                let end = start + answer[start..].find(']').expect("types end") + 1;
                format!("{}{}", &answer[..start], &answer[end..])
            }
            None => answer,
        })
    }

    /// A statement's error answer, `error: <variant>: <message>`.
    pub async fn error(&self, sql: &str, params: &[&str]) -> Result<String> {
        let answer = self.send("execute", sql, params).await?;
        anyhow::ensure!(
            answer.starts_with("error: "),
            "{sql}: expected an error, got {answer}"
        );
        Ok(answer)
    }

    /// This backend's name for a portable column type.
    pub fn ty(&self, ty: &str) -> &'static str {
        match (self.dialect, ty) {
            (Dialect::Sqlite, "int") => "INTEGER",
            (Dialect::Sqlite, "real") => "REAL",
            (Dialect::Sqlite, "blob") => "BLOB",
            (Dialect::Postgres, "int") => "BIGINT",
            (Dialect::Postgres, "real") => "DOUBLE PRECISION",
            (Dialect::Postgres, "blob") => "BYTEA",
            (_, "text") => "TEXT",
            _ => panic!("no portable type `{ty}`"),
        }
    }

    /// The interface's error variant for a statement the database rejects,
    /// and for parameters that do not fit.
    pub fn variants(&self) -> (&'static str, &'static str) {
        match self.dialect {
            Dialect::Sqlite => ("error: io: ", "error: io: "),
            Dialect::Postgres => ("error: query-failed: ", "error: bad-parameter: "),
        }
    }

    /// Asks for a database the app does not grant: SQLite's ungranted
    /// label, PostgreSQL's host missing from `allowed_outbound_hosts`.
    pub async fn ungranted(&self) -> Result<String> {
        let db = match self.dialect {
            Dialect::Sqlite => "secret".to_string(),
            Dialect::Postgres => self.db.replace("127.0.0.1", "localhost"),
        };
        self.app
            .ok(self.guest, &url(&db, "execute", &[]), "SELECT 1")
            .await
    }
}

/// Defines `mod $name` with one test per `sql_*` guest, each running `$body`
/// with `$db: Db` reaching a fresh database through that guest.
macro_rules! sql_test {
    ($name:ident, |$db:ident| $body:block) => {
        pub mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            pub async fn sql_sqlite2() -> Result<()> {
                let $db = Db::sqlite(SQLITE2).await?;
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            pub async fn sql_sqlite3() -> Result<()> {
                let $db = Db::sqlite(SQLITE3).await?;
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            pub async fn sql_sqlite31() -> Result<()> {
                let $db = Db::sqlite(SQLITE31).await?;
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            pub async fn sql_pg2() -> Result<()> {
                let $db = Db::postgres(PG2).await?;
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            pub async fn sql_pg3() -> Result<()> {
                let $db = Db::postgres(PG3).await?;
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            pub async fn sql_pg4() -> Result<()> {
                let $db = Db::postgres(PG4).await?;
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            pub async fn sql_pg42() -> Result<()> {
                let $db = Db::postgres(PG42).await?;
                $body
            }
        }
    };
}

sql_test!(create_insert_select, |db| {
    let (int, text, real, blob) = (db.ty("int"), db.ty("text"), db.ty("real"), db.ty("blob"));
    db.exec(
        &format!(
            "CREATE TABLE todo (id {int} PRIMARY KEY, title {text} NOT NULL, score {real}, data {blob})"
        ),
        &[],
    )
    .await?;
    for (id, title, score, data) in [
        ("i64:1", "text:write tests", "f64:0.5", "blob:00ff"),
        ("i64:2", "text:ship it", "null", "null"),
        ("i64:3", "text:späße", "f64:-2.0", "blob:"),
    ] {
        db.exec(
            "INSERT INTO todo (id, title, score, data) VALUES ($1, $2, $3, $4)",
            &[id, title, score, data],
        )
        .await?;
    }
    assert_eq!(
        db.query("SELECT id, title, score, data FROM todo ORDER BY id", &[])
            .await?,
        concat!(
            r#"{"columns":["id","title","score","data"],"rows":["#,
            r#"[1,"write tests",0.5,{"blob":"00ff"}],[2,"ship it",null,null],[3,"späße",-2.0,{"blob":""}]]}"#
        )
    );
    assert_eq!(
        db.query("SELECT title FROM todo WHERE id = $1", &["i64:2"])
            .await?,
        r#"{"columns":["title"],"rows":[["ship it"]]}"#
    );
    assert_eq!(
        db.query("SELECT id FROM todo WHERE id > $1", &["i64:100"])
            .await?,
        r#"{"columns":["id"],"rows":[]}"#
    );
    Ok(())
});

sql_test!(values_round_trip, |db| {
    let (int, text, real, blob) = (db.ty("int"), db.ty("text"), db.ty("real"), db.ty("blob"));
    db.exec(
        &format!("CREATE TABLE v (n {int}, i {int}, r {real}, t {text}, b {blob})"),
        &[],
    )
    .await?;
    let rows: [[&str; 4]; 6] = [
        ["i64:-9223372036854775808", "f64:-2.5", "text:", "blob:"],
        [
            "i64:9223372036854775807",
            "f64:1e300",
            "text:'quotes' \"and\" \\ slashes",
            "blob:000102fdfeff",
        ],
        ["i64:0", "f64:inf", "text:line\nbreak\ttab", "blob:00"],
        ["i64:42", "f64:-inf", "text:ünïcödé ✓ 鍵 🦀", "blob:ff"],
        ["i32:-7", "f64:0.1", "text:null", "blob:6e756c6c"],
        ["null", "null", "null", "null"],
    ];
    for (n, [i, r, t, b]) in rows.iter().enumerate() {
        let n = format!("i64:{n}");
        db.exec(
            "INSERT INTO v VALUES ($1, $2, $3, $4, $5)",
            &[&n, i, r, t, b],
        )
        .await?;
    }
    assert_eq!(
        db.query("SELECT i, r, t, b FROM v ORDER BY n", &[]).await?,
        concat!(
            r#"{"columns":["i","r","t","b"],"rows":["#,
            r#"[-9223372036854775808,-2.5,"",{"blob":""}],"#,
            r#"[9223372036854775807,1e300,"'quotes' \"and\" \\ slashes",{"blob":"000102fdfeff"}],"#,
            r#"[0,"inf","line\nbreak\ttab",{"blob":"00"}],"#,
            r#"[42,"-inf","ünïcödé ✓ 鍵 🦀",{"blob":"ff"}],"#,
            r#"[-7,0.1,"null",{"blob":"6e756c6c"}],"#,
            r#"[null,null,null,null]]}"#
        )
    );
    assert_eq!(
        db.query("SELECT count(*) AS c FROM v WHERE t IS NULL", &[])
            .await?,
        r#"{"columns":["c"],"rows":[[1]]}"#
    );
    Ok(())
});

sql_test!(update_and_delete, |db| {
    let (int, text) = (db.ty("int"), db.ty("text"));
    db.exec(&format!("CREATE TABLE t (id {int}, tag {text})"), &[])
        .await?;
    for id in 1..=5 {
        let id = format!("i64:{id}");
        let tag = if id.ends_with(['1', '3', '5']) {
            "text:odd"
        } else {
            "text:even"
        };
        db.exec("INSERT INTO t VALUES ($1, $2)", &[&id, tag])
            .await?;
    }
    db.exec(
        "UPDATE t SET tag = $1 WHERE tag = $2",
        &["text:EVEN", "text:even"],
    )
    .await?;
    db.exec("DELETE FROM t WHERE id > $1", &["i64:3"]).await?;
    assert_eq!(
        db.query("SELECT id, tag FROM t ORDER BY id", &[]).await?,
        r#"{"columns":["id","tag"],"rows":[[1,"odd"],[2,"EVEN"],[3,"odd"]]}"#
    );
    Ok(())
});

sql_test!(errors_are_the_interfaces_error_values, |db| {
    let (rejected, bad_param) = db.variants();
    let (int, text) = (db.ty("int"), db.ty("text"));
    db.exec(
        &format!("CREATE TABLE u (id {int} PRIMARY KEY, name {text} NOT NULL)"),
        &[],
    )
    .await?;
    db.exec("INSERT INTO u VALUES ($1, $2)", &["i64:1", "text:one"])
        .await?;

    let err = db.error("SELEC 1", &[]).await?;
    assert!(
        err.starts_with(rejected) && err.contains("syntax error"),
        "{err}"
    );
    let err = db.error("SELECT * FROM missing", &[]).await?;
    assert!(
        err.starts_with(rejected) && err.contains("missing"),
        "{err}"
    );
    let err = db
        .error("INSERT INTO u VALUES ($1, $2)", &["i64:1", "text:again"])
        .await?;
    assert!(err.starts_with(rejected), "{err}");
    assert!(err.to_lowercase().contains("unique"), "{err}");
    let err = db
        .error("INSERT INTO u VALUES ($1, NULL)", &["i64:2"])
        .await?;
    assert!(
        err.starts_with(rejected) && err.to_lowercase().contains("null"),
        "{err}"
    );
    let err = db
        .error("INSERT INTO u VALUES ($1, $2)", &["i64:3"])
        .await?;
    assert!(err.starts_with(bad_param), "{err}");

    // Nothing above changed the table, and the database still answers.
    assert_eq!(
        db.query("SELECT id, name FROM u", &[]).await?,
        r#"{"columns":["id","name"],"rows":[[1,"one"]]}"#
    );
    Ok(())
});

sql_test!(ungranted_databases_are_refused, |db| {
    let answer = db.ungranted().await?;
    match db.dialect {
        Dialect::Sqlite => assert_eq!(answer, "error: access-denied"),
        Dialect::Postgres => {
            assert!(
                answer.starts_with("error: connection-failed: `postgres://localhost:"),
                "{answer}"
            );
            assert!(answer.ends_with("to `allowed_outbound_hosts`"), "{answer}");
        }
    }
    Ok(())
});
