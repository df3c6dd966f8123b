//! What only the file-system store has: its layout on disk (where operators
//! find their objects), the mapping of names to file names, and what a
//! restart or a crash leaves.

use std::path::{Path, PathBuf};

use anyhow::Result;
use bytes::Bytes;
use skiff_blob::{BlobStore, ByteRange, FileSystemStore};

/// Every file and directory under `dir`, relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

async fn open(root: &Path) -> Result<FileSystemStore> {
    Ok(FileSystemStore::open(root).await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_are_files_named_after_them() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("store");
    let store = open(&root).await?;
    store.create_container("photos").await?;
    store.create_container("../outside").await?;
    for (name, body) in [
        ("cat.jpg", "meow"),
        ("2024/jan/dog.jpg", "woof"),
        ("../../escape", "nope"),
        ("/etc/passwd", "root"),
        ("nul\0", "zero"),
    ] {
        store
            .write_object("photos", name, Bytes::from(body))
            .await?;
    }
    store
        .write_object("../outside", "x", Bytes::from_static(b"inside"))
        .await?;
    assert_eq!(
        tree(&root),
        [
            "%2E.%2Foutside",
            "%2E.%2Foutside/.container",
            "%2E.%2Foutside/x",
            ".tmp",
            "photos",
            "photos/%2E.%2F..%2Fescape",
            "photos/%2Fetc%2Fpasswd",
            "photos/.container",
            "photos/2024%2Fjan%2Fdog.jpg",
            "photos/cat.jpg",
            "photos/nul%00",
        ]
    );
    assert_eq!(
        std::fs::read(root.join("photos/cat.jpg"))?,
        b"meow",
        "raw bytes"
    );
    assert_eq!(
        std::fs::read_dir(dir.path())?.count(),
        1,
        "nothing outside the store's root"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn long_names_are_hashed_with_their_name_beside() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path()).await?;
    store.create_container("c").await?;
    let long = "ключ/".repeat(60);
    store
        .write_object("c", &long, Bytes::from_static(b"v"))
        .await?;
    let files: Vec<String> = tree(dir.path())
        .into_iter()
        .filter(|f| f.starts_with("c/~"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[1].ends_with(".name"), "{files:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join(&files[1]))?, long);
    assert_eq!(std::fs::read(dir.path().join(&files[0]))?, b"v");
    assert_eq!(store.list_objects("c").await?, std::slice::from_ref(&long));
    store.delete_object("c", &long).await?;
    assert_eq!(tree(&dir.path().join("c")), [".container"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn files_put_there_by_hand() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path()).await?;
    // A container made by hand (no `.container`), with files some of whose
    // names are not encodings of any name.
    let by_hand = dir.path().join("manual");
    std::fs::create_dir(&by_hand)?;
    for file in ["ok.txt", "has space", "%41", ".dotfile", "~stray"] {
        std::fs::write(by_hand.join(file), file)?;
    }
    std::fs::create_dir(by_hand.join("subdir"))?;
    assert!(store.container_exists("manual").await?);
    assert!(store.container_info("manual").await?.created_at > 0);
    assert_eq!(store.list_objects("manual").await?, ["ok.txt"]);
    let got = store
        .read_object("manual", "ok.txt", ByteRange::ALL, u64::MAX)
        .await?;
    assert_eq!(got, "ok.txt");
    assert!(!store.has_object("manual", "has space").await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reopened_store_has_everything() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let created = {
        let store = open(dir.path()).await?;
        let created = store.create_container("c").await?;
        store
            .write_object("c", "a/b", Bytes::from_static(b"kept"))
            .await?;
        created
    };
    let store = open(dir.path()).await?;
    assert_eq!(store.container_info("c").await?, created);
    assert_eq!(store.list_objects("c").await?, ["a/b"]);
    assert_eq!(
        store
            .read_object("c", "a/b", ByteRange::ALL, u64::MAX)
            .await?,
        "kept"
    );
    assert_eq!(
        tree(&dir.path().join(".tmp")),
        Vec::<String>::new(),
        "no temporary file is left behind"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_temporary_files_are_removed_at_open() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let tmp: PathBuf = dir.path().join(".tmp");
    std::fs::create_dir_all(&tmp)?;
    let stale = tmp.join("1-1");
    let fresh = tmp.join("2-1");
    std::fs::write(&stale, "half an object")?;
    std::fs::write(&fresh, "being written by another process")?;
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)?
        .set_modified(two_hours_ago)?;
    open(dir.path()).await?;
    assert!(!stale.exists());
    assert!(fresh.exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_that_cannot_be_made_names_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("a-file");
    std::fs::write(&file, "")?;
    let err = match FileSystemStore::open(file.join("store")).await {
        Ok(_) => anyhow::bail!("opened a store under a file"),
        Err(err) => err.to_string(),
    };
    assert!(
        err.starts_with(&format!(
            "file-system blob store at {}: could not create directory",
            file.join("store").display()
        )),
        "{err}"
    );
    Ok(())
}
