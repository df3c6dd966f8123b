//! MySQL through `skiff up` beyond the shared SQL suite (`sql.rs`, which runs
//! on MariaDB too): every column type as the interface reads it, over the
//! text protocol (no parameters) and the binary one (prepared statements)
//! alike; pooled connections reused across requests but reset between them;
//! errors; TLS; the server going down and coming back. All against a real
//! MariaDB server (`skiff_test_support::mysql_server`) and the `mysql_spin2`
//! guest, built on spin-sdk's `mysql` module.

/// The tests of the `mysql_spin2` guest (spin-sdk 5.2's `mysql`).
pub(crate) mod mysql_spin2 {
    use std::time::{Duration, Instant};

    use anyhow::{Result, ensure};
    use skiff_test_support::mysql_server::MysqlServer;

    use test_programs_artifacts::MYSQL_SPIN2_COMPONENT;

    use crate::harness::{AppDir, Server, full, post, shared_cache, toml_path};
    use crate::outbound_redis::enc;
    use crate::sql::{Backend, SqlApp};

    /// The backend for database `db` of `server`.
    fn backend(server: &MysqlServer, db: &str) -> Backend {
        Backend::Mysql {
            url: server.url_for(db),
            address: server.address(),
        }
    }

    /// `{"columns":…,"types":…,"rows":…}` of a query, or the guest's error text.
    async fn query(app: &SqlApp, backend: &Backend, params: &[&str], sql: &str) -> Result<String> {
        app.call(backend, "db", "query", params, sql).await
    }

