//! Spin apps' capabilities, each app served from a `spin.toml` with Spin's own
//! runtime config file (`--runtime-config-file`, `type = "spin"` stores,
//! `SPIN_VARIABLE_*`): key-value, SQLite and variables through guests written
//! with spin-sdk and with raw wit-bindgen bindings of `fermyon:spin@2.0.0`;
//! outbound HTTP, Redis and MQTT granted and denied (templates and CIDR
//! ranges in `allowed_outbound_hosts`); and the Redis trigger.
//!
//! (The per-backend suites in `kv`, `variables`, `outbound_redis` … run the
//! same guests from `skiff.toml`; the manifest loader is shared, so these
//! tests are about what a Spin app writes.)

use std::time::Duration;

use anyhow::{Result, ensure};
use test_programs_artifacts::{
    HTTP_OUTBOUND_COMPONENT, KV_SPIN2_COMPONENT, MQTT_SPIN2_COMPONENT, REDIS_SPIN2_COMPONENT,
    SPIN_RAW2_COMPONENT, SQL_PG2_COMPONENT, SQL_PG3_COMPONENT, SQL_SQLITE2_COMPONENT,
    SQL_SQLITE3_COMPONENT, TRIGGER_REDIS_COMPONENT,
};

use crate::harness::{AppDir, Server, full, get, post, shared_cache, toml_path};
use crate::mosquitto_server::MosquittoServer;
use crate::outbound_redis::enc;
use crate::pg_server::PgServer;
use crate::redis_server::{RedisServer, free_port};
use crate::trigger_redis::{wait_received, wait_subscribed};

/// A spin.toml with `[application]` named `name`, then `rest`.
fn spin_toml(name: &str, rest: &str) -> String {
    format!("spin_manifest_version = 2\n\n[application]\nname = \"{name}\"\n\n{rest}")
}

/// `[[trigger.http]]` at `/ID/...` for component `ID` running `source`, with
/// the component table's extra lines `extra`.
fn component(id: &str, source: &str, extra: &str) -> String {
    format!(
        "[[trigger.http]]\nroute = \"/{id}/...\"\ncomponent = \"{id}\"\n\n\
         [component.{id}]\nsource = {}\n{extra}\n",
        toml_path(source)
    )
}

/// `GET` or (with a body) `POST` `path`; must answer 200; returns the body.
async fn ask(server: &Server, path: &str, body: Option<&str>) -> Result<String> {
    let url = server.url(path);
    let resp = match body {
        None => get(&url).await?,
        Some(body) => post(&url, full(body.to_string())).await?,
    };
    ensure!(
        resp.status == 200,
        "{path}: {} {}",
        resp.status,
        resp.text()
    );
    Ok(resp.text())
}

