//! The resolver: runtime config, defaults, persistence, isolation, live swap.

use std::sync::Arc;

use anyhow::Result;
use skiff_kv::memory::MemoryStore;
use skiff_kv::{
    Backend, ConfigError, DefaultBackend, Error, KeyValueConfig, KeyValueManager, Store,
};

use skiff_test_support::nats_server::NatsServer;
use skiff_test_support::redis_server::RedisServer;

fn config(text: &str) -> Result<KeyValueConfig, ConfigError> {
    let table: toml::Table = toml::from_str(text).expect("test TOML parses");
    KeyValueConfig::from_toml(&table)
}

fn invalid_key(text: &str) -> String {
    match config(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected an invalid-key error, got {other:?}"),
    }
}

#[test]
fn config_sections_in_spin_shape() -> Result<()> {
    let parsed = config(
        r#"
        [default]
        type = "spin"
        path = "data/kv.db"
        [cache]
        type = "redis"
        url = "redis://127.0.0.1:6379"
        [scratch]
        type = "memory"
        max_value_bytes = 10
        "#,
    )?;
    assert_eq!(
        parsed.stores["default"].backend,
        Backend::Embedded {
            path: Some("data/kv.db".into())
        }
    );
    assert_eq!(
        parsed.stores["cache"].backend,
        Backend::Redis {
            url: "redis://127.0.0.1:6379".into(),
            prefix: None
        }
    );
    assert_eq!(parsed.stores["scratch"].max_value_bytes, Some(10));
    Ok(())
}

#[test]
fn nats_sections_take_the_connection_keys() -> Result<()> {
    let parsed = config(
        r#"
        [shared]
        type = "nats"
        url = ["nats://a:4222", "b:4222"]
        bucket = "shop_cart-1"
        jetstream_domain = "hub"
        user = "app"
        password = "pw"
        ca_roots_file = "certs/ca.pem"
        connect_timeout = "2s"
        max_value_bytes = 1000
        "#,
    )?;
    let Backend::Nats {
        config,
        bucket,
        jetstream_domain,
    } = &parsed.stores["shared"].backend
    else {
        panic!("{:?}", parsed.stores["shared"]);
    };
    assert_eq!(config.urls, ["nats://a:4222", "b:4222"]);
    assert_eq!(config.user.as_deref(), Some("app"));
    // Relative until the manager resolves it against its base directory.
    assert_eq!(
        config.ca_roots_file.as_deref(),
        Some(std::path::Path::new("certs/ca.pem"))
    );
    assert_eq!(config.connect_timeout, std::time::Duration::from_secs(2));
    assert_eq!(bucket.as_deref(), Some("shop_cart-1"));
    assert_eq!(jetstream_domain.as_deref(), Some("hub"));
    assert_eq!(parsed.stores["shared"].max_value_bytes, Some(1000));
    Ok(())
}