    /// Every column type comes back as the documented interface type and value,
    /// the same whether the statement ran as plain text (no parameters) or
    /// prepared (a parameter): integers by width and sign, `BIT(1)` as a
    /// boolean, decimals exact as text, dates and times in MySQL's format with
    /// the column's fractional digits, binary strings as bytes, `NULL` as null.
    #[tokio::test(flavor = "multi_thread")]
    async fn column_types_read_alike_in_both_protocols() -> Result<()> {
        let server = MysqlServer::shared()?;
        let db = server.database()?;
        server.exec(&format!(
            "CREATE TABLE `{db}`.t (
                id INT PRIMARY KEY,
                ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED,
                mi MEDIUMINT, ii INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
                fl FLOAT, db DOUBLE, de DECIMAL(20,4),
                vc VARCHAR(20), ch CHAR(3), tx TEXT, en ENUM('a','b'), st SET('x','y'), js JSON,
                bl BLOB, vb VARBINARY(8), b1 BIT(1), b8 BIT(8),
                d DATE, tm TIME(3), dt DATETIME(6), ts TIMESTAMP NULL, yr YEAR, nn INT
            ) CHARACTER SET utf8mb4;
            INSERT INTO `{db}`.t VALUES (
                1, -128, 255, -32768, 65535, -8388608, -2147483648, 4294967295,
                -9223372036854775808, 18446744073709551615,
                1.5, -2.25, 12345678901234.5678,
                'héllo', 'abc', 'long text', 'b', 'x,y', '{{\"k\": [1, 2]}}',
                x'00ff10', x'cafe', b'1', b'10100101',
                '2024-02-29', '-838:59:59.125', '2024-02-29 13:45:00.250000', '2001-02-03 04:05:06', 2155, NULL
            );"
        ))?;
        let backend = backend(server, &db);
        let app = SqlApp::start(&backend)?;
        let columns = "ti, tu, si, su, mi, ii, iu, bi, bu, fl, db, de, vc, ch, tx, en, st, js, bl, vb, \
                       b1, b8, d, tm, dt, ts, yr, nn";
        let text = query(&app, &backend, &[], &format!("SELECT {columns} FROM t")).await?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("not rows ({e}): {text}"))?;
        assert_eq!(
            json["types"].to_string(),
            r#"["int8","uint8","int16","uint16","int32","int32","uint32","int64","uint64","floating32","floating64","str","str","str","str","str","str","str","binary","binary","boolean","binary","str","str","str","str","uint16","int32"]"#,
            "{text}"
        );
        assert_eq!(
            json["rows"].to_string(),
            r#"[[-128,255,-32768,65535,-8388608,-2147483648,4294967295,-9223372036854775808,18446744073709551615,1.5,-2.25,"12345678901234.5678","héllo","abc","long text","b","x,y","{\"k\": [1, 2]}",{"blob":"00ff10"},{"blob":"cafe"},true,{"blob":"a5"},"2024-02-29","-838:59:59.125","2024-02-29 13:45:00.250000","2001-02-03 04:05:06",2155,null]]"#,
            "{text}"
        );
        let prepared = query(
            &app,
            &backend,
            &["i32:1"],
            &format!("SELECT {columns} FROM t WHERE id = ?"),
        )
        .await?;
        assert_eq!(prepared, text, "prepared and plain statements differ");
        Ok(())
    }

    /// Connections are pooled per component: sequential requests are served by
    /// the server's same connection, yet each starts clean (the pool resets a
    /// connection it gets back): a user variable, a temporary table and an
    /// uncommitted transaction left by one request are gone in the next. Two
    /// connections open at once in one request are two.
    #[tokio::test(flavor = "multi_thread")]
    async fn pooled_connections_start_clean() -> Result<()> {
        let server = MysqlServer::shared()?;
        let db = server.database()?;
        server.exec(&format!("CREATE TABLE `{db}`.kept (v INT)"))?;
        let backend = backend(server, &db);
        let app = SqlApp::start(&backend)?;

        let mut ids = Vec::new();
        for round in 0..5 {
            app.script(
                &backend,
                &format!(
                    "SET @leak = {round};\nCREATE TEMPORARY TABLE scratch (v INT);\n\
                     START TRANSACTION;\nINSERT INTO kept VALUES ({round})"
                ),
            )
            .await?;
            let text = query(
                &app,
                &backend,
                &[],
                "SELECT CONNECTION_ID() AS id, @leak AS leak, (SELECT COUNT(*) FROM kept) AS kept",
            )
            .await?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("not rows ({e}): {text}"))?;
            let row = &json["rows"][0];
            ensure!(row[1].is_null(), "a user variable leaked: {text}");
            ensure!(row[2] == 0, "an uncommitted insert survived: {text}");
            ids.push(row[0].clone());
        }
        // A leaked temporary table would have failed the next round's script
        // (`scratch` already exists) on a reused connection. The reset runs as a
        // connection goes back, so a request that comes before it finishes gets
        // another connection; most are reused.
        let distinct: std::collections::BTreeSet<String> =
            ids.iter().map(|v| v.to_string()).collect();
        ensure!(
            distinct.len() < ids.len(),
            "no connection was reused across 5 requests: {ids:?}"
        );
        assert_eq!(
            server
                .exec(&format!("SELECT COUNT(*) FROM `{db}`.kept"))?
                .trim(),
            "0"
        );

        let text = app.call(&backend, "db", "reuse", &[], "").await?;
        assert_eq!(text, "different");
        Ok(())
    }

    /// Errors are the interface's values, say what went wrong and never show the
    /// password: a server error with MySQL's code and SQLSTATE, a wrong
    /// parameter count, a bad password, a unix socket in the address, a port
    /// nothing listens on.
    #[tokio::test(flavor = "multi_thread")]
    async fn errors_say_what_and_where() -> Result<()> {
        let server = MysqlServer::shared()?;
        let db = server.database()?;
        let backend = backend(server, &db);
        let app = SqlApp::start(&backend)?;

        let text = query(&app, &backend, &[], "SELECT * FROM nope").await?;
        assert_eq!(
            text,
            format!("error: query-failed: ERROR 1146 (42S02): Table '{db}.nope' doesn't exist")
        );
        let text = query(&app, &backend, &["i32:1", "i32:2"], "SELECT ?").await?;
        assert_eq!(
            text,
            "error: bad-parameter: the statement has 1 parameter(s) but 2 were given"
        );

        let address = server.address();
        let call = |url: String| {
            let backend = Backend::Mysql {
                url,
                address: address.clone(),
            };
            let app = &app;
            async move { app.call(&backend, "db", "query", &[], "SELECT 1").await }
        };
        let text = call(format!("mysql://skiff:wrong-secret@{address}/{db}")).await?;
        ensure!(
            text.starts_with(&format!(
                "error: connection-failed: could not connect to mysql at {address}: ERROR 1045 (28000): Access denied for user 'skiff'"
            )) && !text.contains("wrong-secret"),
            "{text}"
        );
        let text = call(format!(
            "mysql://skiff:skiff-pass@{address}/{db}?socket=/run/mysqld/mysqld.sock"
        ))
        .await?;
        assert_eq!(
            text,
            "error: connection-failed: mysql over the unix socket /run/mysqld/mysqld.sock is not \
             allowed: only TCP hosts granted by `allowed_outbound_hosts` are"
        );
        let text = call(format!("postgres://skiff:skiff-pass@{address}/{db}")).await?;
        ensure!(
            text.starts_with(
                "error: connection-failed: invalid mysql address (expected \
                 `mysql://USER:PASSWORD@HOST[:PORT]/DATABASE`)"
            ) && !text.contains("skiff-pass"),
            "{text}"
        );
        Ok(())
    }

    /// A request that runs out of time in the middle of a statement ends
    /// with `504`, and its statement does not run on in the server: it is
    /// cancelled (`KILL QUERY`), so a slow or runaway query costs its own
    /// request only. The app goes on serving. (`BENCHMARK`, because the
    /// server would end a `SLEEP` by itself once its client went away.)
    #[tokio::test(flavor = "multi_thread")]
    async fn a_timed_out_request_cancels_its_statement() -> Result<()> {
        let server = MysqlServer::shared()?;
        let db = server.database()?;
        let address = server.address();
        let dir = AppDir::with_manifest(&format!(
            "[[trigger.http]]\nroute = \"/db\"\ncomponent = \"db\"\n\
             [component.db]\nsource = {}\nallowed_outbound_hosts = [\"mysql://{address}\"]\n\
             [component.db.limits]\ntimeout = \"1s\"\n",
            toml_path(MYSQL_SPIN2_COMPONENT)
        ))?;
        let app = Server::start(dir.path(), shared_cache()?)?;
        let path = format!("/db?db={}&op=query", enc(&server.url_for(&db)));
        let response = post(
            &app.url(&path),
            full("SELECT BENCHMARK(5000000000, SHA2('x', 256))"),
        )
        .await?;
        assert_eq!(response.status, 504, "{}", response.text());

        // The guest's connections use database `db`; the root session
        // asking has none.
        let running = format!(
            "SELECT COUNT(*) FROM information_schema.processlist \
             WHERE db = '{db}' AND command = 'Query'"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.exec(&running)?.trim() != "0" {
            ensure!(
                Instant::now() < deadline,
                "the timed-out statement still runs: {}",
                server.exec("SHOW PROCESSLIST")?
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = app.post_ok(&path, "SELECT 2 AS two").await?;
        ensure!(text.contains(r#""rows":[[2]]"#), "{text}");
        Ok(())
    }

    /// MariaDB stopped under a serving app: the guest gets `connection-failed`
    /// naming the server, `skiff up` keeps serving, and once the server is back
    /// the same app's requests succeed (the pool's dead connections are not
    /// handed out).
    #[tokio::test(flavor = "multi_thread")]
    async fn mysql_down_and_back() -> Result<()> {
        let mut server = MysqlServer::start()?;
        let db = server.database()?;
        let backend = backend(&server, &db);
        let app = SqlApp::start(&backend)?;
        app.script(
            &backend,
            "CREATE TABLE kept (v INT);\nINSERT INTO kept VALUES (7)",
        )
        .await?;

        server.stop()?;
        for _ in 0..2 {
            let text = query(&app, &backend, &[], "SELECT v FROM kept").await?;
            ensure!(
                text.starts_with("error: connection-failed: ") && text.contains(&server.address()),
                "{text}"
            );
        }

        server.restart()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let rows = app.rows(&backend, &[], "SELECT v FROM kept").await;
            match rows {
                Ok(rows) if rows == r#"{"columns":["v"],"rows":[[7]]}"# => break,
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                other => anyhow::bail!("MariaDB came back but the app still fails: {other:?}"),
            }
        }
        Ok(())
    }

    /// `require_ssl=true` to a MariaDB that requires TLS: the session is
    /// encrypted (the server's `Ssl_cipher` says so) when the CA that signed its
    /// certificate is trusted through `SSL_CERT_FILE`; without that trust the
    /// guest gets `connection-failed` naming the certificate problem, never a
    /// plain-text connection; without `require_ssl` the server refuses.
    #[tokio::test(flavor = "multi_thread")]
    async fn mysql_over_tls() -> Result<()> {
        let server = MysqlServer::start_tls()?;
        let db = server.database()?;
        let ca = server.ca_file().expect("a TLS server").to_path_buf();
        let tls = Backend::Mysql {
            url: format!("{}?require_ssl=true", server.url_for(&db)),
            address: server.address(),
        };
        let plain = backend(&server, &db);
        let cipher = "SHOW SESSION STATUS LIKE 'Ssl_cipher'";

        let app = SqlApp::start_with(&tls, |cmd| {
            cmd.env("SSL_CERT_FILE", &ca);
        })?;
        let text = query(&app, &tls, &[], cipher).await?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("not rows ({e}): {text}"))?;
        let value = json["rows"][0][1].as_str().unwrap_or_default();
        ensure!(!value.is_empty(), "no TLS cipher: {text}");
        let text = query(&app, &plain, &[], "SELECT 1").await?;
        ensure!(text.starts_with("error: connection-failed: "), "{text}");

        let doubting = SqlApp::start_with(&tls, |cmd| {
            cmd.env_remove("SSL_CERT_FILE");
        })?;
        let text = query(&doubting, &tls, &[], cipher).await?;
        ensure!(
            text.starts_with("error: connection-failed: ") && text.contains("UnknownIssuer"),
            "{text}"
        );
        Ok(())
    }
}
