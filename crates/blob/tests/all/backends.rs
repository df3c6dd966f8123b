//! The `BlobStore` suite, run against every backend by `blob_test!`.
//!
//! Each store comes from a `BlobManager` built from a runtime-config section
//! of the backend's type, so the suite also covers the resolver and the
//! limits wrapper in front of every backend.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;
use skiff_blob::{BlobConfig, BlobManager, BlobStore, ByteRange, Error, Limited, ObjectId};
use skiff_test_support::nats_server::NatsServer;
use tempfile::TempDir;

/// The `max_object_size` of the suite's stores.
pub const MAX: u64 = 8 * 1024 * 1024;

/// Keeps a backend's resources (its directory, its server) alive for a
/// test.
pub struct Fixture {
    pub store: Arc<Limited>,
    _dir: TempDir,
    _nats: Option<NatsServer>,
}

impl Fixture {
    async fn new(kind: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let nats = (kind == "nats")
            .then(NatsServer::start_jetstream)
            .transpose()?;
        let section = match (kind, &nats) {
            ("file_system", _) => format!(
                "type = \"file_system\"\npath = {:?}\n",
                dir.path().join("blobs")
            ),
            (_, Some(server)) => format!("type = \"nats\"\nurl = \"{}\"\n", server.url()),
            (other, None) => format!("type = \"{other}\"\n"),
        };
        let table: toml::Table =
            toml::from_str(&format!("[default]\n{section}max_object_size = {MAX}\n"))?;
        let manager = BlobManager::builder()
            .namespace("suite")
            .state_dir(dir.path())
            .build_with(&BlobConfig::from_toml(&table)?)
            .await?;
        let store = manager.open("default").await?;
        Ok(Fixture {
            store,
            _dir: dir,
            _nats: nats,
        })
    }

    pub async fn memory() -> Result<Self> {
        Self::new("memory").await
    }

    pub async fn file_system() -> Result<Self> {
        Self::new("file_system").await
    }

    pub async fn nats() -> Result<Self> {
        Self::new("nats").await
    }
}

