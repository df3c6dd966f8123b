//! What each component source file held when it was last read, so that starting
//! an app whose files have not changed reads none of them.
//!
//! A warm start needs three facts about a source: its SHA-256 (which names its
//! AOT cache entry), what kind of artifact it makes, and whether it needs an
//! engine with concurrency support. Getting them means reading and hashing the
//! whole file: noise for hello (115 KB), but ~60 ms of every start for a 40 MB
//! guest (a componentize-py or ComponentizeJS app), twice what the rest of a
//! warm start costs. The index keeps them in `<cache dir>/sources/`, one small
//! record per source path, tied to the file's identity: device, inode, size,
//! modification time and status-change time. A record is used only while all
//! five still match what `stat` says.
//!
//! Why that is safe: any write to a file, and any `touch` or `utime` that resets
//! its modification time, sets its status-change time (ctime) to the current
//! time, which user space cannot choose. The one gap is a write that lands in
//! the same timestamp tick as the ctime already recorded (timestamps advance in
//! coarse ticks, milliseconds on Linux). So a file is recorded only once its
//! ctime and mtime are [`SETTLE`] in the past: a later write then cannot share
//! its tick. A file fresh from a build is simply read and hashed, as without the
//! index. A file system that reports no ctime is never recorded.
//!
//! A network file system that caches attributes may show a change made on
//! another machine late, to this index as to any other reader; removing
//! `<cache dir>/sources/` (or `--no-cache`) makes every source be read again.
//!
//! The index is an optimisation only: a record that is missing, damaged, stale or
//! unwritable means the file is read, never that a load fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::cache::Artifact;

/// How old a file's last change must be before its facts are recorded.
pub const SETTLE: Duration = Duration::from_secs(2);

/// What a component source file holds, as far as loading it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFacts {
    /// The AOT cache artifact the file makes.
    pub(crate) artifact: Artifact,
    /// SHA-256 of the file's bytes.
    pub(crate) digest: [u8; 32],
    /// Whether it needs an engine with concurrency support
    /// ([`crate::needs_concurrency`]).
    pub concurrency: bool,
}

impl SourceFacts {
    /// The facts of `bytes`; `None` if they make no component (a core module
    /// without embedded WIT, or not WebAssembly).
    pub fn of(bytes: &[u8]) -> Option<SourceFacts> {
        let artifact = match crate::detect_kind(bytes).ok()? {
            crate::WasmKind::Component => Artifact::Component,
            crate::WasmKind::Module if crate::componentize::has_component_type(bytes) => {
                Artifact::Componentized
            }
            crate::WasmKind::Module => return None,
        };
        Some(SourceFacts {
            artifact,
            digest: Sha256::digest(bytes).into(),
            concurrency: crate::needs_concurrency(bytes),
        })
    }
}

