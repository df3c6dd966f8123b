//! `[sqlite_database.LABEL]` runtime-config sections.

use std::path::PathBuf;

use anyhow::Result;
use skiff_sqlite::{Backend, ConfigError, SqliteConfig};

fn parse(text: &str) -> Result<SqliteConfig, ConfigError> {
    let table: toml::Table = toml::from_str(text).expect("valid TOML");
    SqliteConfig::from_toml(&table)
}

fn invalid_key(text: &str) -> String {
    match parse(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected an invalid key, got {other:?}"),
    }
}

#[test]
fn sections_parse() -> Result<()> {
    let config = parse(
        r#"
        [default]
        type = "spin"

        [todo]
        type = "spin"
        path = "data/todo.db"

        [alias]
        type = "embedded"
        "#,
    )?;
    assert_eq!(config.databases.len(), 3);
    assert_eq!(
        config.databases["default"].backend,
        Backend::Embedded { path: None }
    );
    assert_eq!(
        config.databases["todo"].backend,
        Backend::Embedded {
            path: Some(PathBuf::from("data/todo.db"))
        }
    );
    assert_eq!(parse("")?, SqliteConfig::default());
    Ok(())
}

#[test]
fn bad_sections_name_their_key() {
    assert_eq!(invalid_key("default = 1"), "sqlite_database.default");
    assert_eq!(
        invalid_key("[default]\npath = \"x\""),
        "sqlite_database.default.type"
    );
    assert_eq!(
        invalid_key("[default]\ntype = 7"),
        "sqlite_database.default.type"
    );
    assert_eq!(
        invalid_key("[default]\ntype = \"spin\"\npath = \"\""),
        "sqlite_database.default.path"
    );
    assert_eq!(
        invalid_key("[default]\ntype = \"spin\"\nurl = \"x\""),
        "sqlite_database.default.url"
    );
    let err = parse("[remote]\ntype = \"libsql\"\nurl = \"https://x\"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`sqlite_database.remote.type`: unsupported sqlite database type \"libsql\"; expected \"spin\""
    );
}
