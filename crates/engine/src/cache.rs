//! The on-disk AOT cache of compiled components.
//!
//! Each entry is `<key>.cwasm` (wasmtime's serialized component) beside
//! `<key>.xxh3` (the hex XXH3-128 checksum of that file). The key is
//! `sha256(engine precompile-compatibility hash ‖ sha256(component bytes))`, so a
//! different wasmtime, different engine settings or different component bytes never
//! share an entry. An entry is used only after its checksum matches; a mismatch (a
//! truncated write, a flipped bit, a foreign file) is logged, deleted and recompiled.
//! Once an entry has passed and is 2 s old, `<key>.checked` records the file's
//! identity (inode, size, mtime, ctime), and while that still holds the entry is
//! not read again (see `verify`).
//!
//! The key is a cryptographic digest because it names *which* code runs. The
//! checksum only has to catch damage: whoever can rewrite an entry can rewrite its
//! checksum too, so a cryptographic one would buy nothing, and XXH3 checks a large
//! entry at memory speed on every start (SHA-256 cost ~0.25 ms for hello's 350 KB).
//! A verified entry is mapped straight from the file (`deserialize_file`): no copy,
//! and processes serving the same app share its code pages through the page cache.
//! That is sound because entries are never modified in place: writes go to a
//! temporary file that is renamed over the entry, so readers, and mappings, never
//! see half an entry. Entries of the earlier `.sha256` format are dropped and
//! recompiled as a plain miss.

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::Module;
use wasmtime::component::Component;
use xxhash_rust::xxh3::Xxh3;

use crate::sources::Identity;
use crate::{LoadedComponent, WasmKind};

/// Where a loaded component's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid cache entry was used; nothing was compiled.
    Hit,
    /// No entry existed; the component was compiled and stored.
    Miss,
    /// An entry existed but failed its digest or could not be deserialized; it was
    /// discarded and the component recompiled.
    Corrupt,
    /// Caching is disabled.
    Disabled,
}

/// A directory of compiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct AotCache {
    dir: PathBuf,
    engine_hash: [u8; 32],
    /// How old an entry must be before a passed check is recorded.
    settle: std::time::Duration,
}

