//! `type = "file_system"` (and the embedded default): containers are
//! directories and objects are files under one root directory.
//!
//! ```text
//! ROOT/
//!   .tmp/                  files being written, renamed into place when whole
//!   photos/                container `photos`
//!     .container           its creation time (seconds since the epoch)
//!     cat.jpg              object `cat.jpg`
//!     2024%2Fjan%2Fdog.jpg object `2024/jan/dog.jpg`
//!     ~3a7f…               an object whose name is too long for a file name,
//!     ~3a7f….name          and that name
//! ```
//!
//! Names are mapped to file names by [`names`]: percent-encoded into a single
//! path component, so no name can reach outside its directory.
//!
//! Every write goes to a new file under `.tmp/`, is fsynced, and is renamed
//! over the object's file (then the directory is fsynced): a reader sees the
//! old value or the new one whole, of concurrent writers the last rename
//! wins, and a write acknowledged to a guest survives a crash. A move is one
//! rename. Every call runs on tokio's blocking pool.

mod names;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use self::names::{FileName, HASHED, NAME_SUFFIX};
use crate::error::{Error, Result};
use crate::store::{BlobStore, ByteRange, ContainerInfo, ObjectId, ObjectInfo, epoch_seconds};

/// The directory of files being written, under the root.
const TMP: &str = ".tmp";
/// The file in a container directory holding its creation time.
const CONTAINER_FILE: &str = ".container";
/// Files under `.tmp/` older than this are left over from a crash, and
/// removed when a store is opened.
const STALE: Duration = Duration::from_secs(3600);

/// A store in a directory.
pub struct FileSystemStore {
    fs: Arc<Fs>,
}

impl FileSystemStore {
    /// Opens (creating it if needed) the store rooted at `root`, and removes
    /// what a crash left half-written.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let fs = Arc::new(Fs { root: root.into() });
        let opened = fs.clone();
        blocking(&fs, move || opened.open()).await?;
        Ok(FileSystemStore { fs })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.fs.root
    }

    async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Fs) -> Result<R> + Send + 'static,
    {
        let fs = self.fs.clone();
        blocking(&self.fs, move || f(&fs)).await
    }
}

async fn blocking<R, F>(fs: &Fs, f: F) -> Result<R>
where
    R: Send + 'static,
    F: FnOnce() -> Result<R> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| Error::backend(format!("{}: {err}", fs.describe())))?
}

/// The synchronous side, run on the blocking pool.
struct Fs {
    root: PathBuf,
}

/// Where an object's bytes (and, for a hashed name, its name) are.
struct ObjectPath {
    data: PathBuf,
    name_file: Option<PathBuf>,
}

impl Fs {
    fn describe(&self) -> String {
        format!("file-system blob store at {}", self.root.display())
    }

    fn io(&self, action: &str, path: &Path, err: io::Error) -> Error {
        Error::backend(format!(
            "{}: could not {action} {}: {err}",
            self.describe(),
            path.display()
        ))
    }

    fn open(&self) -> Result<()> {
        let tmp = self.root.join(TMP);
        fs::create_dir_all(&tmp).map_err(|e| self.io("create directory", &tmp, e))?;
        let entries = fs::read_dir(&tmp).map_err(|e| self.io("read directory", &tmp, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > STALE);
            if stale {
                let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
            }
        }
        Ok(())
    }

    fn container_dir(&self, name: &str) -> PathBuf {
        self.root.join(FileName::of(name).as_str())
    }

