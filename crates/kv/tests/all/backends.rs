//! The `Store` suite, run against every backend by `kv_test!`.
//!
//! Each store comes from a `KeyValueManager` built from a runtime-config
//! section of the backend's type, so the suite also covers the resolver and
//! the limits wrapper in front of every backend.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Result;
use skiff_kv::{Error, KeyValueConfig, KeyValueManager, Limits, Store, all_keys};
use tempfile::TempDir;

use skiff_test_support::nats_server::NatsServer;
use skiff_test_support::redis_server::RedisServer;

/// Keeps a backend's resources (files, server) alive for a test.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    _dir: TempDir,
    _redis: Option<RedisServer>,
    _nats: Option<NatsServer>,
}

impl Fixture {
    async fn new(kind: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let redis = (kind == "redis").then(RedisServer::start).transpose()?;
        let nats = (kind == "nats")
            .then(NatsServer::start_jetstream)
            .transpose()?;
        let section = match (&redis, &nats) {
            (Some(server), _) => format!("type = \"redis\"\nurl = \"{}\"", server.url()),
            (_, Some(server)) => format!("type = \"nats\"\nurl = \"{}\"", server.url()),
            _ => format!("type = \"{kind}\""),
        };
        let table: toml::Table = toml::from_str(&format!("[default]\n{section}"))?;
        let manager = KeyValueManager::builder("suite")
            .state_dir(dir.path())
            .build_with(&KeyValueConfig::from_toml(&table)?)
            .await?;
        let store = manager.open("default").await?;
        Ok(Fixture {
            store,
            _dir: dir,
            _redis: redis,
            _nats: nats,
        })
    }

    pub async fn memory() -> Result<Self> {
        Self::new("memory").await
    }

    pub async fn embedded() -> Result<Self> {
        Self::new("embedded").await
    }

    pub async fn redis() -> Result<Self> {
        Self::new("redis").await
    }

    pub async fn nats() -> Result<Self> {
        Self::new("nats").await
    }
}

/// Defines `mod $name` with one test per backend, each running `$body` with
/// `$store: Arc<dyn Store>` bound to that backend.
macro_rules! kv_test {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn memory() -> Result<()> {
                let fixture = Fixture::memory().await?;
                let $store = fixture.store.clone();
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn embedded() -> Result<()> {
                let fixture = Fixture::embedded().await?;
                let $store = fixture.store.clone();
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn redis() -> Result<()> {
                let fixture = Fixture::redis().await?;
                let $store = fixture.store.clone();
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn nats() -> Result<()> {
                let fixture = Fixture::nats().await?;
                let $store = fixture.store.clone();
                $body
            }
        }
    };
}

kv_test!(get_set_delete_exists, |store| {
    assert_eq!(store.get("k").await?, None);
    assert!(!store.exists("k").await?);
    store.set("k", b"v1").await?;
    assert_eq!(store.get("k").await?, Some(b"v1".to_vec()));
    assert!(store.exists("k").await?);
    store.set("k", b"v2").await?;
    assert_eq!(store.get("k").await?, Some(b"v2".to_vec()));
    store.delete("k").await?;
    assert_eq!(store.get("k").await?, None);
    assert!(!store.exists("k").await?);
    store.delete("never-set").await?;
    Ok(())
});

kv_test!(values_are_bytes, |store| {
    let every_byte: Vec<u8> = (0..=255).collect();
    store.set("bytes", &every_byte).await?;
    assert_eq!(store.get("bytes").await?, Some(every_byte));
    store.set("empty", b"").await?;
    assert_eq!(store.get("empty").await?, Some(Vec::new()));
    assert!(store.exists("empty").await?);
    Ok(())
});

kv_test!(odd_keys_round_trip, |store| {
    let keys = ["", "späße/ключ/鍵", "glob*?[x]\\", "with space", "a:b:c"];
    for (i, key) in keys.iter().enumerate() {
        store.set(key, i.to_string().as_bytes()).await?;
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            store.get(key).await?,
            Some(i.to_string().into_bytes()),
            "{key:?}"
        );
    }
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(all_keys(&*store).await?, expected);
    Ok(())
});

kv_test!(list_keys_pages_through_everything, |store| {
    assert_eq!(all_keys(&*store).await?, Vec::<String>::new());
    let expected: BTreeSet<String> = (0..2500).map(|i| format!("key-{i:05}")).collect();
    let entries: Vec<(String, Vec<u8>)> = expected
        .iter()
        .map(|k| (k.clone(), b"x".to_vec()))
        .collect();
    for chunk in entries.chunks(1000) {
        store.set_many(chunk).await?;
    }
    let mut seen = BTreeSet::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.list_keys(cursor).await?;
        pages += 1;
        seen.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert!(pages > 1, "2500 keys should take more than one page");
    Ok(())
});