/// Defines `mod $name` with one test per backend, each running `$body` with
/// `$store: Arc<Limited>` bound to that backend.
macro_rules! blob_test {
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
            async fn file_system() -> Result<()> {
                let fixture = Fixture::file_system().await?;
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

/// The whole object.
async fn read(store: &Limited, container: &str, object: &str) -> Result<Bytes, Error> {
    store
        .read_object(container, object, ByteRange::ALL, u64::MAX)
        .await
}

fn id(container: &str, object: &str) -> ObjectId {
    ObjectId::new(container, object)
}

blob_test!(containers, |store| {
    assert!(!store.container_exists("photos").await?);
    assert_eq!(
        store.container_info("photos").await,
        Err(Error::NoSuchContainer {
            container: "photos".into()
        })
    );
    let created = store.create_container("photos").await?;
    assert_eq!(created.name, "photos");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    assert!(created.created_at.abs_diff(now) < 60, "{created:?}");
    assert!(store.container_exists("photos").await?);
    assert_eq!(store.container_info("photos").await?, created);

    // Creating it again returns it as it is, objects and all.
    store
        .write_object("photos", "cat.jpg", Bytes::from_static(b"meow"))
        .await?;
    assert_eq!(store.create_container("photos").await?, created);
    assert_eq!(store.list_objects("photos").await?, ["cat.jpg"]);

    store.delete_container("photos").await?;
    assert!(!store.container_exists("photos").await?);
    assert_eq!(
        store.delete_container("photos").await,
        Err(Error::NoSuchContainer {
            container: "photos".into()
        })
    );
    // A new container of the same name starts empty.
    store.create_container("photos").await?;
    assert_eq!(store.list_objects("photos").await?, Vec::<String>::new());
    Ok(())
});

blob_test!(objects, |store| {
    store.create_container("c").await?;
    assert!(!store.has_object("c", "k").await?);
    assert_eq!(
        read(&store, "c", "k").await,
        Err(Error::NoSuchObject {
            container: "c".into(),
            object: "k".into()
        })
    );
    let every_byte: Vec<u8> = (0..=255).collect();
    store
        .write_object("c", "k", every_byte.clone().into())
        .await?;
    assert!(store.has_object("c", "k").await?);
    assert_eq!(read(&store, "c", "k").await?, every_byte);
    let info = store.object_info("c", "k").await?;
    assert_eq!(
        (info.name.as_str(), info.container.as_str(), info.size),
        ("k", "c", 256)
    );
    store
        .write_object("c", "k", Bytes::from_static(b"replaced"))
        .await?;
    assert_eq!(read(&store, "c", "k").await?, "replaced");
    assert_eq!(store.object_info("c", "k").await?.size, 8);

    store.delete_object("c", "k").await?;
    assert!(!store.has_object("c", "k").await?);
    store.delete_object("c", "never-written").await?;
    assert!(matches!(
        store.object_info("c", "k").await,
        Err(Error::NoSuchObject { .. })
    ));

    // Everything on a missing container names the container.
    let missing = Error::NoSuchContainer {
        container: "nope".into(),
    };
    assert_eq!(
        store
            .write_object("nope", "k", Bytes::from_static(b"x"))
            .await,
        Err(missing.clone())
    );
    assert_eq!(read(&store, "nope", "k").await, Err(missing.clone()));
    assert_eq!(store.has_object("nope", "k").await, Err(missing.clone()));
    assert_eq!(store.delete_object("nope", "k").await, Err(missing.clone()));
    assert_eq!(store.list_objects("nope").await, Err(missing.clone()));
    assert_eq!(store.clear("nope").await, Err(missing.clone()));
    assert_eq!(store.object_info("nope", "k").await, Err(missing));
    Ok(())
});

blob_test!(empty_objects, |store| {
    store.create_container("c").await?;
    store.write_object("c", "empty", Bytes::new()).await?;
    assert!(store.has_object("c", "empty").await?);
    assert_eq!(read(&store, "c", "empty").await?, "");
    assert_eq!(store.object_info("c", "empty").await?.size, 0);
    for (start, end) in [(0, 0), (0, u64::MAX), (5, 10)] {
        let got = store
            .read_object("c", "empty", ByteRange::new(start, end), MAX)
            .await?;
        assert!(got.is_empty(), "{start}..={end}");
    }
    assert_eq!(store.list_objects("c").await?, ["empty"]);
    Ok(())
});

blob_test!(ranges, |store| {
    store.create_container("c").await?;
    store
        .write_object("c", "digits", Bytes::from_static(b"0123456789"))
        .await?;
    let range = |start, end| {
        let store = store.clone();
        async move {
            store
                .read_object("c", "digits", ByteRange::new(start, end), MAX)
                .await
        }
    };
    assert_eq!(range(0, 9).await?, "0123456789");
    assert_eq!(range(2, 4).await?, "234", "both ends inclusive");
    assert_eq!(range(9, 9).await?, "9");
    assert_eq!(range(7, 100).await?, "789", "an end past the object clamps");
    assert_eq!(range(3, u64::MAX).await?, "3456789");
    assert_eq!(
        range(10, 20).await?,
        "",
        "a start past the end reads nothing"
    );
    let err = range(5, 4).await.unwrap_err();
    assert_eq!(
        err,
        Error::InvalidRange {
            container: "c".into(),
            object: "digits".into(),
            start: 5,
            end: 4
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid range 5..=4 for object `digits` in container `c`: start is after end"
    );
    Ok(())
});

blob_test!(listing_many_names, |store| {
    store.create_container("c").await?;
    store.create_container("other").await?;
    let names: BTreeSet<String> = (0..1500)
        .map(|i| format!("dir-{}/obj-{i:05}", i % 7))
        .collect();
    for name in &names {
        store
            .write_object("c", name, Bytes::from_static(b"x"))
            .await?;
    }
    store
        .write_object("other", "elsewhere", Bytes::from_static(b"x"))
        .await?;
    let listed = store.list_objects("c").await?;
    assert_eq!(
        listed,
        names.iter().cloned().collect::<Vec<_>>(),
        "sorted, all of them, once"
    );
    store.delete_objects("c", &listed[..1000]).await?;
    assert_eq!(store.list_objects("c").await?, listed[1000..]);
    store.clear("c").await?;
    assert_eq!(store.list_objects("c").await?, Vec::<String>::new());
    assert!(
        store.container_exists("c").await?,
        "clear keeps the container"
    );
    assert_eq!(store.list_objects("other").await?, ["elsewhere"]);
    Ok(())
});

blob_test!(odd_names_round_trip, |store| {
    let names = [
        "a/b/c.txt",
        "/absolute",
        "../escape",
        "..",
        ".",
        ".hidden",
        "~tilde",
        "100%",
        "%2F",
        "nul\0byte",
        "späße/ключ/鍵",
        "with space",
        "trailing/",
        "x".repeat(1024).as_str(),
        "ü".repeat(300).as_str(),
    ]
    .map(String::from);
    for container in ["plain", "../up", "ü/ber"] {
        store.create_container(container).await?;
        for (i, name) in names.iter().enumerate() {
            store
                .write_object(container, name, Bytes::from(i.to_string()))
                .await?;
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(
                read(&store, container, name).await?,
                i.to_string(),
                "{name:?}"
            );
            assert!(store.has_object(container, name).await?, "{name:?}");
            assert_eq!(&store.object_info(container, name).await?.name, name);
        }
        let mut expected = names.to_vec();
        expected.sort();
        assert_eq!(
            store.list_objects(container).await?,
            expected,
            "{container:?}"
        );
    }
    // `a/b/c.txt` is one name, not a path: its "parents" do not exist.
    assert!(!store.has_object("plain", "a").await?);
    assert!(!store.has_object("plain", "a/b").await?);
    for name in &names {
        store.delete_object("plain", name).await?;
    }
    assert_eq!(store.list_objects("plain").await?, Vec::<String>::new());
    assert_eq!(store.list_objects("../up").await?.len(), names.len());
    Ok(())
});

blob_test!(invalid_names, |store| {
    let err = store.create_container("").await.unwrap_err();
    assert_eq!(err.to_string(), "invalid container name ``: it is empty");
    store.create_container("c").await?;
    let err = store
        .write_object("c", "", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid object name ``: it is empty");
    let long = "y".repeat(1025);
    let err = read(&store, "c", &long).await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("it is 1025 bytes long; the limit is 1024"),
        "{err}"
    );
    Ok(())
});

blob_test!(copy_and_move_across_containers, |store| {
    store.create_container("a").await?;
    store.create_container("b").await?;
    store
        .write_object("a", "src", Bytes::from_static(b"payload"))
        .await?;
    store
        .write_object("b", "dest", Bytes::from_static(b"old"))
        .await?;

    store.copy_object(&id("a", "src"), &id("b", "dest")).await?;
    assert_eq!(
        read(&store, "a", "src").await?,
        "payload",
        "the source stays"
    );
    assert_eq!(
        read(&store, "b", "dest").await?,
        "payload",
        "the copy overwrites"
    );
    store.copy_object(&id("a", "src"), &id("a", "src")).await?;
    assert_eq!(
        read(&store, "a", "src").await?,
        "payload",
        "a copy onto itself"
    );

    store
        .move_object(&id("a", "src"), &id("b", "moved/with/slashes"))
        .await?;
    assert!(!store.has_object("a", "src").await?, "the source goes");
    assert_eq!(read(&store, "b", "moved/with/slashes").await?, "payload");
    store
        .move_object(
            &id("b", "moved/with/slashes"),
            &id("b", "moved/with/slashes"),
        )
        .await?;
    assert_eq!(
        read(&store, "b", "moved/with/slashes").await?,
        "payload",
        "a move onto itself"
    );
    let long = "ж".repeat(200);
    store
        .move_object(&id("b", "moved/with/slashes"), &id("a", &long))
        .await?;
    store
        .copy_object(&id("a", &long), &id("b", &format!("{long}2")))
        .await?;
    assert_eq!(read(&store, "a", &long).await?, "payload");
    assert_eq!(read(&store, "b", &format!("{long}2")).await?, "payload");
    let mut listed_b = vec!["dest".to_string(), format!("{long}2")];
    listed_b.sort();
    assert_eq!(store.list_objects("b").await?, listed_b);
    assert_eq!(store.list_objects("a").await?, std::slice::from_ref(&long));

    // Missing source object, source container, destination container.
    assert_eq!(
        store.copy_object(&id("a", "gone"), &id("b", "x")).await,
        Err(Error::NoSuchObject {
            container: "a".into(),
            object: "gone".into()
        })
    );
    assert_eq!(
        store.move_object(&id("zz", "src"), &id("b", "x")).await,
        Err(Error::NoSuchContainer {
            container: "zz".into()
        })
    );
    for result in [
        store.copy_object(&id("b", "dest"), &id("zz", "x")).await,
        store.move_object(&id("b", "dest"), &id("zz", "x")).await,
    ] {
        assert_eq!(
            result,
            Err(Error::NoSuchContainer {
                container: "zz".into()
            })
        );
    }
    assert_eq!(
        read(&store, "b", "dest").await?,
        "payload",
        "a failed move keeps the source"
    );
    Ok(())
});

blob_test!(delete_container_deletes_its_objects, |store| {
    store.create_container("c").await?;
    for i in 0..20 {
        store
            .write_object("c", &format!("o{i}"), Bytes::from_static(b"x"))
            .await?;
    }
    store.delete_container("c").await?;
    assert!(!store.container_exists("c").await?);
    assert!(matches!(
        store.has_object("c", "o1").await,
        Err(Error::NoSuchContainer { .. })
    ));
    Ok(())
});

blob_test!(large_objects, |store| {
    store.create_container("c").await?;
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    store.write_object("c", "big", big.clone().into()).await?;
    assert_eq!(store.object_info("c", "big").await?.size, big.len() as u64);
    assert!(read(&store, "c", "big").await? == big);
    let middle = store
        .read_object("c", "big", ByteRange::new(1_000_000, 1_999_999), MAX)
        .await?;
    assert!(middle == big[1_000_000..2_000_000]);
    store.copy_object(&id("c", "big"), &id("c", "copy")).await?;
    assert!(read(&store, "c", "copy").await? == big);
    Ok(())
});

blob_test!(limits, |store| {
    store.create_container("c").await?;
    let at_limit = Bytes::from(vec![1u8; MAX as usize]);
    store.write_object("c", "max", at_limit).await?;
    let over = Bytes::from(vec![1u8; MAX as usize + 1]);
    let err = store.write_object("c", "over", over).await.unwrap_err();
    assert_eq!(
        err,
        Error::TooLarge {
            container: "c".into(),
            object: "over".into(),
            len: MAX + 1,
            max: MAX
        }
    );
    assert!(
        err.to_string()
            .contains(&format!("is {} bytes; the limit is {MAX} bytes", MAX + 1)),
        "{err}"
    );
    assert!(
        !store.has_object("c", "over").await?,
        "nothing of it is written"
    );
    // A read may not take more than its caller allows.
    let err = store
        .read_object("c", "max", ByteRange::new(0, 99), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                len: 100,
                max: 10,
                ..
            }
        ),
        "{err:?}"
    );
    Ok(())
});

blob_test!(concurrent_writers_never_mix, |store| {
    store.create_container("c").await?;
    const LEN: usize = 512 * 1024;
    let value = |writer: u8| Bytes::from(vec![writer; LEN]);
    let mut tasks = Vec::new();
    for writer in 0..8u8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                store.write_object("c", "contended", value(writer)).await?;
            }
            Ok::<_, Error>(())
        }));
    }
    // Meanwhile, every read sees one writer's value whole.
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                match read(&store, "c", "contended").await {
                    Ok(got) => {
                        assert_eq!(got.len(), LEN);
                        assert!(got.iter().all(|b| *b == got[0]), "a mixed value");
                    }
                    Err(Error::NoSuchObject { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(())
        })
    };
    for task in tasks {
        task.await??;
    }
    reader.await??;
    // The last writer to finish wins, whole.
    let last = read(&store, "c", "contended").await?;
    assert_eq!(last.len(), LEN);
    assert!(last.iter().all(|b| *b == last[0]));
    store.write_object("c", "contended", value(42)).await?;
    assert_eq!(read(&store, "c", "contended").await?, value(42));
    Ok(())
});

