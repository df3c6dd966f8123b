//! What only some `sql_pg*` guests can do: each generation's own types, the
//! structured errors of `@4`, connection reuse, denial, and a server going
//! away and coming back while the host keeps running.

use anyhow::Result;
use skiff_outbound_networking::AllowedHosts;

use crate::client::allow;
use crate::host::{App, url};
use crate::pg_server::PgServer;
use crate::suite::{PG2, PG3, PG4, PG42};
use skiff_test_support::guest::enc;

/// Fails to compile when a `sql_*` guest does not run the shared suite.
macro_rules! assert_test_exists {
    ($name:ident) => {
        #[expect(unused_imports, reason = "only checks that the test exists")]
        use crate::suite::create_insert_select::$name as _;
    };
}
test_programs_artifacts::foreach_sql!(assert_test_exists);

/// An app allowed to reach the shared server, and a fresh database on it.
async fn app() -> Result<(App, String)> {
    let server = PgServer::shared()?;
    Ok((App::new(allow(server))?, server.database().await?))
}

#[tokio::test(flavor = "multi_thread")]
async fn pg2_unsigned_parameters_and_newer_types() -> Result<()> {
    let (app, db) = app().await?;
    let run = |op: &'static str, sql: &'static str, params: &'static [&'static str]| {
        let (app, db) = (&app, &db);
        async move { app.ok(PG2, &url(db, op, params), sql).await }
    };
    assert_eq!(
        run(
            "execute",
            "CREATE TABLE u (a smallint, b integer, c bigint, d date)",
            &[]
        )
        .await?,
        r#"{"affected":0}"#
    );
    assert_eq!(
        run(
            "execute",
            "INSERT INTO u VALUES ($1, $2, $3, '2024-02-29')",
            &["u8:255", "u16:65535", "u32:4294967295"],
        )
        .await?,
        r#"{"affected":1}"#
    );
    assert_eq!(
        run("query", "SELECT * FROM u", &[]).await?,
        r#"{"columns":["a","b","c","d"],"types":["int16","int32","int64","other"],"rows":[[255,65535,4294967295,{"unsupported":null}]]}"#
    );
    assert_eq!(
        run(
            "execute",
            "INSERT INTO u (c) VALUES ($1)",
            &["u64:18446744073709551615"]
        )
        .await?,
        "error: bad-parameter: parameter $1: 18446744073709551615 is out of range for type int8"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn pg3_dates_and_times() -> Result<()> {
    let (app, db) = app().await?;
    let run = |op: &'static str, sql: &'static str, params: &'static [&'static str]| {
        let (app, db) = (&app, &db);
        async move { app.ok(PG3, &url(db, op, params), sql).await }
    };
    run(
        "execute",
        "CREATE TABLE d (a date, b time, c timestamp, e timestamptz, f bigint, g uuid)",
        &[],
    )
    .await?;
    let inserted = run(
        "execute",
        "INSERT INTO d VALUES ($1, $2, $3, $4, $5, gen_random_uuid())",
        &[
            "date:2024-02-29",
            "time:23:59:58.123456000",
            "datetime:1999-12-31T23:59:59",
            "timestamp:1700000000",
            "timestamp:-1",
        ],
    )
    .await?;
    assert_eq!(inserted, r#"{"affected":1}"#);
    assert_eq!(
        run("query", "SELECT * FROM d", &[]).await?,
        concat!(
            r#"{"columns":["a","b","c","e","f","g"],"#,
            r#""types":["date","time","datetime","datetime","int64","other"],"#,
            r#""rows":[[{"date":"2024-02-29"},{"time":"23:59:58.123456000"},"#,
            r#"{"datetime":"1999-12-31T23:59:59"},{"datetime":"2023-11-14T22:13:20"},-1,{"unsupported":null}]]}"#
        )
    );
    assert_eq!(
        run("query", "SELECT $1::date", &["date:2023-02-30"]).await?,
        "error: bad-parameter: 2023-02-30 is not a valid date"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn pg4_every_type() -> Result<()> {
    every_type(PG4).await
}

/// The same through the `async func`s of `@4.2.0`, rows streamed.
#[tokio::test(flavor = "multi_thread")]
async fn pg42_every_type() -> Result<()> {
    every_type(PG42).await
}

/// Every type of `@4.x`, in and out of a table through `guest`.
async fn every_type(guest: &'static str) -> Result<()> {
    let (app, db) = app().await?;
    let columns = [
        ("boolean", "bool:true", "true"),
        ("smallint", "i16:-32768", "-32768"),
        ("integer", "i32:2147483647", "2147483647"),
        ("bigint", "i64:-1", "-1"),
        ("real", "f32:1.5", "1.5"),
        ("double precision", "f64:NaN", r#""NaN""#),
        ("text", "text:🦀", r#""🦀""#),
        ("bytea", "blob:c0ffee", r#"{"blob":"c0ffee"}"#),
        ("date", "date:0001-01-01", r#"{"date":"0001-01-01"}"#),
        (
            "time",
            "time:00:00:00.000001000",
            r#"{"time":"00:00:00.000001000"}"#,
        ),
        (
            "timestamp",
            "datetime:2262-04-11T23:47:16",
            r#"{"datetime":"2262-04-11T23:47:16"}"#,
        ),
        (
            "uuid",
            "uuid:00000000-0000-0000-0000-00000000002a",
            r#"{"uuid":"00000000-0000-0000-0000-00000000002a"}"#,
        ),
        (
            "jsonb",
            r#"jsonb:{"b":[1,2],"a":null}"#,
            r#"{"jsonb":"{\"a\": null, \"b\": [1, 2]}"}"#,
        ),
        (
            "json",
            r#"jsonb:{"b":1,  "a":2}"#,
            r#"{"jsonb":"{\"b\":1,  \"a\":2}"}"#,
        ),
        (
            "numeric",
            "decimal:-0.000000000000000000001",
            r#"{"decimal":"-0.000000000000000000001"}"#,
        ),
        ("int4range", "int4range:[1,5]", r#"{"int4range":"[1,6)"}"#),
        ("int8range", "int8range:(,0)", r#"{"int8range":"(,0)"}"#),
        (
            "numrange",
            "numrange:(1.50,2.5]",
            r#"{"numrange":"(1.50,2.5]"}"#,
        ),
        ("integer[]", "int4[]:1,~,-1", r#"{"int4[]":[1,null,-1]}"#),
        ("bigint[]", "int8[]:", r#"{"int8[]":[]}"#),
        (
            "numeric[]",
            "numeric[]:1.10,~",
            r#"{"numeric[]":["1.10",null]}"#,
        ),
        (
            "text[]",
            "text[]:a%2Cb,~,%7E",
            r#"{"text[]":["a,b",null,"~"]}"#,
        ),
        (
            "interval",
            "interval:1000000,-2,13",
            r#"{"interval":[1000000,-2,13]}"#,
        ),
    ];
    let create = columns
        .iter()
        .enumerate()
        .map(|(i, (ty, _, _))| format!("c{i} {ty}"))
        .collect::<Vec<_>>()
        .join(", ");
    let placeholders = (1..=columns.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let params: Vec<&str> = columns.iter().map(|(_, p, _)| *p).collect();
    let ok = |op: &str, sql: &str, params: &[&str]| {
        let (app, url, sql) = (&app, url(&db, op, params), sql.to_string());
        async move { app.ok(guest, &url, &sql).await }
    };
    assert_eq!(
        ok("execute", &format!("CREATE TABLE a ({create})"), &[]).await?,
        r#"{"affected":0}"#
    );
    assert_eq!(
        ok(
            "execute",
            &format!("INSERT INTO a VALUES ({placeholders})"),
            &params
        )
        .await?,
        r#"{"affected":1}"#
    );
    let got = ok("query", "SELECT * FROM a", &[]).await?;
    let want_cells = columns
        .iter()
        .map(|(_, _, v)| *v)
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        got.ends_with(&format!(r#""rows":[[{want_cells}]]}}"#)),
        "{got}"
    );
    assert!(
        got.contains(concat!(
            r#""types":["boolean","int16","int32","int64","floating32","floating64","str","binary","date","time","#,
            r#""datetime","uuid","jsonb","jsonb","decimal","range-int32","range-int64","range-decimal","#,
            r#""array-int32","array-int64","array-decimal","array-str","interval"]"#
        )),
        "{got}"
    );
    // A type no interface has: its name and its bytes.
    assert_eq!(
        ok("query", "SELECT '1.2.3.4'::inet AS i", &[]).await?,
        r#"{"columns":["i"],"types":["other(inet)"],"rows":[[{"unsupported":"02200004 01020304"}]]}"#
            .replace(' ', "")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn pg4_structured_errors_and_reuse() -> Result<()> {
    let (app, db) = app().await?;
    let ok = |op: &str, sql: &'static str| {
        let (app, url) = (&app, url(&db, op, &[]));
        async move { app.ok(PG4, &url, sql).await }
    };
    ok("execute", "CREATE TABLE k (id int PRIMARY KEY)").await?;
    ok("execute", "INSERT INTO k VALUES (1)").await?;
    assert_eq!(
        ok("execute", "INSERT INTO k VALUES (1)").await?,
        r#"error: query-failed: db-error: 23505: duplicate key value violates unique constraint "k_pkey""#
    );
    assert_eq!(
        ok("query", "SELECT 1/0").await?,
        "error: query-failed: db-error: 22012: division by zero"
    );
    // Older generations get the text.
    assert_eq!(
        app.ok(PG3, &url(&db, "query", &[]), "SELECT 1/0").await?,
        "error: query-failed: ERROR: division by zero"
    );
    assert_eq!(
        app.ok(PG42, &url(&db, "query", &[]), "SELECT 1/0").await?,
        "error: query-failed: db-error: 22012: division by zero"
    );
    // Opening the same address twice in one instance reuses the connection.
    for guest in [PG2, PG3, PG4, PG42] {
        assert_eq!(app.ok(guest, &url(&db, "reuse", &[]), "").await?, "same");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_hosts_are_connection_failed_naming_the_grant() -> Result<()> {
    let server = PgServer::shared()?;
    let db = server.database().await?;
    let app = App::new(AllowedHosts::default())?;
    let want = format!(
        "error: connection-failed: `postgres://127.0.0.1:{port}` is not allowed: add \
         `postgres://127.0.0.1:{port}` to `allowed_outbound_hosts`",
        port = server.port()
    );
    for guest in [PG2, PG3, PG4] {
        assert_eq!(
            app.ok(guest, &url(&db, "query", &[]), "SELECT 1").await?,
            want
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_down_is_an_error_and_its_return_needs_no_restart() -> Result<()> {
    let mut server = PgServer::start()?;
    let app = App::new(allow(&server))?;
    let db = server.url("postgres");
    let query = |guest| {
        let (app, url) = (&app, url(&db, "query", &[]));
        async move { app.ok(guest, &url, "SELECT 1 AS one").await }
    };
    for guest in [PG2, PG3, PG4, PG42] {
        assert!(query(guest).await?.ends_with(r#""rows":[[1]]}"#));
    }
    server.stop()?;
    for guest in [PG2, PG3, PG4, PG42] {
        let err = query(guest).await?;
        let want = format!(
            "error: connection-failed: could not connect to postgres at {}: ",
            server.address()
        );
        assert!(err.starts_with(&want), "{err}");
    }
    server.restart()?;
    for guest in [PG2, PG3, PG4, PG42] {
        assert!(query(guest).await?.ends_with(r#""rows":[[1]]}"#));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn pg42_connection_builder() -> Result<()> {
    let (app, db) = app().await?;
    let with = |extra: &str| format!("{}&open=builder{extra}", url(&db, "query", &[]));
    assert!(
        app.ok(PG42, &with(""), "SELECT 1 AS one")
            .await?
            .ends_with(r#""rows":[[1]]}"#)
    );
    let reuse = format!("{}&open=builder", url(&db, "reuse", &[]));
    assert_eq!(app.ok(PG42, &reuse, "").await?, "same");
    // A CA root that is no certificate is refused, not ignored.
    let text = app
        .ok(PG42, &with("&ca=-----BEGIN%20CERTIFICATE-----"), "SELECT 1")
        .await?;
    assert!(
        text.starts_with("error: connection-failed: TLS to postgres: the CA root "),
        "{text}"
    );
    // A CA root means TLS: this server has none, and the builder does not
    // fall back to plain text.
    let ca = std::fs::read_to_string(PgServer::start_tls()?.ca_file().expect("a TLS server"))?;
    let text = app
        .ok(PG42, &with(&format!("&ca={}", enc(&ca))), "SELECT 1")
        .await?;
    assert!(
        text.starts_with("error: connection-failed: could not connect to postgres at ")
            && text.contains("TLS"),
        "{text}"
    );
    Ok(())
}

/// A connection builder given the CA root that signed a TLS server's
/// certificate connects over TLS (the server's `pg_stat_ssl` says so),
/// verifying the certificate for `127.0.0.1`; plain opens of the same address
/// stay plain and do not reuse it.
#[tokio::test(flavor = "multi_thread")]
async fn pg42_connection_builder_over_tls() -> Result<()> {
    let server = PgServer::start_tls()?;
    let app = App::new(allow(&server))?;
    let ca = std::fs::read_to_string(server.ca_file().expect("a TLS server"))?;
    let db = server.url("postgres");
    let ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let tls = format!("{}&open=builder&ca={}", url(&db, "query", &[]), enc(&ca));
    assert!(
        app.ok(PG42, &tls, ssl)
            .await?
            .ends_with(r#""rows":[[true]]}"#),
        "over TLS"
    );
    assert!(
        app.ok(PG42, &url(&db, "query", &[]), ssl)
            .await?
            .ends_with(r#""rows":[[false]]}"#),
        "plain"
    );
    Ok(())
}
