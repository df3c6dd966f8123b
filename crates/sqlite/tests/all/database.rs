//! The embedded backend: values, statements, errors, connections.

use std::sync::Arc;

use anyhow::Result;
use skiff_sqlite::embedded::EmbeddedDatabase;
use skiff_sqlite::{Connection, Database, Error, QueryResult, Value};
use tempfile::TempDir;

async fn database() -> Result<(TempDir, EmbeddedDatabase)> {
    let dir = tempfile::tempdir()?;
    let db = EmbeddedDatabase::open(dir.path().join("test.db"), "test").await?;
    Ok((dir, db))
}

async fn exec(conn: &Arc<dyn Connection>, sql: &str) -> Result<QueryResult> {
    Ok(conn.execute(sql, Vec::new()).await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_value_type_round_trips() -> Result<()> {
    let (_dir, db) = database().await?;
    let conn = db.connect().await?;
    exec(&conn, "CREATE TABLE t (id INTEGER PRIMARY KEY, v)").await?;
    let every_byte: Vec<u8> = (0..=255).collect();
    let values = vec![
        Value::Integer(0),
        Value::Integer(i64::MIN),
        Value::Integer(i64::MAX),
        Value::Real(1.5),
        Value::Real(-0.0),
        Value::Real(f64::MAX),
        Value::Real(f64::MIN_POSITIVE),
        Value::Real(f64::INFINITY),
        Value::Real(f64::NEG_INFINITY),
        Value::Text(String::new()),
        Value::Text("späße ✓ 鍵 'quoted' \"dq\" \n".into()),
        Value::Text("nul\0inside".into()),
        Value::Blob(Vec::new()),
        Value::Blob(every_byte),
        Value::Null,
    ];
    for (id, value) in values.iter().enumerate() {
        let id = Value::Integer(i64::try_from(id)?);
        conn.execute(
            "INSERT INTO t (id, v) VALUES (?, ?)",
            vec![id, value.clone()],
        )
        .await?;
    }
    let result = exec(&conn, "SELECT v, typeof(v) FROM t ORDER BY id").await?;
    assert_eq!(result.columns, ["v", "typeof(v)"]);
    let got: Vec<Value> = result.rows.iter().map(|row| row[0].clone()).collect();
    assert_eq!(got.len(), values.len());
    for (got, want) in got.iter().zip(&values) {
        match (got, want) {
            // -0.0 == 0.0; check the sign survived too.
            (Value::Real(g), Value::Real(w)) => {
                assert_eq!(g.to_bits(), w.to_bits(), "{g} vs {w}")
            }
            _ => assert_eq!(got, want),
        }
    }
    let types: Vec<Value> = result.rows.iter().map(|row| row[1].clone()).collect();
    assert_eq!(types[0], Value::Text("integer".into()));
    assert_eq!(types[3], Value::Text("real".into()));
    assert_eq!(types[9], Value::Text("text".into()));
    assert_eq!(types[12], Value::Text("blob".into()));
    assert_eq!(types[14], Value::Text("null".into()));

    // Parameters echo back unchanged, without a table.
    let echo = conn
        .execute(
            "SELECT ?, ?, ?, ?, ?",
            vec![
                Value::Integer(-7),
                Value::Real(0.1),
                Value::Text("x".into()),
                Value::Blob(vec![0, 1]),
                Value::Null,
            ],
        )
        .await?;
    assert_eq!(
        echo.rows,
        [vec![
            Value::Integer(-7),
            Value::Real(0.1),
            Value::Text("x".into()),
            Value::Blob(vec![0, 1]),
            Value::Null,
        ]]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn nan_is_stored_as_null() -> Result<()> {
    // SQLite's own rule; documented so nobody expects NaN back.
    let (_dir, db) = database().await?;
    let conn = db.connect().await?;
    let result = conn
        .execute("SELECT ?", vec![Value::Real(f64::NAN)])
        .await?;
    assert_eq!(result.rows, [vec![Value::Null]]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_by_number_and_name() -> Result<()> {
    let (_dir, db) = database().await?;
    let conn = db.connect().await?;
    let result = conn
        .execute(
            "SELECT ?2, ?1, :third",
            vec![
                Value::Integer(1),
                Value::Integer(2),
                Value::Text("3".into()),
            ],
        )
        .await?;
    assert_eq!(
        result.rows,
        [vec![
            Value::Integer(2),
            Value::Integer(1),
            Value::Text("3".into())
        ]]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_without_rows_return_no_columns() -> Result<()> {
    let (_dir, db) = database().await?;
    let conn = db.connect().await?;
    let created = exec(&conn, "CREATE TABLE t (a INTEGER, b TEXT)").await?;
    assert_eq!(created, QueryResult::default());
    let inserted = exec(&conn, "INSERT INTO t VALUES (1, 'one'), (2, 'two')").await?;
    assert!(inserted.rows.is_empty());
    let empty = exec(&conn, "SELECT a, b AS bee FROM t WHERE a > 5").await?;
    assert_eq!(empty.columns, ["a", "bee"]);
    assert!(empty.rows.is_empty());
    let returning = exec(&conn, "INSERT INTO t VALUES (3, 'three') RETURNING a, b").await?;
    assert_eq!(
        returning.rows,
        [vec![Value::Integer(3), Value::Text("three".into())]]
    );
    Ok(())
}

/// The message of an `Error::Io`.
fn io_message(err: Error) -> String {
    match err {
        Error::Io { message } => message,
        other => panic!("expected an io error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_statements_are_io_errors_with_sqlites_message() -> Result<()> {
    let (_dir, db) = database().await?;
    let conn = db.connect().await?;
    exec(
        &conn,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    )
    .await?;

    let err = conn.execute("SELEC 1", vec![]).await.unwrap_err();
    assert!(io_message(err).contains("syntax error"));

    let err = conn
        .execute("SELECT * FROM missing", vec![])
        .await
        .unwrap_err();
    assert_eq!(io_message(err), "no such table: missing");

    let err = conn
        .execute("INSERT INTO t (id, name) VALUES (1, NULL)", vec![])
        .await
        .unwrap_err();
    assert!(io_message(err).contains("NOT NULL constraint failed: t.name"));

    let err = conn
        .execute("SELECT ?, ?", vec![Value::Integer(1)])
        .await
        .unwrap_err();
    assert!(io_message(err).contains("parameters"), "wrong count");

    let err = conn
        .execute("SELECT 1; SELECT 2", vec![])
        .await
        .unwrap_err();
    assert!(
        io_message(err)
            .to_lowercase()
            .contains("multiple statements")
    );

    // The connection still works after errors.
    assert_eq!(
        exec(&conn, "SELECT count(*) FROM t").await?.rows,
        [vec![Value::Integer(0)]]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn rowid_and_changes_are_per_connection() -> Result<()> {
    let (_dir, db) = database().await?;
    let a = db.connect().await?;
    let b = db.connect().await?;
    assert_eq!((a.last_insert_rowid(), a.changes()), (0, 0));
    exec(&a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").await?;
    exec(&a, "INSERT INTO t (v) VALUES ('x')").await?;
    exec(&a, "INSERT INTO t (v) VALUES ('y')").await?;
    assert_eq!((a.last_insert_rowid(), a.changes()), (2, 1));
    // A query changes neither.
    exec(&a, "SELECT * FROM t").await?;
    assert_eq!((a.last_insert_rowid(), a.changes()), (2, 1));
    exec(&a, "UPDATE t SET v = 'z'").await?;
    assert_eq!((a.last_insert_rowid(), a.changes()), (2, 2));
    // `b` saw none of that.
    assert_eq!((b.last_insert_rowid(), b.changes()), (0, 0));
    exec(&b, "INSERT INTO t (id, v) VALUES (10, 'b')").await?;
    assert_eq!((b.last_insert_rowid(), b.changes()), (10, 1));
    assert_eq!(a.last_insert_rowid(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unfinished_transaction_is_rolled_back_when_the_connection_goes() -> Result<()> {
    let (_dir, db) = database().await?;
    let setup = db.connect().await?;
    exec(&setup, "CREATE TABLE t (v INTEGER)").await?;

    let guest = db.connect().await?;
    exec(&guest, "BEGIN").await?;
    exec(&guest, "INSERT INTO t VALUES (1)").await?;
    // Not committed: another connection does not see it.
    assert!(exec(&setup, "SELECT * FROM t").await?.rows.is_empty());
    drop(guest);

    // The pooled connection comes back clean: a new transaction can begin.
    let next = db.connect().await?;
    exec(&next, "BEGIN").await?;
    exec(&next, "INSERT INTO t VALUES (2)").await?;
    exec(&next, "COMMIT").await?;
    let rows = exec(&setup, "SELECT v FROM t").await?.rows;
    assert_eq!(rows, [vec![Value::Integer(2)]]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_wait_for_each_other() -> Result<()> {
    let (_dir, db) = database().await?;
    let db = Arc::new(db);
    exec(&db.connect().await?, "CREATE TABLE t (v INTEGER)").await?;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let conn = db.connect().await?;
            for j in 0..10 {
                conn.execute(
                    "INSERT INTO t VALUES (?)",
                    vec![Value::Integer(i * 100 + j)],
                )
                .await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let count = exec(&db.connect().await?, "SELECT count(*) FROM t").await?;
    assert_eq!(count.rows, [vec![Value::Integer(160)]]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_batch_runs_every_statement() -> Result<()> {
    let (_dir, db) = database().await?;
    db.execute_batch(
        "CREATE TABLE a (v INTEGER);
         -- a comment
         INSERT INTO a VALUES (1);
         INSERT INTO a VALUES (2);
         SELECT * FROM a;
         CREATE INDEX a_v ON a (v);",
    )
    .await?;
    let conn = db.connect().await?;
    assert_eq!(
        exec(&conn, "SELECT sum(v) FROM a").await?.rows,
        [vec![Value::Integer(3)]]
    );
    // Stops at the first failure; what ran before stays.
    let err = db
        .execute_batch(
            "INSERT INTO a VALUES (3); INSERT INTO nope VALUES (4); INSERT INTO a VALUES (5);",
        )
        .await
        .unwrap_err();
    assert_eq!(io_message(err), "no such table: nope");
    assert_eq!(
        exec(&conn, "SELECT sum(v) FROM a").await?.rows,
        [vec![Value::Integer(6)]]
    );
    // A failed `BEGIN … COMMIT` batch leaves nothing behind, and no open
    // transaction on the pooled connection.
    let err = db
        .execute_batch("BEGIN; INSERT INTO a VALUES (100); INSERT INTO nope VALUES (1); COMMIT;")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert_eq!(
        exec(&conn, "SELECT sum(v) FROM a").await?.rows,
        [vec![Value::Integer(6)]]
    );
    db.execute_batch("BEGIN; INSERT INTO a VALUES (10); COMMIT;")
        .await?;
    assert_eq!(
        exec(&conn, "SELECT sum(v) FROM a").await?.rows,
        [vec![Value::Integer(16)]]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_path_fails_to_open() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("file");
    std::fs::write(&file, "not a directory")?;
    let err = EmbeddedDatabase::open(file.join("db.sqlite"), "x")
        .await
        .err()
        .expect("a path under a file cannot be opened");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    let not_sqlite = dir.path().join("garbage.db");
    std::fs::write(&not_sqlite, vec![7u8; 4096])?;
    let err = EmbeddedDatabase::open(&not_sqlite, "x").await.err();
    assert!(err.is_some(), "a file that is not a database is refused");
    Ok(())
}
