//! The resolver: labels to stores, the embedded default, the runtime
//! config's sections, and swapping them while stores are in use; NATS
//! stores per app and label, and a NATS server that is missing, has no
//! JetStream, or goes away and comes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use skiff_blob::{
    BlobConfig, BlobManager, BlobStore, ByteRange, ConfigError, DefaultBackend, Error, Limited,
};
use skiff_test_support::nats_server::NatsServer;

fn config(text: &str) -> Result<BlobConfig> {
    let table: toml::Table = toml::from_str(text)?;
    Ok(BlobConfig::from_toml(&table)?)
}

async fn put(store: &Limited, object: &str, body: &'static str) -> Result<()> {
    store.create_container("c").await?;
    store
        .write_object("c", object, Bytes::from_static(body.as_bytes()))
        .await?;
    Ok(())
}

async fn get(store: &Limited, object: &str) -> Result<String, Error> {
    let bytes = store
        .read_object("c", object, ByteRange::ALL, u64::MAX)
        .await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn unconfigured_labels_get_a_directory_under_the_state_dir() -> Result<()> {
    let state = tempfile::tempdir()?;
    let manager = BlobManager::builder().state_dir(state.path()).build();
    let store = manager.open("default").await?;
    assert!(Arc::ptr_eq(&store, &manager.open("default").await?), "kept");
    put(&store, "k", "v").await?;
    assert_eq!(std::fs::read(state.path().join("blob/default/c/k"))?, b"v");
    assert_eq!(
        store.describe(),
        format!(
            "file-system blob store at {}",
            state.path().join("blob/default").display()
        )
    );
    let other = manager.open("other").await?;
    assert!(!other.container_exists("c").await?, "labels are separate");
    // A label that cannot name a directory has no default store.
    assert_eq!(
        manager.open("../x").await.err(),
        Some(Error::NoSuchStore {
            label: "../x".into()
        })
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_default_backend() -> Result<()> {
    let manager = BlobManager::builder().build();
    let err = manager.open("default").await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "no blob store is configured for label `default`"
    );
    let manager = BlobManager::builder()
        .default_backend(DefaultBackend::Memory)
        .build();
    put(&*manager.open("default").await?, "k", "v").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sections_choose_the_backend_and_limit() -> Result<()> {
    let state = tempfile::tempdir()?;
    let base = tempfile::tempdir()?;
    let manager = BlobManager::builder()
        .state_dir(state.path())
        .base_dir(base.path())
        .build_with(&config(
            "[media]\ntype = \"file_system\"\npath = \"data/media\"\nmax_object_size = 4\n\
             [scratch]\ntype = \"memory\"\n",
        )?)
        .await?;
    assert_eq!(manager.configured_labels(), ["media", "scratch"]);
    let media = manager.open("media").await?;
    assert_eq!(media.limits().max_object_size, 4);
    put(&media, "k", "1234").await?;
    assert_eq!(
        std::fs::read(base.path().join("data/media/c/k"))?,
        b"1234",
        "relative to the runtime config's directory"
    );
    let err = media
        .write_object("c", "k", Bytes::from_static(b"12345"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { len: 5, max: 4, .. }),
        "{err:?}"
    );

    let scratch = manager.open("scratch").await?;
    assert_eq!(scratch.describe(), "memory blob store");
    assert_eq!(
        scratch.limits().max_object_size,
        64 * 1024 * 1024,
        "the default"
    );
    assert!(
        !state.path().join("blob").exists(),
        "no default store was made"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_swaps_changed_sections_and_keeps_the_rest() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let first = config(&format!(
        "[keep]\ntype = \"memory\"\n[move]\ntype = \"file_system\"\npath = {:?}\n",
        dir.path().join("one")
    ))?;
    let manager = BlobManager::builder().build_with(&first).await?;
    let keep = manager.open("keep").await?;
    put(&keep, "k", "kept").await?;
    let moved_from = manager.open("move").await?;
    put(&moved_from, "k", "in one").await?;

    let second = config(&format!(
        "[keep]\ntype = \"memory\"\n[move]\ntype = \"file_system\"\npath = {:?}\n",
        dir.path().join("two")
    ))?;
    manager.apply(&second).await?;
    assert!(
        Arc::ptr_eq(&keep, &manager.open("keep").await?),
        "unchanged: same store"
    );
    assert_eq!(get(&*manager.open("keep").await?, "k").await?, "kept");
    let moved_to = manager.open("move").await?;
    assert!(!moved_to.container_exists("c").await?, "the new directory");
    assert_eq!(
        get(&moved_from, "k").await?,
        "in one",
        "open stores keep theirs"
    );

    // A section that cannot be opened changes nothing, and says which.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "")?;
    let bad = config(&format!(
        "[keep]\ntype = \"memory\"\n[move]\ntype = \"file_system\"\npath = {:?}\n",
        blocker.join("under-a-file")
    ))?;
    let err = manager.apply(&bad).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not open blob store `move` (`blob_store.move`)"
    );
    assert!(Arc::ptr_eq(&moved_to, &manager.open("move").await?));

    // A label dropped from the config falls back to the default (none here).
    manager
        .apply(&config("[keep]\ntype = \"memory\"\n")?)
        .await?;
    assert!(matches!(
        manager.open("move").await,
        Err(Error::NoSuchStore { .. })
    ));
    Ok(())
}

/// `err` and its cause, as the CLI shows them.
fn chain(err: &ConfigError) -> String {
    let cause = std::error::Error::source(err).map(ToString::to_string);
    format!("{err}: {}", cause.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_buckets_are_per_app_and_label_unless_named() -> Result<()> {
    let nats = NatsServer::start_jetstream()?;
    let url = nats.url();
    let section = config(&format!(
        "[default]\ntype = 'nats'\nurl = '{url}'\n[other]\ntype = 'nats'\nurl = '{url}'\n"
    ))?;
    let app_a = BlobManager::builder()
        .namespace("app-a")
        .build_with(&section)
        .await?;
    let app_b = BlobManager::builder()
        .namespace("app.b")
        .build_with(&section)
        .await?;
    let a = app_a.open("default").await?;
    assert_eq!(
        a.describe(),
        format!("nats blob store `skiff-app-a-default` at {url}")
    );
    let b = app_b.open("default").await?;
    // A name a bucket cannot hold is made one.
    assert_eq!(
        b.describe(),
        format!("nats blob store `skiff-app_b-default` at {url}")
    );
    put(&a, "k", "from a").await?;
    assert!(!b.container_exists("c").await?, "apps are apart");
    let other = app_a.open("other").await?;
    assert!(!other.container_exists("c").await?, "labels are apart");
    put(&other, "k", "from other").await?;
    assert_eq!(get(&a, "k").await?, "from a");

    // A named prefix is wherever the operator says: app a's, made before.
    let named = config(&format!(
        "[default]\ntype = 'nats'\nurl = '{url}'\nbucket_prefix = 'skiff-app-a-default'\n"
    ))?;
    let alias = BlobManager::builder()
        .namespace("elsewhere")
        .build_with(&named)
        .await?;
    assert_eq!(get(&*alias.open("default").await?, "k").await?, "from a");

    // Without a namespace the default prefix is `skiff-<label>`.
    let bare = BlobManager::builder().build_with(&section).await?;
    assert_eq!(
        bare.open("default").await?.describe(),
        format!("nats blob store `skiff-default` at {url}")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_without_jetstream_or_unreachable_is_rejected_naming_the_cause() -> Result<()> {
    let plain = NatsServer::start()?;
    let err = BlobManager::builder()
        .namespace("app")
        .build_with(&config(&format!(
            "[media]\ntype = 'nats'\nurl = '{}'\n",
            plain.url()
        ))?)
        .await
        .err()
        .expect("no JetStream");
    let text = chain(&err);
    assert!(
        text.starts_with("could not open blob store `media` (`blob_store.media`): ")
            && text.contains(&format!(
                "nats blob store `skiff-app-media` at {}: JetStream does not answer",
                plain.url()
            ))
            && text.contains("is JetStream on (`nats-server -js`)"),
        "{text}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let err = BlobManager::builder()
        .namespace("app")
        .build_with(&config(&format!(
            "[media]\ntype = 'nats'\nurl = 'nats://127.0.0.1:{port}'\nconnect_timeout = '1s'\n"
        ))?)
        .await
        .err()
        .expect("no NATS listens there");
    let text = chain(&err);
    assert!(
        text.contains("`blob_store.media`")
            && text.contains(&format!(
                "could not connect to nats server at nats://127.0.0.1:{port}"
            )),
        "{text}"
    );

    // A default prefix too long for a bucket is refused before connecting.
    let err = BlobManager::builder()
        .namespace("a".repeat(100))
        .build_with(&config(&format!(
            "[media]\ntype = 'nats'\nurl = 'nats://127.0.0.1:{port}'\n"
        ))?)
        .await
        .err()
        .expect("too long");
    let text = chain(&err);
    assert!(
        text.starts_with("`blob_store.media.bucket_prefix`: needed: the default `skiff-aaa")
            && text.contains("the limit is 100"),
        "{text}"
    );
    Ok(())
}

/// Calls `call` until it succeeds (a server coming back), for at most 20 s.
async fn until_ok<T>(mut call: impl AsyncFnMut() -> Result<T, Error>) -> Result<T> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) if Instant::now() > deadline => anyhow::bail!("still failing: {err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_down_is_a_backend_error_and_recovers_with_its_data() -> Result<()> {
    let mut nats = NatsServer::start_jetstream()?;
    let manager = BlobManager::builder()
        .namespace("app")
        .build_with(&config(&format!(
            "[default]\ntype = 'nats'\nurl = '{}'\n",
            nats.url()
        ))?)
        .await?;
    let store = manager.open("default").await?;
    put(&store, "k", "kept").await?;
    let created = store.container_info("c").await?;

    nats.stop()?;
    // Once the client has seen it go, calls fail at once (not after a
    // timeout), naming the store and server.
    let message = until_ok(async || match get(&store, "k").await {
        Err(Error::Backend { message }) if message.contains("unreachable") => Ok(message),
        Err(err) => Err(err),
        Ok(_) => Err(Error::backend("still answering")),
    })
    .await?;
    assert!(
        message.starts_with(&format!(
            "nats blob store `skiff-app-default` at {}: unreachable",
            nats.url()
        )),
        "{message}"
    );
    for result in [
        store.create_container("d").await.map(drop),
        store
            .write_object("c", "k2", Bytes::from_static(b"x"))
            .await,
        store.list_objects("c").await.map(drop),
        store.delete_object("c", "k").await,
    ] {
        assert!(
            matches!(&result, Err(Error::Backend { message }) if message.contains("unreachable")),
            "{result:?}"
        );
    }

    // JetStream keeps its data on disk: back, the same store has it.
    nats.restart()?;
    assert_eq!(until_ok(async || get(&store, "k").await).await?, "kept");
    assert_eq!(store.container_info("c").await?, created);
    put(&store, "k2", "after").await?;
    assert_eq!(store.list_objects("c").await?, ["k", "k2"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_file_paths_are_relative_to_the_runtime_config() -> Result<()> {
    let base = tempfile::tempdir()?;
    let err = BlobManager::builder()
        .namespace("app")
        .base_dir(base.path())
        .build_with(&config(
            "[media]\ntype = 'nats'\nurl = 'nats://127.0.0.1:1'\n\
             credentials_file = 'secrets/app.creds'\n",
        )?)
        .await
        .err()
        .expect("no such file");
    let text = chain(&err);
    assert!(
        text.contains(&format!(
            "could not use the credentials file `{}`",
            base.path().join("secrets/app.creds").display()
        )),
        "{text}"
    );
    Ok(())
}