    /// The container's directory, failing if there is none.
    fn existing_container(&self, name: &str) -> Result<PathBuf> {
        let dir = self.container_dir(name);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::no_such_container(name))
        }
    }

    fn object_path(dir: &Path, object: &str) -> ObjectPath {
        let file = FileName::of(object);
        ObjectPath {
            data: dir.join(file.as_str()),
            name_file: file.name_file().map(|n| dir.join(n)),
        }
    }

    /// A fresh path under `.tmp/`.
    fn tmp_path(&self) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.root
            .join(TMP)
            .join(format!("{}-{n}", std::process::id()))
    }

    /// Writes a new file under `.tmp/` with what `fill` writes, fsynced.
    fn write_tmp(&self, fill: impl FnOnce(&mut File) -> io::Result<()>) -> Result<PathBuf> {
        let tmp = self.tmp_path();
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut file| {
                fill(&mut file)?;
                file.sync_all()
            });
        match written {
            Ok(()) => Ok(tmp),
            Err(err) => {
                let _ = fs::remove_file(&tmp);
                Err(self.io("write", &tmp, err))
            }
        }
    }

    /// Renames the whole file `tmp` to `dest` in container `container`,
    /// then fsyncs the container's directory.
    fn commit(&self, tmp: &Path, dest: &Path, container: &str) -> Result<()> {
        if let Err(err) = fs::rename(tmp, dest) {
            let _ = fs::remove_file(tmp);
            return Err(match err.kind() {
                io::ErrorKind::NotFound => Error::no_such_container(container),
                _ => self.io("write", dest, err),
            });
        }
        if let Some(dir) = dest.parent() {
            self.sync_dir(dir)?;
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io("sync directory", dir, e))
    }

    /// Writes the file holding a hashed object's name.
    fn write_name_file(&self, name_file: &Path, object: &str, container: &str) -> Result<()> {
        let tmp = self.write_tmp(|f| f.write_all(object.as_bytes()))?;
        self.commit(&tmp, name_file, container)
    }

    /// The opened file of an object, or which of container and object is missing.
    fn open_object(&self, container: &str, object: &str) -> Result<(File, PathBuf)> {
        let dir = self.container_dir(container);
        let path = Self::object_path(&dir, object).data;
        match File::open(&path) {
            Ok(file) => Ok((file, path)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(if dir.is_dir() {
                Error::no_such_object(container, object)
            } else {
                Error::no_such_container(container)
            }),
            Err(err) => Err(self.io("open", &path, err)),
        }
    }

    fn create_container(&self, name: &str) -> Result<ContainerInfo> {
        let dir = self.container_dir(name);
        if dir.is_dir() {
            return self.container_info(name);
        }
        let created_at = epoch_seconds(SystemTime::now());
        let tmp = self.tmp_path();
        let made = fs::create_dir(&tmp)
            .and_then(|()| fs::write(tmp.join(CONTAINER_FILE), created_at.to_string()))
            .and_then(|()| File::open(tmp.join(CONTAINER_FILE))?.sync_all());
        if let Err(err) = made {
            let _ = fs::remove_dir_all(&tmp);
            return Err(self.io("create container directory", &tmp, err));
        }
        match fs::rename(&tmp, &dir) {
            Ok(()) => {
                self.sync_dir(&self.root)?;
                Ok(ContainerInfo {
                    name: name.to_string(),
                    created_at,
                })
            }
            // Created meanwhile by another writer: that one stands.
            Err(_) if dir.is_dir() => {
                let _ = fs::remove_dir_all(&tmp);
                self.container_info(name)
            }
            Err(err) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(self.io("create container directory", &dir, err))
            }
        }
    }

    fn container_info(&self, name: &str) -> Result<ContainerInfo> {
        let dir = self.existing_container(name)?;
        let recorded = fs::read_to_string(dir.join(CONTAINER_FILE))
            .ok()
            .and_then(|text| text.trim().parse().ok());
        // A directory made by hand has no `.container`: its time will do.
        let created_at = match recorded {
            Some(seconds) => seconds,
            None => fs::metadata(&dir)
                .and_then(|m| m.modified())
                .map(epoch_seconds)
                .map_err(|e| self.io("read", &dir, e))?,
        };
        Ok(ContainerInfo {
            name: name.to_string(),
            created_at,
        })
    }

    fn delete_container(&self, name: &str) -> Result<()> {
        let dir = self.existing_container(name)?;
        // Out of sight at once, then removed.
        let tmp = self.tmp_path();
        match fs::rename(&dir, &tmp) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(Error::no_such_container(name));
            }
            Err(err) => return Err(self.io("delete container directory", &dir, err)),
        }
        self.sync_dir(&self.root)?;
        fs::remove_dir_all(&tmp).map_err(|e| self.io("remove", &tmp, e))
    }

    fn write_object(&self, container: &str, object: &str, data: &[u8]) -> Result<()> {
        let dir = self.existing_container(container)?;
        let path = Self::object_path(&dir, object);
        if let Some(name_file) = &path.name_file {
            self.write_name_file(name_file, object, container)?;
        }
        let tmp = self.write_tmp(|f| f.write_all(data))?;
        self.commit(&tmp, &path.data, container)
    }

    fn read_object(
        &self,
        container: &str,
        object: &str,
        range: ByteRange,
        max_len: u64,
    ) -> Result<Bytes> {
        let (file, path) = self.open_object(container, object)?;
        let size = file
            .metadata()
            .map_err(|e| self.io("read", &path, e))?
            .len();
        let (start, len) = range.within(size);
        if len > max_len {
            return Err(Error::TooLarge {
                container: container.to_string(),
                object: object.to_string(),
                len,
                max: max_len,
            });
        }
        let mut buf = vec![0; usize::try_from(len).expect("at most max_object_size")];
        file.read_exact_at(&mut buf, start)
            .map_err(|e| self.io("read", &path, e))?;
        Ok(buf.into())
    }

    fn object_info(&self, container: &str, object: &str) -> Result<ObjectInfo> {
        let (file, path) = self.open_object(container, object)?;
        let meta = file.metadata().map_err(|e| self.io("read", &path, e))?;
        Ok(ObjectInfo {
            name: object.to_string(),
            container: container.to_string(),
            created_at: meta.modified().map(epoch_seconds).unwrap_or(0),
            size: meta.len(),
        })
    }

    fn has_object(&self, container: &str, object: &str) -> Result<bool> {
        let dir = self.existing_container(container)?;
        Ok(Self::object_path(&dir, object).data.is_file())
    }

    fn delete_object(&self, container: &str, object: &str) -> Result<()> {
        let dir = self.existing_container(container)?;
        let path = Self::object_path(&dir, object);
        self.remove_if_present(&path.data)?;
        if let Some(name_file) = &path.name_file {
            self.remove_if_present(name_file)?;
        }
        self.sync_dir(&dir)
    }

    fn remove_if_present(&self, path: &Path) -> Result<()> {
        match fs::remove_file(path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(self.io("delete", path, err)),
            _ => Ok(()),
        }
    }

    fn list_objects(&self, container: &str) -> Result<Vec<String>> {
        let dir = self.existing_container(container)?;
        let entries = fs::read_dir(&dir).map_err(|e| self.io("read directory", &dir, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io("read directory", &dir, e))?;
            let Ok(file) = entry.file_name().into_string() else {
                continue;
            };
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let name = if file.starts_with(HASHED) {
                if file.ends_with(NAME_SUFFIX) {
                    continue;
                }
                // A hashed object is listed once its name file is there
                // and matches.
                match fs::read_to_string(dir.join(format!("{file}{NAME_SUFFIX}"))) {
                    Ok(name) if names::hashed_matches(&file, &name) => Some(name),
                    _ => None,
                }
            } else {
                names::decode(&file)
            };
            names.extend(name);
        }
        names.sort();
        Ok(names)
    }

    fn clear(&self, container: &str) -> Result<()> {
        let dir = self.existing_container(container)?;
        let entries = fs::read_dir(&dir).map_err(|e| self.io("read directory", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.io("read directory", &dir, e))?;
            let hidden = entry.file_name().as_encoded_bytes().starts_with(b".");
            if !hidden && entry.file_type().is_ok_and(|t| t.is_file()) {
                self.remove_if_present(&entry.path())?;
            }
        }
        self.sync_dir(&dir)
    }

    /// The paths of `src` (which must exist) and `dest` (whose container
    /// must).
    fn source_and_destination(
        &self,
        src: &ObjectId,
        dest: &ObjectId,
    ) -> Result<(ObjectPath, ObjectPath)> {
        let src_dir = self.container_dir(&src.container);
        let src_path = Self::object_path(&src_dir, &src.object);
        if !src_path.data.is_file() {
            return Err(if src_dir.is_dir() {
                Error::no_such_object(&src.container, &src.object)
            } else {
                Error::no_such_container(&src.container)
            });
        }
        let dest_dir = self.existing_container(&dest.container)?;
        Ok((src_path, Self::object_path(&dest_dir, &dest.object)))
    }

    fn copy_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()> {
        let (_, dest_path) = self.source_and_destination(src, dest)?;
        if src == dest {
            return Ok(());
        }
        let (mut from, _) = self.open_object(&src.container, &src.object)?;
        if let Some(name_file) = &dest_path.name_file {
            self.write_name_file(name_file, &dest.object, &dest.container)?;
        }
        let tmp = self.write_tmp(|to| io::copy(&mut from, to).map(drop))?;
        self.commit(&tmp, &dest_path.data, &dest.container)
    }

    fn move_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()> {
        let (src_path, dest_path) = self.source_and_destination(src, dest)?;
        if src == dest {
            return Ok(());
        }
        if let Some(name_file) = &dest_path.name_file {
            self.write_name_file(name_file, &dest.object, &dest.container)?;
        }
        fs::rename(&src_path.data, &dest_path.data).map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => Error::no_such_object(&src.container, &src.object),
            _ => self.io("move", &src_path.data, err),
        })?;
        if let Some(name_file) = &src_path.name_file {
            self.remove_if_present(name_file)?;
        }
        for path in [&dest_path.data, &src_path.data] {
            if let Some(dir) = path.parent() {
                self.sync_dir(dir)?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for FileSystemStore {
    fn describe(&self) -> String {
        self.fs.describe()
    }

    async fn create_container(&self, name: &str) -> Result<ContainerInfo> {
        let name = name.to_string();
        self.run(move |fs| fs.create_container(&name)).await
    }

    async fn container_info(&self, name: &str) -> Result<ContainerInfo> {
        let name = name.to_string();
        self.run(move |fs| fs.container_info(&name)).await
    }

    async fn container_exists(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.run(move |fs| Ok(fs.container_dir(&name).is_dir()))
            .await
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.run(move |fs| fs.delete_container(&name)).await
    }

    async fn write_object(&self, container: &str, object: &str, data: Bytes) -> Result<()> {
        let (container, object) = (container.to_string(), object.to_string());
        self.run(move |fs| fs.write_object(&container, &object, &data))
            .await
    }

    async fn read_object(
        &self,
        container: &str,
        object: &str,
        range: ByteRange,
        max_len: u64,
    ) -> Result<Bytes> {
        let (container, object) = (container.to_string(), object.to_string());
        self.run(move |fs| fs.read_object(&container, &object, range, max_len))
            .await
    }

    async fn object_info(&self, container: &str, object: &str) -> Result<ObjectInfo> {
        let (container, object) = (container.to_string(), object.to_string());
        self.run(move |fs| fs.object_info(&container, &object))
            .await
    }

    async fn has_object(&self, container: &str, object: &str) -> Result<bool> {
        let (container, object) = (container.to_string(), object.to_string());
        self.run(move |fs| fs.has_object(&container, &object)).await
    }

    async fn delete_object(&self, container: &str, object: &str) -> Result<()> {
        let (container, object) = (container.to_string(), object.to_string());
        self.run(move |fs| fs.delete_object(&container, &object))
            .await
    }

    async fn delete_objects(&self, container: &str, objects: &[String]) -> Result<()> {
        let (container, objects) = (container.to_string(), objects.to_vec());
        self.run(move |fs| {
            objects
                .iter()
                .try_for_each(|object| fs.delete_object(&container, object))
        })
        .await
    }

    async fn list_objects(&self, container: &str) -> Result<Vec<String>> {
        let container = container.to_string();
        self.run(move |fs| fs.list_objects(&container)).await
    }

    async fn clear(&self, container: &str) -> Result<()> {
        let container = container.to_string();
        self.run(move |fs| fs.clear(&container)).await
    }

    async fn copy_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()> {
        let (src, dest) = (src.clone(), dest.clone());
        self.run(move |fs| fs.copy_object(&src, &dest)).await
    }

    async fn move_object(&self, src: &ObjectId, dest: &ObjectId) -> Result<()> {
        let (src, dest) = (src.clone(), dest.clone());
        self.run(move |fs| fs.move_object(&src, &dest)).await
    }
}
