//! A server that goes away: the guest-visible error names it, and the next
//! connection after it returns works, with no restart of anything else.

use anyhow::Result;
use skiff_postgres::{Error, PgConnection, Value};

use crate::client::allow;
use crate::pg_server::PgServer;

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_goes_down_and_comes_back() -> Result<()> {
    let mut server = PgServer::start()?;
    let allowed = allow(&server);
    let url = server.url("postgres");
    let conn = PgConnection::connect(&url, &allowed).await?;
    conn.execute("CREATE TABLE kept (v int)", &[]).await?;
    conn.execute("INSERT INTO kept VALUES (1)", &[]).await?;

    server.stop()?;
    let err = conn.query("SELECT 1", &[]).await.unwrap_err();
    let Error::ConnectionFailed(message) = &err else {
        panic!("expected connection-failed, got {err:?}")
    };
    assert!(message.contains(&server.address()), "{message}");
    assert!(conn.is_closed());
    let err = PgConnection::connect(&url, &allowed).await.err().unwrap();
    let Error::ConnectionFailed(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.starts_with(&format!(
            "could not connect to postgres at {}: ",
            server.address()
        )),
        "{message}"
    );

    server.restart()?;
    let conn = PgConnection::connect(&url, &allowed).await?;
    let set = conn.query("SELECT v FROM kept", &[]).await?;
    assert_eq!(set.rows, [vec![Value::Int32(1)]]);
    Ok(())
}