impl AotCache {
    /// A cache rooted at `dir` (created on first write) for `engine`.
    pub fn new(dir: PathBuf, engine: &wasmtime::Engine) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        AotCache {
            dir,
            engine_hash: hasher.0.finalize().into(),
            settle: crate::sources::SETTLE,
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the entry for these component bytes (it may not exist).
    pub fn entry_path(&self, bytes: &[u8]) -> PathBuf {
        self.path_for(Artifact::Component, bytes)
    }

    fn path_for(&self, kind: Artifact, bytes: &[u8]) -> PathBuf {
        self.entry_for(kind, &Sha256::digest(bytes).into())
    }

    /// The entry for an artifact of `kind` made from bytes whose SHA-256 is `digest`.
    fn entry_for(&self, kind: Artifact, digest: &[u8; 32]) -> PathBuf {
        let mut key = Sha256::new();
        key.update(self.engine_hash);
        key.update([kind as u8]);
        key.update(digest);
        let ext = match kind {
            Artifact::Component | Artifact::Componentized | Artifact::Composed => "cwasm",
            Artifact::Module => "cwasm-module",
        };
        self.dir
            .join(format!("{}.{ext}", hex::encode(key.finalize())))
    }

    /// Returns the compiled component, from a verified entry or by compiling and storing it.
    pub fn load_or_compile(
        &self,
        engine: &wasmtime::Engine,
        bytes: &[u8],
    ) -> Result<LoadedComponent> {
        let (component, cache) = self.fetch(
            Artifact::Component,
            bytes,
            |data| engine.precompile_component(data),
            // SAFETY: only called on bytes this engine's `precompile_component` produced.
            |data| unsafe { Component::deserialize(engine, data) },
            // SAFETY: only called on an entry whose recorded checksum matches, and
            // entries are replaced by rename, never modified in place.
            |path| unsafe { Component::deserialize_file(engine, path) },
        )?;
        Ok(LoadedComponent { component, cache })
    }

    /// Returns the component made from a core module with embedded WIT (see
    /// [`crate::componentize`]), keyed by the module's bytes: a hit skips both
    /// the encoding and the compilation.
    pub fn load_or_componentize(
        &self,
        engine: &wasmtime::Engine,
        module: &[u8],
    ) -> Result<LoadedComponent> {
        let (component, cache) = self.fetch(
            Artifact::Componentized,
            module,
            |data| {
                let component = crate::componentize::componentize(data)
                    .map_err(wasmtime::Error::from_anyhow)?;
                engine.precompile_component(&component)
            },
            // SAFETY: only called on bytes this engine's `precompile_component` produced.
            |data| unsafe { Component::deserialize(engine, data) },
            // SAFETY: as in `load_or_compile`.
            |path| unsafe { Component::deserialize_file(engine, path) },
        )?;
        Ok(LoadedComponent { component, cache })
    }

    /// Returns the component `compose` makes, from the entry named by
    /// `recipe` (see [`crate::compose`]) or by composing, compiling and
    /// storing it; `compose` runs only on a miss.
    pub(crate) fn load_or_compose(
        &self,
        engine: &wasmtime::Engine,
        recipe: &[u8],
        compose: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<LoadedComponent> {
        let (component, cache) = self.fetch(
            Artifact::Composed,
            recipe,
            |_| {
                let composed = compose().map_err(wasmtime::Error::from_anyhow)?;
                engine.precompile_component(&composed)
            },
            // SAFETY: only called on bytes this engine's `precompile_component` produced.
            |data| unsafe { Component::deserialize(engine, data) },
            // SAFETY: as in `load_or_compile`.
            |path| unsafe { Component::deserialize_file(engine, path) },
        )?;
        Ok(LoadedComponent { component, cache })
    }

    /// Returns the compiled core module, from a verified entry or by compiling and storing it.
    pub fn load_or_compile_module(
        &self,
        engine: &wasmtime::Engine,
        bytes: &[u8],
    ) -> Result<(Module, CacheOutcome)> {
        self.fetch(
            Artifact::Module,
            bytes,
            |data| engine.precompile_module(data),
            // SAFETY: as above, for `precompile_module` output.
            |data| unsafe { Module::deserialize(engine, data) },
            // SAFETY: as in `load_or_compile`.
            |path| unsafe { Module::deserialize_file(engine, path) },
        )
    }

    fn fetch<T>(
        &self,
        kind: Artifact,
        bytes: &[u8],
        precompile: impl FnOnce(&[u8]) -> wasmtime::Result<Vec<u8>>,
        deserialize: impl Fn(&[u8]) -> wasmtime::Result<T>,
        deserialize_file: impl FnOnce(&Path) -> wasmtime::Result<T>,
    ) -> Result<(T, CacheOutcome)> {
        let path = self.path_for(kind, bytes);
        let outcome = match self.lookup(&path, deserialize_file) {
            Found::Hit(value) => return Ok((value, CacheOutcome::Hit)),
            Found::Absent => CacheOutcome::Miss,
            Found::Discarded => CacheOutcome::Corrupt,
        };
        let serialized = precompile(bytes)
            .map_err(anyhow::Error::from)
            .context("could not compile")?;
        if let Err(err) = self.store(&path, &serialized) {
            tracing::warn!(entry = %path.display(), "could not write AOT cache entry: {err:#}");
        }
        let value = deserialize(&serialized)
            .map_err(anyhow::Error::from)
            .context("could not load freshly compiled code")?;
        Ok((value, outcome))
    }

    /// The value in the entry at `path` once it has passed its checksum; a
    /// damaged entry, or one that does not deserialize, is discarded.
    fn lookup<T>(
        &self,
        path: &Path,
        deserialize_file: impl FnOnce(&Path) -> wasmtime::Result<T>,
    ) -> Found<T> {
        let damage = match verify(path, self.settle) {
            Ok(false) => return Found::Absent,
            Ok(true) => match deserialize_file(path) {
                Ok(value) => {
                    tracing::debug!(entry = %path.display(), "aot cache hit");
                    return Found::Hit(value);
                }
                Err(err) => anyhow::Error::from(err).context("could not deserialize entry"),
            },
            Err(err) => err,
        };
        self.discard(path, &damage);
        Found::Discarded
    }

    /// The component in the entry for `facts` (a source's recorded digest and
    /// kind, see [`crate::sources`]), found without the source's bytes.
    pub(crate) fn load_indexed(
        &self,
        engine: &wasmtime::Engine,
        facts: &crate::sources::SourceFacts,
    ) -> Found<LoadedComponent> {
        let path = self.entry_for(facts.artifact, &facts.digest);
        // SAFETY: as in `load_or_compile`.
        match self.lookup(&path, |path| unsafe {
            Component::deserialize_file(engine, path)
        }) {
            Found::Hit(component) => Found::Hit(LoadedComponent {
                component,
                cache: CacheOutcome::Hit,
            }),
            Found::Absent => Found::Absent,
            Found::Discarded => Found::Discarded,
        }
    }

    fn discard(&self, path: &Path, err: &anyhow::Error) {
        tracing::warn!(entry = %path.display(), "discarding AOT cache entry: {err:#}; recompiling");
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(digest_path(path));
        let _ = std::fs::remove_file(checked_path(path));
    }

    /// Compiles `bytes` into the cache (if not already there) and returns the entry path.
    pub fn precompile(
        &self,
        engine: &wasmtime::Engine,
        bytes: &[u8],
    ) -> Result<(PathBuf, CacheOutcome)> {
        let loaded = self.load_or_compile(engine, bytes)?;
        Ok((self.entry_path(bytes), loaded.cache))
    }

    /// Stores `serialized` — this engine's `precompile_component` output for `bytes`
    /// (`precompile_module` for a [`WasmKind::Module`]), made elsewhere with the same
    /// engine settings (the containerd shim keeps it in containerd's content store) —
    /// as the entry for `bytes`, so the next load is a [`CacheOutcome::Hit`]. Loading
    /// still checks the entry's digest, and wasmtime rejects code compiled for another
    /// engine configuration (the entry is then discarded and recompiled).
    pub fn insert(&self, kind: WasmKind, bytes: &[u8], serialized: &[u8]) -> Result<PathBuf> {
        let artifact = match kind {
            WasmKind::Component => Artifact::Component,
            WasmKind::Module => Artifact::Module,
        };
        let path = self.path_for(artifact, bytes);
        self.store(&path, serialized)?;
        Ok(path)
    }

    fn store(&self, path: &Path, serialized: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("could not create `{}`", self.dir.display()))?;
        write_atomic(path, serialized)?;
        write_atomic(&digest_path(path), checksum_hex(serialized).as_bytes())
    }
}

/// What a cache lookup found.
pub(crate) enum Found<T> {
    /// A verified entry, loaded.
    Hit(T),
    /// No entry.
    Absent,
    /// A damaged entry, now removed.
    Discarded,
}

/// The hex XXH3-128 checksum of `data`.
fn checksum_hex(data: &[u8]) -> String {
    hex::encode(xxhash_rust::xxh3::xxh3_128(data).to_be_bytes())
}

/// Whether a usable entry exists at `path`: `Ok(true)` once its contents match
/// its recorded checksum, `Ok(false)` if there is none (an entry of the earlier
/// `.sha256` format is removed and counts as none), an error if it is damaged.
/// The entry is streamed through the checksum, not read into memory: a hit is then
/// mapped from the file.
///
/// Reading a large entry costs: ~4.5 ms of every start for a guest with 40 MB of
/// data. So once an entry has passed, its identity (inode, size, mtime, ctime;
/// see [`crate::sources`]) goes in `<key>.checked`, and while the file still
/// has that identity it is not read again. Whatever replaces, truncates or
/// rewrites the entry through the file system changes its ctime and so is
/// caught as before; only media corruption under an unchanged file is left to
/// the file system's own checks.
fn verify(path: &Path, settle: std::time::Duration) -> Result<bool> {
    let checked = checked_path(path);
    let expected = match std::fs::read_to_string(digest_path(path)) {
        Ok(digest) => digest,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let legacy = path.with_extension("sha256");
            if legacy.exists() {
                tracing::debug!(entry = %path.display(), "dropping an entry of the old cache format");
                let _ = std::fs::remove_file(path);
                let _ = std::fs::remove_file(legacy);
                return Ok(false);
            }
            return if path.exists() {
                Err(anyhow::anyhow!("entry has no checksum file"))
            } else {
                Ok(false)
            };
        }
        Err(e) => return Err(e).context("could not read checksum file"),
    };
    let expected = expected.trim();
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(anyhow::anyhow!("checksum file has no entry"));
        }
        Err(e) => return Err(e).context("could not open entry"),
    };
    let identity = file.metadata().ok().and_then(|m| Identity::of(&m));
    if let Some(identity) = identity
        && std::fs::read_to_string(&checked).is_ok_and(|r| r == checked_record(identity, expected))
    {
        return Ok(true);
    }
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; 128 << 10];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("could not read entry"),
        }
    }
    let actual = hex::encode(hasher.digest128().to_be_bytes());
    if actual != expected {
        anyhow::bail!("checksum mismatch: expected xxh3-128:{expected}, found xxh3-128:{actual}");
    }
    if let Some(identity) = identity
        && identity.settled(std::time::SystemTime::now(), settle)
        && let Err(err) = write_atomic(&checked, checked_record(identity, expected).as_bytes())
    {
        tracing::debug!(entry = %path.display(), "could not record the checked entry: {err:#}");
    }
    Ok(true)
}

