//! The local content-addressed cache of pulled artifacts.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;

/// `<skiff cache dir>/oci`: verified blobs by digest, a tag index and
/// materialized apps (see the crate docs for the layout).
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// The cache under `skiff_cache_dir` (Skiff's cache directory; `oci/` is appended).
    pub fn new(skiff_cache_dir: PathBuf) -> Self {
        Cache {
            root: skiff_cache_dir.join("oci"),
        }
    }

    /// `<cache>/oci`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` (`sha256:<hex>`) is or would be.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("blobs").join("sha256").join(hex)
    }

    /// Where the app of the manifest `digest` is materialized.
    pub fn app_dir(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("apps").join(hex)
    }

    /// The directory for downloads in flight (on the cache's filesystem, so renames work).
    pub(crate) fn tmp_dir(&self) -> Result<PathBuf, Error> {
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io("could not create cache directory", &dir, e))?;
        Ok(dir)
    }

    /// Whether the blob `digest` is cached and still hashes to its digest. A
    /// cached blob that does not is deleted (it is fetched again).
    pub(crate) fn has_verified(&self, digest: &str) -> bool {
        let path = self.blob_path(digest);
        let Ok(file) = std::fs::File::open(&path) else {
            return false;
        };
        match sha256_reader(file) {
            Ok(actual) if actual == digest => true,
            Ok(actual) => {
                tracing::warn!(
                    "cached blob `{}` hashes to `{actual}`; discarding it",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                false
            }
            Err(_) => false,
        }
    }

    /// Moves a verified file into the cache as the blob `digest`.
    pub(crate) fn commit_blob(&self, digest: &str, verified_file: &Path) -> Result<PathBuf, Error> {
        let path = self.blob_path(digest);
        let dir = path.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io("could not create cache directory", dir, e))?;
        std::fs::rename(verified_file, &path)
            .map_err(|e| Error::io("could not move a verified blob into the cache at", &path, e))?;
        Ok(path)
    }

    /// The manifest digest the index recorded for `reference` (`registry/repo:tag`).
    pub fn indexed(&self, reference: &str) -> Option<String> {
        self.read_index().remove(reference)
    }

    /// Records `reference` → `digest` in the index (written atomically).
    pub(crate) fn record(&self, reference: &str, digest: &str) -> Result<(), Error> {
        let mut index = self.read_index();
        index.insert(reference.to_string(), digest.to_string());
        let path = self.root.join("index.json");
        let text = serde_json::to_string_pretty(&index).expect("a map of strings serializes");
        let tmp = tempfile::NamedTempFile::new_in(self.tmp_dir()?)
            .map_err(|e| Error::io("could not write the cache index", &path, e))?;
        std::fs::write(tmp.path(), text)
            .map_err(|e| Error::io("could not write the cache index", &path, e))?;
        tmp.persist(&path)
            .map_err(|e| Error::io("could not write the cache index", &path, e.error))?;
        Ok(())
    }

    fn read_index(&self) -> BTreeMap<String, String> {
        std::fs::read(self.root.join("index.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }
}

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `sha256:<hex>` of everything `reader` yields.
pub(crate) fn sha256_reader(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}