/// A file's identity as `stat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    /// The identity in `meta`; `None` for anything but a regular file, or on a
    /// file system that reports no ctime.
    pub(crate) fn of(meta: &std::fs::Metadata) -> Option<Identity> {
        use std::os::unix::fs::MetadataExt;
        if !meta.is_file() || (meta.ctime() == 0 && meta.ctime_nsec() == 0) {
            return None;
        }
        Some(Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// The identity as space-separated fields: dev, inode, size, mtime (s, ns), ctime (s, ns).
    pub(crate) fn fields(&self) -> String {
        let Identity {
            dev,
            ino,
            size,
            mtime,
            ctime,
        } = self;
        format!(
            "{dev} {ino} {size} {} {} {} {}",
            mtime.0, mtime.1, ctime.0, ctime.1
        )
    }

    /// Whether the file's last change is at least `settle` before `now`.
    pub(crate) fn settled(&self, now: SystemTime, settle: Duration) -> bool {
        let Ok(now) = now.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        let latest = self.mtime.max(self.ctime);
        let (Ok(secs), Ok(nanos)) = (u64::try_from(latest.0), u32::try_from(latest.1)) else {
            return false;
        };
        now.checked_sub(Duration::new(secs, nanos))
            .is_some_and(|age| age >= settle)
    }
}

/// Whether the component at `path` needs an engine with concurrency support
/// ([`crate::needs_concurrency`]): from `index`'s record when the file is
/// unchanged, else by reading it. A file that cannot be read answers `true`;
/// loading it reports the real error.
pub fn source_needs_concurrency(index: Option<&SourceIndex>, path: &Path) -> bool {
    match index.and_then(|index| index.lookup(path)) {
        Some(facts) => facts.concurrency,
        None => std::fs::read(path).map_or(true, |bytes| crate::needs_concurrency(&bytes)),
    }
}

/// The record directory (`<cache dir>/sources/`).
#[derive(Debug, Clone)]
pub struct SourceIndex {
    dir: PathBuf,
    settle: Duration,
}

const MAGIC: &str = "skiff-source-v1";

impl SourceIndex {
    /// The index kept in `dir` (created on first record).
    pub fn new(dir: PathBuf) -> SourceIndex {
        SourceIndex {
            dir,
            settle: SETTLE,
        }
    }

    /// The index of the cache directory `cache_dir` (its `sources/`).
    pub fn in_cache_dir(cache_dir: &Path) -> SourceIndex {
        SourceIndex::new(cache_dir.join("sources"))
    }

    /// An index that records files once they are `settle` old (tests use a short one).
    pub fn with_settle(dir: PathBuf, settle: Duration) -> SourceIndex {
        SourceIndex { dir, settle }
    }

    /// The recorded facts of `path`, if its record still matches the file.
    /// Costs a `stat`, a `realpath` and one small read; never reads the file.
    pub fn lookup(&self, path: &Path) -> Option<SourceFacts> {
        let canonical = std::fs::canonicalize(path).ok()?;
        let identity = Identity::of(&std::fs::metadata(&canonical).ok()?)?;
        let record = std::fs::read_to_string(self.record_path(&canonical)).ok()?;
        let (recorded, facts) = parse(&record, &canonical)?;
        (recorded == identity).then_some(facts)
    }

    /// Reads `path`, recording its facts when the file is settled, makes a
    /// component, and did not change while it was read.
    pub fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        let before = std::fs::metadata(path)?;
        let bytes = std::fs::read(path)?;
        let Some(identity) =
            Identity::of(&before).filter(|i| i.settled(SystemTime::now(), self.settle))
        else {
            return Ok(bytes);
        };
        let facts = SourceFacts::of(&bytes);
        let unchanged = std::fs::metadata(path)
            .ok()
            .and_then(|after| Identity::of(&after))
            .is_some_and(|after| after == identity);
        if let (Some(facts), true) = (facts, unchanged)
            && let Err(err) = self.record(path, identity, &facts)
        {
            tracing::debug!(source = %path.display(), "could not record source facts: {err}");
        }
        Ok(bytes)
    }

    fn record(&self, path: &Path, identity: Identity, facts: &SourceFacts) -> std::io::Result<()> {
        let canonical = std::fs::canonicalize(path)?;
        std::fs::create_dir_all(&self.dir)?;
        let artifact = facts.artifact as u8;
        let concurrency = u8::from(facts.concurrency);
        let digest = hex::encode(facts.digest);
        let line = format!(
            "{MAGIC} {} {artifact} {concurrency} {digest} {}\n",
            identity.fields(),
            canonical.display()
        );
        crate::cache::write_atomic(&self.record_path(&canonical), line.as_bytes())
            .map_err(std::io::Error::other)
    }

    fn record_path(&self, canonical: &Path) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let key = Sha256::digest(canonical.as_os_str().as_bytes());
        self.dir.join(hex::encode(&key[..16]))
    }
}

/// A record's identity and facts; `None` unless it is well formed and names `canonical`.
fn parse(record: &str, canonical: &Path) -> Option<(Identity, SourceFacts)> {
    let line = record.strip_suffix('\n')?;
    let mut fields = line.splitn(13, ' ');
    let mut next = || fields.next();
    if next()? != MAGIC {
        return None;
    }
    let dev = next()?.parse().ok()?;
    let ino = next()?.parse().ok()?;
    let size = next()?.parse().ok()?;
    let mtime = (next()?.parse().ok()?, next()?.parse().ok()?);
    let ctime = (next()?.parse().ok()?, next()?.parse().ok()?);
    let artifact = match next()? {
        "1" => Artifact::Component,
        "3" => Artifact::Componentized,
        _ => return None,
    };
    let concurrency = match next()? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let digest = hex::decode(next()?).ok()?.try_into().ok()?;
    if Path::new(next()?) != canonical {
        return None;
    }
    let identity = Identity {
        dev,
        ino,
        size,
        mtime,
        ctime,
    };
    Some((
        identity,
        SourceFacts {
            artifact,
            digest,
            concurrency,
        },
    ))
}