/// The `.checked` record of an entry with `identity` that matched `checksum`.
fn checked_record(identity: Identity, checksum: &str) -> String {
    format!("{} {checksum}\n", identity.fields())
}

/// The record beside an entry saying which file passed its checksum.
fn checked_path(entry: &Path) -> PathBuf {
    entry.with_extension("checked")
}

/// What kind of compiled artifact an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Artifact {
    Component = 1,
    Module = 2,
    /// A core module with embedded WIT, turned into a component.
    Componentized = 3,
    /// A component composed with its dependencies, keyed by its recipe.
    Composed = 4,
}

/// The checksum file beside an entry.
fn digest_path(entry: &Path) -> PathBuf {
    entry.with_extension("xxh3")
}

pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(data)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)
        .with_context(|| format!("could not rename into `{}`", path.display()))?;
    Ok(())
}

fn tempfile_in(dir: &Path) -> Result<(PathBuf, std::fs::File)> {
    for attempt in 0..100u32 {
        let name = format!(
            ".tmp-{}-{}-{attempt}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("could not create a file in `{}`", dir.display()));
            }
        }
    }
    anyhow::bail!("could not create a temporary file in `{}`", dir.display())
}

/// Feeds `Hash` output into sha256 so the key is stable across processes.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        unreachable!("only used through finalize")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(component (core module (func (export "f"))))"#;

    fn engine() -> wasmtime::Engine {
        wasmtime::Engine::default()
    }

    /// Where `load_or_compile` found the code for `bytes`.
    fn outcome(cache: &AotCache, engine: &wasmtime::Engine, bytes: &[u8]) -> Result<CacheOutcome> {
        Ok(cache.load_or_compile(engine, bytes)?.cache)
    }

    #[test]
    fn a_settled_entry_is_checked_once_until_it_changes() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let engine = engine();
        let mut cache = AotCache::new(dir.path().join("aot"), &engine);
        cache.settle = std::time::Duration::from_millis(50);
        let bytes = wat::parse_str(WAT)?;
        let entry = cache.entry_path(&bytes);
        let checked = checked_path(&entry);
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Miss);
        // Fresh from the compiler: checked, but not recorded as checked.
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Hit);
        assert!(!checked.exists());
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Hit);
        let record = std::fs::read_to_string(&checked)?;
        let checksum = std::fs::read_to_string(digest_path(&entry))?;
        assert!(
            record.ends_with(&format!(" {}\n", checksum.trim())),
            "{record}"
        );
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Hit);
        // Damaged in place with its mtime put back: the ctime still tells, so the
        // record no longer vouches for it and the checksum catches the damage.
        let mut data = std::fs::read(&entry)?;
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
        crate::sources::rewrite_keeping_mtime(&entry, &data)?;
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Corrupt);
        assert!(!checked.exists(), "discarding an entry drops its record");
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Hit);
        Ok(())
    }

    #[test]
    fn miss_then_hit_then_corrupt() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let engine = engine();
        let cache = AotCache::new(dir.path().join("aot"), &engine);
        let bytes = wat::parse_str(WAT)?;
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Miss);
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Hit);
        // Flip a byte in the middle of the entry: the checksum no longer matches.
        let entry = cache.entry_path(&bytes);
        let mut data = std::fs::read(&entry)?;
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
        std::fs::write(&entry, &data)?;
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Corrupt);
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Hit);
        Ok(())
    }

    #[test]
    fn entry_without_checksum_is_corrupt() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let engine = engine();
        let cache = AotCache::new(dir.path().join("aot"), &engine);
        let bytes = wat::parse_str(WAT)?;
        cache.load_or_compile(&engine, &bytes)?;
        let entry = cache.entry_path(&bytes);
        std::fs::remove_file(digest_path(&entry))?;
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Corrupt);
        assert!(
            digest_path(&entry).exists(),
            "the entry was rewritten whole"
        );
        Ok(())
    }

    #[test]
    fn old_format_entry_is_a_quiet_miss() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let engine = engine();
        let cache = AotCache::new(dir.path().join("aot"), &engine);
        let bytes = wat::parse_str(WAT)?;
        let entry = cache.entry_path(&bytes);
        std::fs::create_dir_all(entry.parent().unwrap())?;
        std::fs::write(&entry, engine.precompile_component(&bytes)?)?;
        let legacy = entry.with_extension("sha256");
        std::fs::write(&legacy, "00")?;
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Miss);
        assert!(!legacy.exists(), "the old checksum file is gone");
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Hit);
        Ok(())
    }

    #[test]
    fn inserted_entry_is_a_hit() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let engine = engine();
        let cache = AotCache::new(dir.path().join("aot"), &engine);
        let bytes = wat::parse_str(WAT)?;
        let code = engine.precompile_component(&bytes)?;
        let entry = cache.insert(WasmKind::Component, &bytes, &code)?;
        assert_eq!(entry, cache.entry_path(&bytes));
        assert_eq!(outcome(&cache, &engine, &bytes)?, CacheOutcome::Hit);
        Ok(())
    }

    #[test]
    fn different_bytes_different_entries() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let engine = engine();
        let cache = AotCache::new(dir.path().to_path_buf(), &engine);
        let a = wat::parse_str(WAT)?;
        let b = wat::parse_str(r#"(component (core module (func (export "g"))))"#)?;
        assert_ne!(cache.entry_path(&a), cache.entry_path(&b));
        Ok(())
    }
}
