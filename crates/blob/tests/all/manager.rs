//! The resolver: labels to stores, the embedded default, the runtime
//! config's sections, and swapping them while stores are in use.

use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;
use skiff_blob::{BlobConfig, BlobManager, BlobStore, ByteRange, DefaultBackend, Error, Limited};

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
