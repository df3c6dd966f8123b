//! Graceful shutdown: on SIGTERM/SIGINT `skiff up` stops accepting connections,
//! lets in-flight requests finish, and exits 0.

use std::time::Duration;

use anyhow::Result;
use test_programs_artifacts::HTTP_SLEEP_COMPONENT;

use crate::harness::{AppDir, Connection, Server, empty, tempdir, toml_path};

fn sleep_app() -> Result<AppDir> {
    AppDir::with_manifest(&format!(
        "[[trigger.http]]\nroute = \"/sleep\"\ncomponent = \"sleep\"\n[component.sleep]\nsource = {}\n",
        toml_path(HTTP_SLEEP_COMPONENT)
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_in_flight_requests_and_exits_0() -> Result<()> {
    let app = sleep_app()?;
    let cache = tempdir()?;
    let mut server = Server::start(app.path(), cache.path())?;

    // A request on this connection has been served, so the server has accepted it.
    let mut conn = Connection::open(server.addr()).await?;
    conn.send(http::Request::get("/sleep?ms=0").body(empty())?)
        .await?
        .assert_status(200);
    let in_flight = tokio::spawn(async move {
        conn.send(http::Request::get("/sleep?ms=2000").body(empty())?)
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal("TERM")?;

    tokio::task::block_in_place(|| {
        server
            .stderr()
            .wait_for("no longer accepting connections", Duration::from_secs(10))
    })?;
    // Still running (the request is in flight) but no longer accepting.
    assert!(
        tokio::task::block_in_place(|| server.wait_exit(Duration::ZERO)).is_err(),
        "the server exited before its in-flight request finished"
    );
    let refused = tokio::net::TcpStream::connect(server.addr()).await;
    assert!(
        refused.is_err(),
        "a new connection was accepted after shutdown began"
    );

    let resp = in_flight.await??;
    resp.assert_status(200);
    assert_eq!(resp.text(), "slept 2000");
    let status = tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(30)))?;
    assert_eq!(status.code(), Some(0), "{status}");
    Ok(())
}

#[test]
fn sigint_exits_0() -> Result<()> {
    let app = sleep_app()?;
    let cache = tempdir()?;
    let mut server = Server::start(app.path(), cache.path())?;
    server.signal("INT")?;
    let status = server.wait_exit(Duration::from_secs(30))?;
    assert_eq!(status.code(), Some(0), "{status}");
    Ok(())
}
