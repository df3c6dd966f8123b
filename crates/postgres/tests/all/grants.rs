//! `allowed_outbound_hosts`: denials name the entry they need and happen
//! before any network traffic.

use std::net::TcpListener;
use std::time::Duration;

use anyhow::Result;
use skiff_outbound_networking::AllowedHosts;
use skiff_postgres::{Error, PgConnection};

use crate::client::allow;
use crate::pg_server::PgServer;

fn hosts(entries: &[&str]) -> AllowedHosts {
    AllowedHosts::parse(entries, &|_| None).expect("valid entries")
}

fn connection_failed(result: Result<PgConnection, Error>) -> String {
    match result {
        Err(Error::ConnectionFailed(message)) => message,
        Err(other) => panic!("expected connection-failed, got {other:?}"),
        Ok(_) => panic!("expected connection-failed, but it connected"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ungranted_host_is_refused_before_any_connection() -> Result<()> {
    // A listener that would see any connection attempt.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let url = format!("postgres://user:secret@127.0.0.1:{port}/db");
    for allowed in [
        hosts(&[]),
        hosts(&["postgres://127.0.0.1:1"]),
        hosts(&["postgres://localhost:*"]),
        hosts(&["mysql://127.0.0.1:*"]),
    ] {
        let message = connection_failed(PgConnection::connect(&url, &allowed).await);
        assert_eq!(
            message,
            format!(
                "`postgres://127.0.0.1:{port}` is not allowed: add \
                 `postgres://127.0.0.1:{port}` to `allowed_outbound_hosts`"
            )
        );
        assert!(!message.contains("secret"));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(listener.accept().is_err(), "no connection was attempted");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_port_needs_no_port_in_the_grant() -> Result<()> {
    let message =
        connection_failed(PgConnection::connect("postgres://db.invalid/app", &hosts(&[])).await);
    assert_eq!(
        message,
        "`postgres://db.invalid:5432` is not allowed: add `postgres://db.invalid` to \
         `allowed_outbound_hosts`"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_through_a_wildcard_is_refused() -> Result<()> {
    let server = PgServer::shared()?;
    let url = server.url("postgres");
    // `*` allows the name, but the SSRF guard wants loopback named.
    let message = connection_failed(PgConnection::connect(&url, &hosts(&["postgres://*:*"])).await);
    assert!(message.contains("127.0.0.1"), "{message}");
    assert!(message.contains("loopback"), "{message}");
    // Named explicitly, by address or by port range, it connects.
    PgConnection::connect(&url, &allow(server)).await?;
    let range = format!("postgres://127.0.0.1:1-{}", u16::MAX);
    PgConnection::connect(&url, &hosts(&[&range])).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_host_of_the_address_must_be_granted() -> Result<()> {
    let server = PgServer::shared()?;
    let address = format!(
        "host=127.0.0.1,10.9.9.9 port={},5432 user=postgres dbname=postgres",
        server.port()
    );
    let message = connection_failed(PgConnection::connect(&address, &allow(server)).await);
    assert!(
        message.contains("`postgres://10.9.9.9:5432` is not allowed"),
        "{message}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_sockets_and_bad_addresses_are_refused() -> Result<()> {
    let message = connection_failed(
        PgConnection::connect(
            "host=/var/run/postgresql user=postgres",
            &hosts(&["*://*:*"]),
        )
        .await,
    );
    assert!(message.contains("unix socket"), "{message}");
    let message = connection_failed(PgConnection::connect("postgres://[nope", &hosts(&[])).await);
    assert!(message.starts_with("invalid postgres address"), "{message}");
    let message = connection_failed(PgConnection::connect("user=postgres", &hosts(&[])).await);
    assert_eq!(message, "the postgres address names no host");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_is_refused_rather_than_downgraded() -> Result<()> {
    let server = PgServer::shared()?;
    let url = format!("{}?sslmode=require", server.url("postgres"));
    let message = connection_failed(PgConnection::connect(&url, &allow(server)).await);
    assert!(message.contains("TLS"), "{message}");
    Ok(())
}