/// Key-value, SQLite and variables in a Spin app: the raw `fermyon:spin@2.0.0`
/// guest and spin-sdk guests share the stores Spin's runtime config names
/// (files at the paths it gives), ungranted labels are `access-denied`, and
/// variables come from `SPIN_VARIABLE_*` through component templates.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn spin_raw2() -> Result<()> {
    let app = AppDir::new()?;
    let grants = "key_value_stores = [\"default\"]\nsqlite_databases = [\"default\"]\n";
    let manifest = spin_toml(
        "spin-caps",
        &format!(
            "[variables]\nwho = {{ required = true }}\ngreeting = {{ default = \"hello\" }}\n\n{}{}{}{}",
            component(
                "raw",
                SPIN_RAW2_COMPONENT,
                &format!(
                    "{grants}variables = {{ message = \"{{{{ greeting }}}}, {{{{ who }}}}\", literal = \"as written\" }}"
                )
            ),
            component("kv", KV_SPIN2_COMPONENT, grants),
            component("sql2", SQL_SQLITE2_COMPONENT, grants),
            component("sql3", SQL_SQLITE3_COMPONENT, grants),
        ),
    );
    app.write("spin.toml", manifest)?;
    let rc = app.write(
        "runtime-config.toml",
        "[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n\n\
         [sqlite_database.default]\ntype = \"spin\"\npath = \"data/sql.db\"\n\n\
         [[variables_provider]]\ntype = \"env\"\n",
    )?;
    let server = Server::start_with(app.path(), shared_cache()?, |cmd| {
        cmd.arg("--runtime-config-file")
            .arg(&rc)
            .env("SPIN_VARIABLE_WHO", "spin app");
    })?;

    // Key-value: the raw guest writes, the spin-sdk guest reads, and back.
    assert_eq!(
        ask(
            &server,
            "/raw/kv?store=default&key=k&value=from%20raw",
            None
        )
        .await?,
        "some:from raw"
    );
    assert_eq!(
        ask(&server, "/kv/?store=default&op=get&key=k", None).await?,
        "some:from raw"
    );
    assert_eq!(
        ask(&server, "/kv/?store=default&op=set&key=j", Some("from sdk")).await?,
        "ok"
    );
    assert_eq!(
        ask(&server, "/raw/kv?store=default&key=j", None).await?,
        "some:from sdk"
    );
    for store in ["other", "nowhere"] {
        assert_eq!(
            ask(
                &server,
                &format!("/raw/kv?store={store}&key=k&value=v"),
                None
            )
            .await?,
            "error: access-denied"
        );
        assert_eq!(
            ask(&server, &format!("/kv/?store={store}&op=get&key=k"), None).await?,
            "error: access-denied"
        );
    }
    ensure!(
        app.path().join("data/kv.db").is_file(),
        "the runtime config's key-value path was not used"
    );

    // SQLite: spin:sqlite@3 creates, fermyon:spin@2 inserts, both read.
    let script = "CREATE TABLE todo (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n\
                  INSERT INTO todo (title) VALUES ('first');\nSELECT count(*) AS n FROM todo";
    assert_eq!(
        ask(&server, "/sql3/?db=default&op=script", Some(script)).await?,
        r#"{"columns":["n"],"rows":[[1]]}"#
    );
    assert_eq!(
        ask(
            &server,
            "/sql2/?db=default&p=text:second",
            Some("INSERT INTO todo (title) VALUES (?)")
        )
        .await?,
        r#"{"columns":[],"rows":[]}"#
    );
    assert_eq!(
        ask(
            &server,
            "/sql3/?db=default",
            Some("SELECT title FROM todo ORDER BY id")
        )
        .await?,
        r#"{"columns":["title"],"rows":[["first"],["second"]]}"#
    );
    assert_eq!(
        ask(&server, "/raw/sqlite?db=default&n=41", None).await?,
        "next=42"
    );
    for path in [
        "/raw/sqlite?db=other&n=1",
        "/sql2/?db=other&op=script",
        "/sql3/?db=nowhere&op=script",
    ] {
        let body = path.contains("op=").then_some("SELECT 1");
        assert_eq!(
            ask(&server, path, body).await?,
            "error: access-denied",
            "{path}"
        );
    }
    ensure!(
        app.path().join("data/sql.db").is_file(),
        "the runtime config's sqlite path was not used"
    );

    // Variables: templates over SPIN_VARIABLE_* and defaults.
    assert_eq!(
        ask(&server, "/raw/var?name=message", None).await?,
        "hello, spin app"
    );
    assert_eq!(
        ask(&server, "/raw/var?name=literal", None).await?,
        "as written"
    );
    let undeclared = ask(&server, "/raw/var?name=who", None).await?;
    ensure!(undeclared.starts_with("error: undefined"), "{undeclared}");
    let invalid = ask(&server, "/raw/var?name=Not-Valid", None).await?;
    ensure!(invalid.starts_with("error: invalid-name"), "{invalid}");
    Ok(())
}

