//! What only the NATS store has: its containers are JetStream object stores
//! that another NATS client reads and writes under the names the docs give
//! (`<prefix>_<escaped container>`, shortened with a digest when too long).

use std::sync::Arc;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use futures_util::TryStreamExt as _;
use skiff_blob::{BlobConfig, BlobManager, BlobStore, ByteRange, Limited};
use skiff_nats::async_nats::{self, jetstream};
use skiff_test_support::nats_server::NatsServer;
use tokio::io::AsyncReadExt as _;

/// A store `media` of app `shop` on `nats`, with `extra` in its section.
async fn store(nats: &NatsServer, extra: &str) -> Result<Arc<Limited>> {
    let table: toml::Table = toml::from_str(&format!(
        "[media]\ntype = 'nats'\nurl = '{}'\n{extra}",
        nats.url()
    ))?;
    let manager = BlobManager::builder()
        .namespace("shop")
        .build_with(&BlobConfig::from_toml(&table)?)
        .await?;
    Ok(manager.open("media").await?)
}

/// The test's own JetStream client.
async fn client(nats: &NatsServer) -> Result<jetstream::Context> {
    Ok(jetstream::new(async_nats::connect(nats.url()).await?))
}

/// Object `name` of bucket `bucket`, read by the test's own client.
async fn read_directly(js: &jetstream::Context, bucket: &str, name: &str) -> Result<Vec<u8>> {
    let store = js
        .get_object_store(bucket)
        .await
        .with_context(|| format!("bucket {bucket}"))?;
    let mut object = store.get(name).await?;
    let mut bytes = Vec::new();
    object.read_to_end(&mut bytes).await?;
    Ok(bytes)
}

