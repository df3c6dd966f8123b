//! The resolver: default files, configured paths, migrations, persistence,
//! live replacement.

use std::sync::Arc;

use anyhow::Result;
use skiff_sqlite::embedded::EmbeddedDatabase;
use skiff_sqlite::{ConfigError, Error, SqliteConfig, SqliteManager, Value};

fn config(text: &str) -> Result<SqliteConfig> {
    Ok(SqliteConfig::from_toml(&toml::from_str(text)?)?)
}

async fn count(manager: &SqliteManager, label: &str, table: &str) -> Result<Value> {
    let conn = manager.open(label).await?.connect().await?;
    let result = conn
        .execute(&format!("SELECT count(*) FROM {table}"), vec![])
        .await?;
    Ok(result.rows[0][0].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn unconfigured_labels_get_a_file_under_the_state_dir() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let manager = SqliteManager::builder().state_dir(dir.path()).build();
    assert_eq!(
        manager.default_path("default"),
        Some(dir.path().join("sqlite").join("default.db"))
    );
    manager
        .execute_batch("default", "CREATE TABLE t (v); INSERT INTO t VALUES (1);")
        .await?;
    manager
        .execute_batch("other", "CREATE TABLE u (v);")
        .await?;
    assert!(dir.path().join("sqlite/default.db").is_file());
    assert!(dir.path().join("sqlite/other.db").is_file());
    // Labels are separate databases.
    let conn = manager.open("other").await?.connect().await?;
    let err = conn.execute("SELECT * FROM t", vec![]).await.unwrap_err();
    assert_eq!(err, Error::io("no such table: t"));
    // The same label resolves to the same database each time.
    assert!(Arc::ptr_eq(
        &manager.open("default").await?,
        &manager.open("default").await?
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_without_a_database_are_no_such_database() -> Result<()> {
    let manager = SqliteManager::builder().build();
    let err = manager.open("default").await.err().unwrap();
    assert_eq!(
        err,
        Error::NoSuchDatabase {
            label: "default".into()
        }
    );
    let dir = tempfile::tempdir()?;
    let manager = SqliteManager::builder().state_dir(dir.path()).build();
    for label in ["", "../escape", ".hidden", "a/b", "a b"] {
        let err = manager.open(label).await.err().unwrap();
        assert!(matches!(err, Error::NoSuchDatabase { .. }), "{label:?}");
    }
    let err = manager
        .execute_batch("../escape", "SELECT 1")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no sqlite database is configured for label `../escape`"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let manager = SqliteManager::builder().state_dir(dir.path()).build();
        manager
            .execute_batch("default", "CREATE TABLE t (v TEXT)")
            .await?;
        let conn = manager.open("default").await?.connect().await?;
        for i in 0..5 {
            conn.execute("INSERT INTO t VALUES (?)", vec![Value::Text(i.to_string())])
                .await?;
        }
    }
    let manager = SqliteManager::builder().state_dir(dir.path()).build();
    assert_eq!(count(&manager, "default", "t").await?, Value::Integer(5));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_paths_are_relative_to_the_base_dir() -> Result<()> {
    let state = tempfile::tempdir()?;
    let base = tempfile::tempdir()?;
    let manager = SqliteManager::builder()
        .state_dir(state.path())
        .base_dir(base.path())
        .build_with(&config(
            r#"
            [default]
            type = "spin"
            path = "data/app.db"

            [plain]
            type = "spin"
            "#,
        )?)
        .await?;
    assert_eq!(manager.configured_labels(), ["default", "plain"]);
    // Opened when built, before any guest asks.
    assert!(base.path().join("data/app.db").is_file());
    assert!(state.path().join("sqlite/plain.db").is_file());
    manager
        .execute_batch("default", "CREATE TABLE t (v)")
        .await?;
    let direct = EmbeddedDatabase::open(base.path().join("data/app.db"), "check").await?;
    let conn = skiff_sqlite::Database::connect(&direct).await?;
    assert!(conn.execute("SELECT * FROM t", vec![]).await.is_ok());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_path_fails_the_build_naming_the_section() -> Result<()> {
    let base = tempfile::tempdir()?;
    std::fs::write(base.path().join("file"), "x")?;
    let err = SqliteManager::builder()
        .base_dir(base.path())
        .build_with(&config(
            "[default]\ntype = \"spin\"\npath = \"file/db.sqlite\"",
        )?)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ConfigError::Open { label, key, .. } if label == "default" && key == "sqlite_database.default"),
        "{err:?}"
    );
    // Without `path` and without a state dir there is no file to use.
    let err = SqliteManager::builder()
        .build_with(&config("[default]\ntype = \"spin\"")?)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ConfigError::Invalid { key, .. } if key == "sqlite_database.default.path"),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_swaps_databases_for_new_connections() -> Result<()> {
    let base = tempfile::tempdir()?;
    let manager = SqliteManager::builder()
        .base_dir(base.path())
        .build_with(&config("[default]\ntype = \"spin\"\npath = \"one.db\"")?)
        .await?;
    manager
        .execute_batch("default", "CREATE TABLE t (v); INSERT INTO t VALUES (1);")
        .await?;
    let old = manager.open("default").await?.connect().await?;

    manager
        .apply(&config("[default]\ntype = \"spin\"\npath = \"two.db\"")?)
        .await?;
    manager
        .execute_batch(
            "default",
            "CREATE TABLE t (v); INSERT INTO t VALUES (2); INSERT INTO t VALUES (2);",
        )
        .await?;
    assert_eq!(count(&manager, "default", "t").await?, Value::Integer(2));
    // The connection opened before the swap keeps the old file.
    let rows = old.execute("SELECT count(*) FROM t", vec![]).await?.rows;
    assert_eq!(rows, [vec![Value::Integer(1)]]);

    // A failing config changes nothing.
    std::fs::write(base.path().join("file"), "x")?;
    let bad = config("[default]\ntype = \"spin\"\npath = \"file/x.db\"")?;
    assert!(manager.apply(&bad).await.is_err());
    assert_eq!(count(&manager, "default", "t").await?, Value::Integer(2));
    Ok(())
}