/// Outbound HTTP, Redis, MQTT and PostgreSQL from a Spin app: each granted by
/// its scheme (Redis through a `{{ variable }}` template and a CIDR range) and
/// refused, with the interface's own error, on a host, port or scheme not granted.
#[tokio::test(flavor = "multi_thread")]
async fn spin_outbound_grants() -> Result<()> {
    let redis = RedisServer::start()?;
    let broker = MosquittoServer::start()?;
    let pg = PgServer::shared()?;
    let pg_url = pg.database().await?;
    let pg_address = pg.address();
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let up_port = upstream.local_addr()?.port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nupstream")
                    .await;
            });
        }
    });
    let redis_port = redis
        .address()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let closed = free_port()?;
    let allowed = |hosts: &[String]| {
        let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
        format!("allowed_outbound_hosts = [{}]", hosts.join(", "))
    };
    let manifest = spin_toml(
        "spin-outbound",
        &format!(
            "[variables]\nredis_host = {{ default = \"127.0.0.1\" }}\n\n{}",
            [
                component(
                    "http-ok",
                    HTTP_OUTBOUND_COMPONENT,
                    &allowed(&[format!("http://127.0.0.1:{up_port}")]),
                ),
                component(
                    "http-no",
                    HTTP_OUTBOUND_COMPONENT,
                    &allowed(&[format!("https://127.0.0.1:{up_port}")]),
                ),
                component(
                    "redis-tpl",
                    REDIS_SPIN2_COMPONENT,
                    &allowed(&[format!("redis://{{{{ redis_host }}}}:{redis_port}")]),
                ),
                component(
                    "redis-cidr",
                    REDIS_SPIN2_COMPONENT,
                    &allowed(&[format!("*://127.0.0.0/24:{redis_port}")]),
                ),
                component(
                    "redis-no",
                    REDIS_SPIN2_COMPONENT,
                    &allowed(&[format!("redis://127.0.0.1:{closed}")]),
                ),
                component("mqtt-ok", MQTT_SPIN2_COMPONENT, &allowed(&[broker.url()])),
                component(
                    "mqtt-no",
                    MQTT_SPIN2_COMPONENT,
                    &allowed(&["mqtt://10.1.2.3:1883".to_string()]),
                ),
                component(
                    "pg2",
                    SQL_PG2_COMPONENT,
                    &allowed(&[format!("postgres://{pg_address}")]),
                ),
                component(
                    "pg3",
                    SQL_PG3_COMPONENT,
                    &allowed(&[format!("postgres://{pg_address}")]),
                ),
                component(
                    "pg-no",
                    SQL_PG2_COMPONENT,
                    &allowed(&["postgres://127.0.0.1:1".to_string()]),
                ),
            ]
            .concat()
        ),
    );
    let app = AppDir::new()?;
    app.write("spin.toml", manifest)?;
    let server = Server::start(app.path(), shared_cache()?)?;

    let fetch = format!("?url=http://127.0.0.1:{up_port}/x");
    assert_eq!(
        ask(&server, &format!("/http-ok/{fetch}"), None).await?,
        "status: 200\nupstream"
    );
    let denied = ask(&server, &format!("/http-no/{fetch}"), None).await?;
    assert_eq!(denied, "error: ErrorCode::HttpRequestDenied\n");

    let redis_url = redis.url();
    let redis_op = |component: &str, op: &str| {
        format!("/{component}/?address={}&op={op}&key=k", enc(&redis_url))
    };
    assert_eq!(
        ask(&server, &redis_op("redis-tpl", "set"), Some("by template")).await?,
        "ok"
    );
    assert_eq!(redis.cli(&["GET", "k"])?, "by template");
    assert_eq!(
        ask(&server, &redis_op("redis-cidr", "get"), Some("")).await?,
        "some:by template"
    );
    assert_eq!(
        ask(&server, &redis_op("redis-no", "set"), Some("nope")).await?,
        "error: invalid-address"
    );
    server.stderr().wait_for(
        &format!("component `redis-no` could not open redis: `{redis_url}` is not allowed"),
        Duration::from_secs(10),
    )?;
    assert_eq!(redis.cli(&["GET", "k"])?, "by template");

    let subscriber = broker.subscribe("skiff/spin", None)?;
    let mqtt = |component: &str| {
        format!(
            "/{component}/?address={}&topic=skiff%2Fspin&qos=1",
            enc(&broker.url())
        )
    };
    let refused = ask(&server, &mqtt("mqtt-no"), Some("denied")).await?;
    ensure!(
        refused.starts_with("error: connection-failed:")
            && refused.contains("allowed_outbound_hosts"),
        "{refused}"
    );
    assert_eq!(ask(&server, &mqtt("mqtt-ok"), Some("granted")).await?, "ok");
    assert_eq!(subscriber.next_message()?, (1, "granted".to_string()));

    // PostgreSQL: fermyon:spin/postgres@2 writes, spin:postgres@3 reads.
    let pg = |component: &str, op: &str, params: &str| {
        format!("/{component}/?db={}&op={op}{params}", enc(&pg_url))
    };
    assert_eq!(
        ask(
            &server,
            &pg("pg2", "script", ""),
            Some("CREATE TABLE notes (body text);\nINSERT INTO notes VALUES ('from spin2')")
        )
        .await?,
        "ok"
    );
    assert_eq!(
        ask(
            &server,
            &pg("pg3", "query", "&p=text:from%20spin2"),
            Some("SELECT body FROM notes WHERE body = $1")
        )
        .await?,
        r#"{"columns":["body"],"types":["str"],"rows":[["from spin2"]]}"#
    );
    let refused = ask(&server, &pg("pg-no", "query", ""), Some("SELECT 1")).await?;
    assert_eq!(
        refused,
        format!(
            "error: connection-failed: `postgres://{pg_address}` is not allowed: add \
             `postgres://{pg_address}` to `allowed_outbound_hosts`"
        )
    );
    Ok(())
}

/// Spin's Redis trigger from a spin.toml: `[application.trigger.redis]`
/// gives the default address, `[[trigger.redis]]` the channel, and the
/// handler writes each message back through its outbound Redis grant.
#[tokio::test(flavor = "multi_thread")]
async fn spin_redis_trigger() -> Result<()> {
    let redis = RedisServer::start()?;
    let url = redis.url();
    let manifest = spin_toml(
        "spin-trigger",
        &format!(
            "[application.trigger.redis]\naddress = \"{url}\"\n\n\
             [[trigger.redis]]\nchannel = \"spin-messages\"\ncomponent = \"handler\"\n\n\
             [component.handler]\nsource = {}\n\
             environment = {{ REDIS_ADDRESS = \"{url}\" }}\n\
             allowed_outbound_hosts = [\"{url}\"]\n",
            toml_path(TRIGGER_REDIS_COMPONENT)
        ),
    );
    let app = AppDir::new()?;
    app.write("spin.toml", manifest)?;
    let _server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    wait_subscribed(&redis, "spin-messages", 1)?;
    for message in ["alpha", "beta"] {
        redis.cli(&["PUBLISH", "spin-messages", message])?;
    }
    assert_eq!(wait_received(&redis, 2)?, ["alpha", "beta"]);
    Ok(())
}