/// The names of every stream, sorted.
async fn streams(js: &jetstream::Context) -> Result<Vec<String>> {
    let mut names: Vec<String> = js.stream_names().try_collect().await?;
    names.sort();
    Ok(names)
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_are_buckets_other_clients_share() -> Result<()> {
    let nats = NatsServer::start_jetstream()?;
    let js = client(&nats).await?;
    let store = store(&nats, "").await?;

    let created = store.create_container("photos").await?;
    store
        .write_object("photos", "2024/jan/cat.jpg", Bytes::from_static(b"meow"))
        .await?;
    assert_eq!(
        read_directly(&js, "skiff-shop-media_photos", "2024/jan/cat.jpg").await?,
        b"meow"
    );
    let mut stream = js.get_stream("OBJ_skiff-shop-media_photos").await?;
    let stream_created = std::time::SystemTime::from(stream.info().await?.created)
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    assert_eq!(created.created_at, stream_created, "the stream's creation");

    // What another client puts is an object like any other.
    let bucket = js.get_object_store("skiff-shop-media_photos").await?;
    bucket.put("from elsewhere", &mut &b"hello"[..]).await?;
    assert_eq!(
        store.list_objects("photos").await?,
        ["2024/jan/cat.jpg", "from elsewhere"]
    );
    assert_eq!(
        store
            .read_object("photos", "from elsewhere", ByteRange::new(1, 3), 10)
            .await?,
        "ell"
    );
    let info = store.object_info("photos", "from elsewhere").await?;
    assert_eq!(info.size, 5);
    let modified = std::time::SystemTime::from(
        bucket
            .info("from elsewhere")
            .await?
            .modified
            .expect("a put sets it"),
    );
    assert_eq!(
        info.created_at,
        modified.duration_since(std::time::UNIX_EPOCH)?.as_secs()
    );
    // A delete is seen by the other client too.
    store.delete_object("photos", "2024/jan/cat.jpg").await?;
    assert!(bucket.get("2024/jan/cat.jpg").await.is_err());

    // Names a bucket cannot hold are escaped, `_` included; too long ones
    // shortened with the digest of the name.
    store.create_container("my_photos/2024").await?;
    let long = "ü".repeat(500);
    store.create_container(&long).await?;
    store
        .write_object(&long, "o", Bytes::from_static(b"long"))
        .await?;
    let names = streams(&js).await?;
    assert!(
        names.contains(&"OBJ_skiff-shop-media_my_5Fphotos_2F2024".to_string()),
        "{names:?}"
    );
    let shortened = names
        .iter()
        .find(|n| n.starts_with("OBJ_skiff-shop-media__C3_BC"))
        .expect("the long one's stream");
    assert!(shortened.len() <= 254, "{shortened}");
    let (_, digest) = shortened.rsplit_once("__").unwrap();
    assert_eq!(digest.len(), 64, "{shortened}");
    assert_eq!(
        read_directly(&js, shortened.strip_prefix("OBJ_").unwrap(), "o").await?,
        b"long"
    );

    // `clear` purges a bucket; deleting a container deletes it.
    store.clear("photos").await?;
    assert_eq!(store.list_objects("photos").await?, Vec::<String>::new());
    store.delete_container("photos").await?;
    assert!(
        js.get_object_store("skiff-shop-media_photos")
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_prefix_names_the_buckets() -> Result<()> {
    let nats = NatsServer::start_jetstream()?;
    let js = client(&nats).await?;
    let store = store(&nats, "bucket_prefix = 'shared-media'\n").await?;
    assert!(
        store
            .describe()
            .starts_with("nats blob store `shared-media` at ")
    );
    store.create_container("c").await?;
    store
        .write_object("c", "o", Bytes::from_static(b"v"))
        .await?;
    assert_eq!(read_directly(&js, "shared-media_c", "o").await?, b"v");
    assert_eq!(streams(&js).await?, ["OBJ_shared-media_c"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_racing_replacements_sees_one_version_whole() -> Result<()> {
    let nats = NatsServer::start_jetstream()?;
    let store = store(&nats, "").await?;
    store.create_container("c").await?;
    const LEN: usize = 1024 * 1024;
    store
        .write_object("c", "o", Bytes::from(vec![0; LEN]))
        .await?;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for round in 1..=20u8 {
                store
                    .write_object("c", "o", Bytes::from(vec![round; LEN]))
                    .await?;
            }
            Ok::<_, skiff_blob::Error>(())
        })
    };
    // Reads of the end of the object: the whole of it streams past, while
    // its chunks are purged under the reader by each replacement.
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let tail = store
            .read_object("c", "o", ByteRange::new(LEN as u64 - 10, u64::MAX), 10)
            .await?;
        assert_eq!(tail.len(), 10);
        assert!(tail.iter().all(|b| *b == tail[0]), "{tail:?}");
        let whole = store
            .read_object("c", "o", ByteRange::ALL, LEN as u64)
            .await?;
        assert_eq!(whole.len(), LEN);
        assert!(whole.iter().all(|b| *b == whole[0]), "a mixed value");
        reads += 1;
    }
    writer.await??;
    let last = store
        .read_object("c", "o", ByteRange::ALL, LEN as u64)
        .await?;
    assert!(last.iter().all(|b| *b == 20));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn jetstream_domain_is_where_the_buckets_are_asked_for() -> Result<()> {
    let nats = NatsServer::start_jetstream_in_domain("hub")?;
    let store = store(&nats, "jetstream_domain = 'hub'").await?;
    store.create_container("photos").await?;
    store
        .write_object("photos", "cat.jpg", Bytes::from_static(b"meow"))
        .await?;
    // The test's own client, asking the domain's JetStream API, finds it.
    let js = jetstream::with_domain(async_nats::connect(nats.url()).await?, "hub");
    assert_eq!(
        read_directly(&js, "skiff-shop-media_photos", "cat.jpg").await?,
        b"meow"
    );

    // A domain this server is not in answers nothing: refused, naming it.
    let err = store_err(&nats, "jetstream_domain = 'elsewhere'").await;
    assert!(
        err.contains("`blob_store.media`")
            && err.contains("JetStream does not answer in domain `elsewhere`"),
        "{err}"
    );
    Ok(())
}

/// The error (with its causes) of opening store `media` on `nats` with
/// `extra` in its section.
async fn store_err(nats: &NatsServer, extra: &str) -> String {
    match store(nats, extra).await {
        Ok(_) => panic!("store `media` opened with {extra:?}"),
        Err(err) => format!("{err:#}"),
    }
}