/// Overwrites `path` in place with `data` and puts its modification time back,
/// as a careless tool might: only the ctime then shows the change.
#[cfg(test)]
pub(crate) fn rewrite_keeping_mtime(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mtime = std::fs::metadata(path)?.modified()?;
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    std::io::Write::write_all(&mut &file, data)?;
    file.set_modified(mtime)?;
    drop(file);
    assert_eq!(std::fs::metadata(path)?.modified()?, mtime);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &str = r#"(component (core module (func (export "f"))))"#;
    const OTHER: &str = r#"(component (core module (func (export "g"))))"#;

    /// A short settle time, waited out, so tests need not wait two seconds.
    const SHORT: Duration = Duration::from_millis(50);

    fn settled_file(dir: &Path, wat: &str) -> PathBuf {
        let path = dir.join("app.wasm");
        std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
        std::thread::sleep(SHORT * 2);
        path
    }

    /// An index in `dir` that has recorded a settled component at `dir/app.wasm`.
    fn recorded(dir: &Path) -> (SourceIndex, PathBuf) {
        let index = SourceIndex::with_settle(dir.join("sources"), SHORT);
        let path = settled_file(dir, COMPONENT);
        index.read(&path).unwrap();
        (index, path)
    }

    #[test]
    fn a_settled_file_is_recorded_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let index = SourceIndex::with_settle(dir.path().join("sources"), SHORT);
        let path = settled_file(dir.path(), COMPONENT);
        assert_eq!(index.lookup(&path), None);
        let bytes = index.read(&path).unwrap();
        let facts = index
            .lookup(&path)
            .expect("a settled component is recorded");
        assert_eq!(facts, SourceFacts::of(&bytes).unwrap());
        assert_eq!(facts.artifact, Artifact::Component);
        assert!(!facts.concurrency);
        assert_eq!(index.lookup(&path), Some(facts));
        // Through another spelling of the same path, too.
        let dotted = dir.path().join(".").join("app.wasm");
        assert_eq!(index.lookup(&dotted), Some(facts));
    }

    #[test]
    fn a_fresh_file_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let index = SourceIndex::new(dir.path().join("sources"));
        let path = dir.path().join("app.wasm");
        std::fs::write(&path, wat::parse_str(COMPONENT).unwrap()).unwrap();
        index.read(&path).unwrap();
        assert_eq!(
            index.lookup(&path),
            None,
            "a file changed within {SETTLE:?} is not recorded"
        );
    }

    #[test]
    fn a_rewrite_with_the_old_size_and_mtime_misses() {
        let dir = tempfile::tempdir().unwrap();
        let (index, path) = recorded(dir.path());
        assert!(index.lookup(&path).is_some());
        // Same length, different bytes, and the old modification time put back:
        // only the status-change time tells.
        let other = wat::parse_str(OTHER).unwrap();
        assert_eq!(
            other.len(),
            std::fs::metadata(&path).unwrap().len() as usize
        );
        rewrite_keeping_mtime(&path, &other).unwrap();
        assert_eq!(index.lookup(&path), None);
    }

    #[test]
    fn a_replaced_file_misses() {
        let dir = tempfile::tempdir().unwrap();
        let (index, path) = recorded(dir.path());
        let next = dir.path().join("next.wasm");
        std::fs::write(&next, wat::parse_str(OTHER).unwrap()).unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(index.lookup(&path), None);
    }

    /// `record` with its field `i` (0-based, space-separated) replaced by `value`.
    fn field(record: &str, i: usize, value: &str) -> String {
        let mut fields: Vec<&str> = record.trim_end().split(' ').collect();
        fields[i] = value;
        fields.join(" ") + "\n"
    }

    #[test]
    fn damaged_or_foreign_records_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (index, path) = recorded(dir.path());
        let canonical = std::fs::canonicalize(&path).unwrap();
        let record = index.record_path(&canonical);
        let good = std::fs::read_to_string(&record).unwrap();
        for bad in [
            String::new(),
            good.trim_end().to_string(),
            good.replacen(MAGIC, "skiff-source-v0", 1),
            good.replace(&canonical.display().to_string(), "/elsewhere/app.wasm"),
            field(&good, 8, "9"),
            field(&good, 9, "2"),
            field(&good, 10, "00"),
            field(&good, 3, "x"),
            good[..good.len() / 2].to_string() + "\n",
        ] {
            std::fs::write(&record, &bad).unwrap();
            assert_eq!(index.lookup(&path), None, "record {bad:?}");
        }
        std::fs::write(&record, &good).unwrap();
        assert!(index.lookup(&path).is_some());
    }

    #[test]
    fn a_plain_core_module_has_no_facts() {
        let dir = tempfile::tempdir().unwrap();
        let index = SourceIndex::with_settle(dir.path().join("sources"), SHORT);
        let path = settled_file(dir.path(), "(module)");
        index.read(&path).unwrap();
        assert_eq!(index.lookup(&path), None);
    }
}