blob_test!(long_and_similar_container_names, |store| {
    // Names a store must keep apart however it maps them (a NATS bucket
    // name is shorter than these and holds fewer characters).
    let long = "c".repeat(1024);
    let names = [
        long.clone(),
        format!("{}d", "c".repeat(1023)),
        "ü".repeat(512),
        "c".repeat(300),
        "my_photos".to_string(),
        "my_5Fphotos".to_string(),
        "my-photos".to_string(),
        "my.photos".to_string(),
        "My_photos".to_string(),
    ];
    for (i, name) in names.iter().enumerate() {
        let created = store.create_container(name).await?;
        assert_eq!(&created.name, name);
        store
            .write_object(name, "o", Bytes::from(i.to_string()))
            .await?;
    }
    for (i, name) in names.iter().enumerate() {
        assert!(store.container_exists(name).await?, "{name:?}");
        assert_eq!(&store.container_info(name).await?.name, name);
        assert_eq!(read(&store, name, "o").await?, i.to_string(), "{name:?}");
        assert_eq!(store.list_objects(name).await?, ["o"]);
    }
    store
        .copy_object(&id(&long, "o"), &id(&names[1], "copied"))
        .await?;
    assert_eq!(read(&store, &names[1], "copied").await?, "0");
    store.delete_container(&long).await?;
    assert!(!store.container_exists(&long).await?);
    assert!(
        store.container_exists(&names[1]).await?,
        "its neighbour stays"
    );
    Ok(())
});
