//! `MysqlConnection` and `MysqlPools` against a real server.

use anyhow::Result;
use skiff_mysql::{Error, MysqlConnection, MysqlPools};
use skiff_outbound_networking::AllowedHosts;
use skiff_test_support::mysql_server::MysqlServer;

fn allow(entry: &str) -> AllowedHosts {
    AllowedHosts::parse(&[entry.to_string()], &|_| None).expect("a valid entry")
}

/// An address outside the grant is refused before any connection is made,
/// naming the entry to add; so is a grant for another port.
#[tokio::test(flavor = "multi_thread")]
async fn ungranted_addresses_are_refused_first() -> Result<()> {
    let pools = MysqlPools::default();
    // Nothing listens on port 1: a refusal that needed the network would be
    // a connect error, not a denial.
    for (grant, address) in [
        ("mysql://127.0.0.1:2", "mysql://u:p@127.0.0.1:1/db"),
        ("mysql://db.internal", "mysql://u:p@127.0.0.1:1/db"),
    ] {
        let err = MysqlConnection::open(address, &allow(grant), &pools)
            .await
            .err()
            .expect("refused");
        assert_eq!(
            err,
            Error::ConnectionFailed(
                "`mysql://127.0.0.1:1` is not allowed: add `mysql://127.0.0.1:1` to \
                 `allowed_outbound_hosts`"
                    .into()
            )
        );
    }
    assert!(pools.is_empty(), "a refused address got a pool");
    Ok(())
}

/// A grant by name (`mysql://localhost:PORT`) reaches the server the name
/// resolves to, since the name was named explicitly.
#[tokio::test(flavor = "multi_thread")]
async fn a_name_grant_reaches_its_loopback_server() -> Result<()> {
    let server = MysqlServer::shared()?;
    let db = server.database()?;
    let port = server.port();
    let conn = MysqlConnection::open(
        &format!("mysql://skiff:skiff-pass@localhost:{port}/{db}"),
        &allow(&format!("mysql://localhost:{port}")),
        &MysqlPools::default(),
    )
    .await?;
    assert_eq!(conn.peer(), format!("localhost:{port}"));
    let (columns, rows) = conn.query("SELECT DATABASE()", Vec::new()).await?;
    assert_eq!(columns.len(), 1);
    assert_eq!(rows.len(), 1);
    Ok(())
}

/// `execute` returns the rows a statement changed; `query` the rows it read,
/// with or without parameters.
#[tokio::test(flavor = "multi_thread")]
async fn statements_run_with_and_without_parameters() -> Result<()> {
    let server = MysqlServer::shared()?;
    let db = server.database()?;
    let grant = allow(&format!("mysql://{}", server.address()));
    let pools = MysqlPools::default();
    let conn = MysqlConnection::open(&server.url_for(&db), &grant, &pools).await?;
    conn.execute("CREATE TABLE t (v INT)", Vec::new()).await?;
    assert_eq!(
        conn.execute("INSERT INTO t VALUES (1), (2), (3)", Vec::new())
            .await?,
        3
    );
    assert_eq!(
        conn.execute("UPDATE t SET v = v + 10 WHERE v > ?", vec![1i64.into()])
            .await?,
        2
    );
    let (_, rows) = conn
        .query(
            "SELECT v FROM t WHERE v >= ? ORDER BY v",
            vec![11i64.into()],
        )
        .await?;
    assert_eq!(rows.len(), 2);
    let err = conn
        .query("SELECT v FROM t WHERE v = ? AND v = ?", vec![1i64.into()])
        .await
        .expect_err("a parameter is missing");
    assert_eq!(
        err,
        Error::BadParameter("the statement has 2 parameter(s) but 1 were given".into())
    );
    Ok(())
}

/// One pool per address: connections to the same database share it, another
/// database gets its own; a connection given back is handed out again.
#[tokio::test(flavor = "multi_thread")]
async fn connections_come_from_one_pool_per_address() -> Result<()> {
    let server = MysqlServer::shared()?;
    let (a, b) = (server.database()?, server.database()?);
    let grant = allow(&format!("mysql://{}", server.address()));
    let pools = MysqlPools::default();
    let id = |conn: MysqlConnection| async move {
        let (_, rows) = conn.query("SELECT CONNECTION_ID()", Vec::new()).await?;
        anyhow::Ok(format!("{:?}", rows[0]))
    };
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..5 {
        let conn = MysqlConnection::open(&server.url_for(&a), &grant, &pools).await?;
        ids.insert(id(conn).await?);
        // Let the reset of the connection given back finish.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(pools.len(), 1);
    assert!(ids.len() < 5, "no connection was reused: {ids:?}");
    MysqlConnection::open(&server.url_for(&b), &grant, &pools).await?;
    assert_eq!(pools.len(), 2);
    Ok(())
}