#[test]
fn config_errors_name_the_key() {
    assert_eq!(
        invalid_key("[cache]\nurl = 'redis://x'"),
        "key_value_store.cache.type"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'dynamo'"),
        "key_value_store.cache.type"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'redis'"),
        "key_value_store.cache.url"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'redis'\nurl = 'http://x'"),
        "key_value_store.cache.url"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'redis'\nurl = 6379"),
        "key_value_store.cache.url"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'memory'\npath = 'x'"),
        "key_value_store.cache.path"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'memory'\nmax_key_bytes = -1"),
        "key_value_store.cache.max_key_bytes"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'nats'"),
        "key_value_store.cache.url"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'nats'\nurl = 'redis://x:1'"),
        "key_value_store.cache.url"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'nats'\nurl = 'h:1'\nbucket = 'a.b'"),
        "key_value_store.cache.bucket"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'nats'\nurl = 'h:1'\nprefix = 'x'"),
        "key_value_store.cache.prefix"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'nats'\nurl = 'h:1'\nuser = 'u'"),
        "key_value_store.cache.password"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'nats'\nurl = 'h:1'\ntoken = 't'\nnkey_seed = 's'"),
        "key_value_store.cache"
    );
    assert_eq!(
        invalid_key("[cache]\ntype = 'redis'\nurl = 'redis://x'\nbucket = 'b'"),
        "key_value_store.cache.bucket"
    );
    assert_eq!(invalid_key("cache = 1"), "key_value_store.cache");
    let err = config("[cache]\ntype = 'dynamo'").unwrap_err().to_string();
    assert!(err.contains("`key_value_store.cache.type`"), "{err}");
    assert!(err.contains("\"dynamo\""), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_redis_is_rejected_naming_label_and_server() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let parsed = config(&format!(
        "[cache]\ntype = 'redis'\nurl = 'redis://127.0.0.1:{port}'"
    ))?;
    let err = KeyValueManager::builder("app")
        .build_with(&parsed)
        .await
        .err()
        .expect("no Redis listens there");
    // The message names the label and key; its cause names the backend.
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    let text = format!("{err}: {}", cause.unwrap_or_default());
    assert!(
        text.contains("`cache`") && text.contains("`key_value_store.cache`"),
        "{text}"
    );
    assert!(
        text.contains(&format!("redis at 127.0.0.1:{port}")),
        "{text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unconfigured_labels_use_the_default() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let manager = KeyValueManager::builder("app")
        .state_dir(dir.path())
        .build();
    manager.open("default").await?.set("k", b"v").await?;
    assert!(dir.path().join("kv/default.db").is_file());
    manager.open("other").await?;
    assert!(dir.path().join("kv/other.db").is_file());
    assert!(matches!(
        manager.open("../escape").await.err(),
        Some(Error::NoSuchStore { label }) if label == "../escape"
    ));

    let none = KeyValueManager::builder("app").build();
    assert!(matches!(
        none.open("default").await.err(),
        Some(Error::NoSuchStore { .. })
    ));
    let memory = KeyValueManager::builder("app")
        .default_backend(DefaultBackend::Memory)
        .build();
    memory.open("default").await?.set("k", b"v").await?;
    assert_eq!(
        memory.open("default").await?.get("k").await?,
        Some(b"v".to_vec())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_store_persists_across_managers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let write = KeyValueManager::builder("app")
        .state_dir(dir.path())
        .build();
    let store = write.open("default").await?;
    store.set("greeting", b"hello").await?;
    store.increment("visits", 3).await?;
    drop((store, write));

    let read = KeyValueManager::builder("app")
        .state_dir(dir.path())
        .build();
    let store = read.open("default").await?;
    assert_eq!(store.get("greeting").await?, Some(b"hello".to_vec()));
    assert_eq!(store.increment("visits", 1).await?, 4);

    // The same file through a `type = "spin"` section with a relative path.
    let spin = KeyValueManager::builder("app")
        .base_dir(dir.path())
        .build_with(&config("[x]\ntype = 'spin'\npath = 'kv/x.db'")?)
        .await?;
    spin.open("x").await?.set("k", b"1").await?;
    let again = KeyValueManager::builder("app")
        .state_dir(dir.path())
        .build();
    assert_eq!(again.open("x").await?.get("k").await?, Some(b"1".to_vec()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_sharing_a_redis_do_not_see_each_others_keys() -> Result<()> {
    let redis = RedisServer::start()?;
    let section = config(&format!(
        "[default]\ntype = 'redis'\nurl = '{}'",
        redis.url()
    ))?;
    let app_a = KeyValueManager::builder("app-a")
        .build_with(&section)
        .await?;
    let app_b = KeyValueManager::builder("app-b")
        .build_with(&section)
        .await?;
    let (a, b) = (app_a.open("default").await?, app_b.open("default").await?);
    a.set("shared-name", b"from a").await?;
    a.increment("n", 1).await?;
    assert_eq!(b.get("shared-name").await?, None);
    assert_eq!(skiff_kv::all_keys(&*b).await?, Vec::<String>::new());
    b.set("shared-name", b"from b").await?;
    assert_eq!(a.get("shared-name").await?, Some(b"from a".to_vec()));
    assert_eq!(skiff_kv::all_keys(&*a).await?, vec!["n", "shared-name"]);

    // An explicit prefix puts a store wherever the operator says.
    let explicit = config(&format!(
        "[default]\ntype = 'redis'\nurl = '{}'\nprefix = 'skiff:app-a:default:'",
        redis.url()
    ))?;
    let alias = KeyValueManager::builder("other")
        .build_with(&explicit)
        .await?;
    assert_eq!(
        alias.open("default").await?.get("shared-name").await?,
        Some(b"from a".to_vec())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_with_their_own_state_dirs_are_isolated() -> Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let app_a = KeyValueManager::builder("app")
        .state_dir(dir_a.path())
        .build();
    let app_b = KeyValueManager::builder("app")
        .state_dir(dir_b.path())
        .build();
    app_a.open("default").await?.set("k", b"a").await?;
    assert_eq!(app_b.open("default").await?.get("k").await?, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_is_a_backend_error_and_recovers_without_restart() -> Result<()> {
    let mut redis = RedisServer::start()?;
    let manager = KeyValueManager::builder("app")
        .build_with(&config(&format!(
            "[default]\ntype = 'redis'\nurl = '{}'",
            redis.url()
        ))?)
        .await?;
    let store = manager.open("default").await?;
    store.set("k", b"v").await?;

    redis.stop()?;
    for _ in 0..3 {
        let err = store.get("k").await.expect_err("Redis is down");
        match &err {
            Error::Backend { backend, message } => {
                assert_eq!(*backend, "redis");
                assert!(
                    message.starts_with(&format!("redis at {}: ", redis.address())),
                    "{message}"
                );
            }
            other => panic!("expected a backend error, got {other:?}"),
        }
        assert!(matches!(
            store.increment("n", 1).await,
            Err(Error::Backend { .. })
        ));
    }

    redis.restart()?;
    // The data is gone (no persistence), but the same store works again.
    assert_eq!(store.get("k").await?, None);
    store.set("k", b"again").await?;
    assert_eq!(store.increment("n", 2).await?, 2);
    assert_eq!(
        manager.open("default").await?.get("k").await?,
        Some(b"again".to_vec())
    );
    Ok(())
}

/// Waits for `store` to answer again after its server came back.
async fn until_ok<T>(mut call: impl AsyncFnMut() -> Result<T, Error>) -> Result<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) if std::time::Instant::now() > deadline => {
                anyhow::bail!("still failing: {err}")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_buckets_are_per_app_and_label_unless_named() -> Result<()> {
    let nats = NatsServer::start_jetstream()?;
    let section = config(&format!(
        "[default]\ntype = 'nats'\nurl = '{}'\n[other]\ntype = 'nats'\nurl = '{}'",
        nats.url(),
        nats.url()
    ))?;
    let app_a = KeyValueManager::builder("app-a")
        .build_with(&section)
        .await?;
    let app_b = KeyValueManager::builder("app.b")
        .build_with(&section)
        .await?;
    let a = app_a.open("default").await?;
    assert_eq!(
        a.describe(),
        format!("nats bucket `skiff-app-a-default` at {}", nats.url())
    );
    let b = app_b.open("default").await?;
    // A name a bucket cannot hold is made one.
    assert!(
        b.describe()
            .starts_with("nats bucket `skiff-app_b-default`")
    );
    a.set("shared-name", b"from a").await?;
    assert_eq!(b.get("shared-name").await?, None);
    assert_eq!(app_a.open("other").await?.get("shared-name").await?, None);
    assert_eq!(skiff_kv::all_keys(&*b).await?, Vec::<String>::new());

    // A named bucket is wherever the operator says: app a's, made before.
    let named = config(&format!(
        "[default]\ntype = 'nats'\nurl = '{}'\nbucket = 'skiff-app-a-default'",
        nats.url()
    ))?;
    let alias = KeyValueManager::builder("other").build_with(&named).await?;
    assert_eq!(
        alias.open("default").await?.get("shared-name").await?,
        Some(b"from a".to_vec())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_without_jetstream_or_unreachable_is_rejected_naming_the_cause() -> Result<()> {
    let plain = NatsServer::start()?;
    let err = KeyValueManager::builder("app")
        .build_with(&config(&format!(
            "[cache]\ntype = 'nats'\nurl = '{}'",
            plain.url()
        ))?)
        .await
        .err()
        .expect("no JetStream");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    let text = format!("{err}: {}", cause.unwrap_or_default());
    assert!(
        text.contains("`key_value_store.cache`")
            && text.contains(&format!("nats bucket `skiff-app-cache` at {}", plain.url()))
            && text.contains("is JetStream on"),
        "{text}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let err = KeyValueManager::builder("app")
        .build_with(&config(&format!(
            "[cache]\ntype = 'nats'\nurl = 'nats://127.0.0.1:{port}'\nconnect_timeout = '1s'"
        ))?)
        .await
        .err()
        .expect("no NATS listens there");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    let text = format!("{err}: {}", cause.unwrap_or_default());
    assert!(
        text.contains(&format!(
            "could not connect to nats server at nats://127.0.0.1:{port}"
        )),
        "{text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_down_is_a_backend_error_and_recovers_with_its_data() -> Result<()> {
    let mut nats = NatsServer::start_jetstream()?;
    let manager = KeyValueManager::builder("app")
        .build_with(&config(&format!(
            "[default]\ntype = 'nats'\nurl = '{}'",
            nats.url()
        ))?)
        .await?;
    let store = manager.open("default").await?;
    store.set("k", b"v").await?;
    assert_eq!(store.increment("n", 1).await?, 1);

    nats.stop()?;
    // Once the client has seen it go, calls fail at once (not after
    // JetStream's timeout), naming the bucket and server.
    let message = until_ok(async || match store.get("k").await {
        Err(Error::Backend { backend, message }) if message.contains("unreachable") => {
            assert_eq!(backend, "nats");
            Ok(message)
        }
        Err(err) => Err(err),
        Ok(_) => Err(Error::backend("nats", "still answering")),
    })
    .await?;
    assert!(
        message.starts_with(&format!(
            "nats bucket `skiff-app-default` at {}: ",
            nats.url()
        )),
        "{message}"
    );
    assert!(matches!(
        store.increment("n", 1).await,
        Err(Error::Backend { .. })
    ));

    // JetStream keeps its data on disk: back, the same store has it.
    nats.restart()?;
    assert_eq!(
        until_ok(async || store.get("k").await).await?,
        Some(b"v".to_vec())
    );
    assert_eq!(store.increment("n", 1).await?, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn backends_swap_live_and_open_stores_finish_on_the_old() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let redis = RedisServer::start()?;
    let manager = KeyValueManager::builder("app")
        .state_dir(dir.path())
        .build_with(&config("[default]\ntype = 'memory'")?)
        .await?;
    let before = manager.open("default").await?;
    before.set("k", b"memory").await?;

    // Re-applying an unchanged section keeps the backend (and its data).
    manager
        .apply(&config("[default]\ntype = 'memory'")?)
        .await?;
    assert_eq!(
        manager.open("default").await?.get("k").await?,
        Some(b"memory".to_vec())
    );

    // A section that cannot be opened changes nothing.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let bad = config(&format!(
        "[default]\ntype = 'redis'\nurl = 'redis://127.0.0.1:{port}'"
    ))?;
    assert!(manager.apply(&bad).await.is_err());
    assert_eq!(
        manager.open("default").await?.get("k").await?,
        Some(b"memory".to_vec())
    );

    manager
        .apply(&config(&format!(
            "[default]\ntype = 'redis'\nurl = '{}'",
            redis.url()
        ))?)
        .await?;
    let after = manager.open("default").await?;
    assert_eq!(after.get("k").await?, None, "new opens see Redis");
    after.set("k", b"redis").await?;
    assert_eq!(
        before.get("k").await?,
        Some(b"memory".to_vec()),
        "old handle keeps memory"
    );
    assert!(
        after.describe().starts_with("redis at"),
        "{}",
        after.describe()
    );

    // Removing the section falls back to the default (embedded) store.
    manager.apply(&KeyValueConfig::default()).await?;
    assert!(
        manager
            .open("default")
            .await?
            .describe()
            .starts_with("embedded store at")
    );

    // `replace` swaps in a backend built by hand.
    let custom = Arc::new(MemoryStore::new());
    custom.set("k", b"custom").await?;
    manager.replace("default", custom);
    assert_eq!(
        manager.open("default").await?.get("k").await?,
        Some(b"custom".to_vec())
    );
    assert_eq!(manager.configured_labels(), vec!["default"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_jetstream_domain_is_where_the_bucket_is_asked_for() -> Result<()> {
    use skiff_nats::async_nats::{self, jetstream};
    let nats = NatsServer::start_jetstream_in_domain("hub")?;
    let in_domain = |domain: &str| {
        config(&format!(
            "[default]\ntype = 'nats'\nurl = '{}'\njetstream_domain = '{domain}'",
            nats.url()
        ))
    };
    let kv = KeyValueManager::builder("app")
        .build_with(&in_domain("hub")?)
        .await?;
    kv.open("default").await?.set("k", b"v").await?;
    // The test's own client, asking the domain's JetStream API, finds it.
    let js = jetstream::with_domain(async_nats::connect(nats.url()).await?, "hub");
    let bucket = js.get_key_value("skiff-app-default").await?;
    assert_eq!(bucket.get("k").await?.as_deref(), Some(&b"v"[..]));

    // A domain this server is not in answers nothing: refused, naming it.
    let err = KeyValueManager::builder("app")
        .build_with(&in_domain("elsewhere")?)
        .await
        .err()
        .expect("no JetStream in domain `elsewhere`");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    let text = format!("{err}: {}", cause.unwrap_or_default());
    assert!(
        text.contains("`key_value_store.default`")
            && text.contains("could not open the bucket in JetStream domain `elsewhere`"),
        "{text}"
    );
    Ok(())
}