kv_test!(increment_counts_in_decimal_text, |store| {
    assert_eq!(store.increment("n", 5).await?, 5);
    assert_eq!(store.increment("n", -7).await?, -2);
    assert_eq!(store.get("n").await?, Some(b"-2".to_vec()));
    store.set("n", b"40").await?;
    assert_eq!(store.increment("n", 2).await?, 42);

    store.set("text", b"forty-two").await?;
    assert!(matches!(
        store.increment("text", 1).await,
        Err(Error::NotAnInteger { key }) if key == "text"
    ));
    store.set("max", i64::MAX.to_string().as_bytes()).await?;
    assert!(matches!(
        store.increment("max", 1).await,
        Err(Error::Overflow { key }) if key == "max"
    ));
    assert_eq!(
        store.get("max").await?,
        Some(i64::MAX.to_string().into_bytes())
    );
    Ok(())
});

kv_test!(concurrent_increments_are_atomic, |store| {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                store.increment("hits", 1).await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    assert_eq!(store.get("hits").await?, Some(b"200".to_vec()));
    Ok(())
});

kv_test!(compare_and_swap, |store| {
    assert!(store.compare_and_swap("k", None, b"first").await?);
    assert!(!store.compare_and_swap("k", None, b"again").await?);
    assert!(!store.compare_and_swap("k", Some(b"wrong"), b"x").await?);
    assert_eq!(store.get("k").await?, Some(b"first".to_vec()));
    assert!(
        store
            .compare_and_swap("k", Some(b"first"), b"second")
            .await?
    );
    assert_eq!(store.get("k").await?, Some(b"second".to_vec()));
    assert!(!store.compare_and_swap("absent", Some(b""), b"x").await?);
    assert!(!store.exists("absent").await?);
    Ok(())
});

kv_test!(concurrent_compare_and_swap_loses_no_update, |store| {
    store.set("counter", b"0").await?;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < 20 {
                let current = store.get("counter").await?.unwrap();
                let n: u64 = std::str::from_utf8(&current).unwrap().parse().unwrap();
                let next = (n + 1).to_string();
                if store
                    .compare_and_swap("counter", Some(&current), next.as_bytes())
                    .await?
                {
                    done += 1;
                }
            }
            Ok::<_, Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    assert_eq!(store.get("counter").await?, Some(b"80".to_vec()));
    Ok(())
});

kv_test!(batch_operations, |store| {
    store
        .set_many(&[
            ("a".to_string(), b"1".to_vec()),
            ("b".to_string(), b"2".to_vec()),
            ("c".to_string(), b"3".to_vec()),
        ])
        .await?;
    let keys = ["c", "missing", "a"].map(String::from);
    assert_eq!(
        store.get_many(&keys).await?,
        vec![Some(b"3".to_vec()), None, Some(b"1".to_vec())]
    );
    store
        .delete_many(&["a", "missing", "b"].map(String::from))
        .await?;
    assert_eq!(all_keys(&*store).await?, vec!["c".to_string()]);
    assert_eq!(store.get_many(&[]).await?, Vec::<Option<Vec<u8>>>::new());
    store.set_many(&[]).await?;
    store.delete_many(&[]).await?;
    Ok(())
});

kv_test!(size_limits, |store| {
    let limits = Limits::default();
    let longest_key = "k".repeat(limits.max_key_bytes);
    store.set(&longest_key, b"ok").await?;
    let too_long = "k".repeat(limits.max_key_bytes + 1);
    let err = store.set(&too_long, b"x").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeyTooLarge {
                len: 257,
                max: 256,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("257 bytes; the limit is 256 bytes"),
        "{err}"
    );
    assert!(matches!(
        store.get(&too_long).await,
        Err(Error::KeyTooLarge { .. })
    ));

    let biggest = vec![7u8; limits.max_value_bytes];
    store.set("big", &biggest).await?;
    assert_eq!(
        store.get("big").await?.map(|v| v.len()),
        Some(biggest.len())
    );
    let too_big = vec![7u8; limits.max_value_bytes + 1];
    let err = store.set("big", &too_big).await.unwrap_err();
    assert!(
        matches!(err, Error::ValueTooLarge { len, max, .. } if len == max + 1),
        "{err:?}"
    );
    assert!(matches!(
        store
            .set_many(&[("ok".into(), vec![]), ("big".into(), too_big)])
            .await,
        Err(Error::ValueTooLarge { .. })
    ));
    assert!(
        !store.exists("ok").await?,
        "a rejected batch writes nothing"
    );
    let many: Vec<String> = (0..=limits.max_batch_keys).map(|i| i.to_string()).collect();
    assert!(matches!(
        store.get_many(&many).await,
        Err(Error::BatchTooLarge { .. })
    ));
    Ok(())
});
