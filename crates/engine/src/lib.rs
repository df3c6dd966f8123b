//! Skiff's WebAssembly engine.
//!
//! One [`SkiffEngine`] per process wraps a [`wasmtime::Engine`] configured the way
//! every Skiff entry point needs it:
//!
//! - the **pooling instance allocator**, sized from [`EngineOptions`], probed at start
//!   and replaced by on-demand allocation (with a log line) when the host cannot
//!   reserve the virtual memory;
//! - **epoch interruption** driven by one ticker thread ([`EPOCH_TICK`]), so a guest
//!   stuck in a loop yields to the executor and is stopped at its deadline
//!   ([`deadline`]); it ticks while anything (a component, a store) still holds
//!   the engine, so instances outlive the `SkiffEngine` that made them safely;
//! - optional **fuel** metering;
//! - an on-disk **AOT cache** ([`cache::AotCache`]) keyed by the engine's
//!   precompile-compatibility hash and the component's sha256, whose entries are
//!   checksum-verified before they are mapped from their file, and a
//!   [`SourceIndex`] that finds the entry of an unchanged source file without
//!   reading or hashing it again.
//!
//! ```no_run
//! use skiff_engine::{EngineOptions, SkiffEngine};
//! # fn main() -> anyhow::Result<()> {
//! let engine = SkiffEngine::new(EngineOptions::default())?;
//! let loaded = engine.load_component(std::path::Path::new("app.wasm"))?;
//! println!("cache: {:?}", loaded.cache);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod cache;
/// Component dependencies (see [`skiff_compose`]).
pub use skiff_compose as compose;
pub use skiff_compose::componentize;
pub mod deadline;
mod kind;
pub mod sources;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::component::Component;
use wasmtime::{Config, InstanceAllocationStrategy, Module, PoolingAllocationConfig};

pub use cache::{AotCache, CacheOutcome};
pub use deadline::{DeadlineExceeded, arm_deadline};
pub use kind::{WasmKind, detect_kind, needs_concurrency};
pub use sources::{SourceFacts, SourceIndex};

/// Opts this process out of transparent huge pages (Linux; elsewhere a no-op).
///
/// Call it first thing in `main`, before the process has touched much memory.
/// A huge page is zeroed whole (2 MiB) on its first fault: with THP, mimalloc's
/// first arena pages alone cost ~1 ms of every start-up and ~15 MiB of RSS for
/// hello (measured in BENCHMARKS.md); and on hosts whose THP mode is `always`
/// the pool's linear memories could be backed by huge pages too, where a
/// request that dirties a few KiB would fault in (and reset) whole 2 MiB pages.
pub fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// How often the epoch ticker advances the engine's epoch.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Settings for a [`SkiffEngine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Use the pooling instance allocator (falls back to on-demand if it cannot be reserved).
    pub pooling: bool,
    /// Instances (component and core) that may serve at once from the pool
    /// (which also has room for [`SPARE_INSTANCES`]).
    pub max_instances: u32,
    /// Largest linear memory any instance may have, bytes; sizes the pool's memory slots.
    pub max_memory_size: u64,
    /// Enable fuel metering (costs throughput; only `skiff run --fuel` wants it).
    pub fuel: bool,
    /// Directory of the AOT cache; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
    /// Support concurrent execution (WASI 0.3 and `async func` interfaces).
    /// Without it every host call is cheaper; serve with it off only when no
    /// component [`needs_concurrency`].
    pub concurrency: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            pooling: true,
            max_instances: 1000,
            max_memory_size: 128 << 20,
            fuel: false,
            cache_dir: default_cache_dir(),
            concurrency: true,
        }
    }
}

/// Instances a trigger may hold ready, made ahead of the requests they will
/// serve (one request each, as any instance); the pool has room for them on top
/// of [`EngineOptions::max_instances`].
pub const SPARE_INSTANCES: u32 = 16;

/// The default cache directory: `$SKIFF_CACHE_DIR`, else `$XDG_CACHE_HOME/skiff`, else `~/.cache/skiff`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SKIFF_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("skiff"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("skiff"))
}

/// A compiled component and where its machine code came from.
#[derive(Clone)]
pub struct LoadedComponent {
    /// The ready-to-link component.
    pub component: Component,
    /// Whether the AOT cache served it.
    pub cache: CacheOutcome,
}

/// The process-wide engine: wasmtime engine, epoch ticker and AOT cache.
pub struct SkiffEngine {
    engine: wasmtime::Engine,
    cache: Option<AotCache>,
    sources: Option<SourceIndex>,
    pooling: bool,
}

impl SkiffEngine {
    /// Builds the engine, probing the pooling allocator and starting the epoch ticker.
    pub fn new(options: EngineOptions) -> Result<Self> {
        let mut pooling = options.pooling;
        let engine = if pooling {
            match wasmtime::Engine::new(&config(&options, true)) {
                Ok(engine) => engine,
                Err(err) => {
                    tracing::warn!(
                        "pooling allocator unavailable ({err}); falling back to on-demand instance allocation"
                    );
                    pooling = false;
                    wasmtime::Engine::new(&config(&options, false))
                        .map_err(anyhow::Error::from)
                        .context("could not create the wasmtime engine")?
                }
            }
        } else {
            wasmtime::Engine::new(&config(&options, false))
                .map_err(anyhow::Error::from)
                .context("could not create the wasmtime engine")?
        };
        let cache = options
            .cache_dir
            .as_ref()
            .map(|dir| AotCache::new(dir.join("aot"), &engine));
        let sources = options.cache_dir.as_deref().map(SourceIndex::in_cache_dir);
        spawn_ticker(engine.weak());
        Ok(SkiffEngine {
            engine,
            cache,
            sources,
            pooling,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// Whether instances come from the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.pooling
    }

    /// The AOT cache, when enabled.
    pub fn cache(&self) -> Option<&AotCache> {
        self.cache.as_ref()
    }

    /// Loads a component file, through the AOT cache when enabled. A file
    /// unchanged since the [`SourceIndex`] recorded it is not read at all: its
    /// recorded digest names the cache entry.
    pub fn load_component(&self, path: &Path) -> Result<LoadedComponent> {
        let mut discarded = false;
        if let (Some(cache), Some(facts)) = (
            &self.cache,
            self.sources.as_ref().and_then(|s| s.lookup(path)),
        ) {
            match cache.load_indexed(&self.engine, &facts) {
                cache::Found::Hit(loaded) => return Ok(loaded),
                cache::Found::Absent => {}
                cache::Found::Discarded => discarded = true,
            }
        }
        let bytes = match &self.sources {
            Some(sources) => sources.read(path),
            None => std::fs::read(path),
        }
        .with_context(|| format!("could not read component `{}`", path.display()))?;
        let mut loaded = self
            .load_component_bytes(&bytes)
            .with_context(|| format!("could not load component `{}`", path.display()))?;
        if discarded && loaded.cache == CacheOutcome::Miss {
            loaded.cache = CacheOutcome::Corrupt;
        }
        Ok(loaded)
    }

    /// Compiles (or fetches from the AOT cache) a component from its bytes.
    pub fn load_component_bytes(&self, bytes: &[u8]) -> Result<LoadedComponent> {
        match detect_kind(bytes)? {
            WasmKind::Component => {}
            WasmKind::Module if componentize::has_component_type(bytes) => {
                return match &self.cache {
                    Some(cache) => cache.load_or_componentize(&self.engine, bytes),
                    None => {
                        let component = componentize::componentize(bytes)?;
                        Ok(LoadedComponent {
                            component: Component::new(&self.engine, &component)
                                .map_err(anyhow::Error::from)?,
                            cache: CacheOutcome::Disabled,
                        })
                    }
                };
            }
            WasmKind::Module => anyhow::bail!(
                "this is a core WebAssembly module without embedded WIT type information, so it \
                 cannot be made a component; `skiff up` serves components (build with `--target \
                 wasm32-wasip2`, or run a WASI preview1 command with `skiff run`)"
            ),
        }
        match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, bytes),
            None => Ok(LoadedComponent {
                component: Component::new(&self.engine, bytes).map_err(anyhow::Error::from)?,
                cache: CacheOutcome::Disabled,
            }),
        }
    }

    /// Loads component `id` from `source` composed with its `dependencies`
    /// (see [`compose`]), through the AOT cache when enabled: the entry is
    /// keyed by every file's digest, so a warm start reads the files but
    /// neither composes nor compiles.
    pub fn load_composed(
        &self,
        id: &str,
        source: &Path,
        dependencies: &[compose::Dependency<'_>],
    ) -> Result<LoadedComponent> {
        let (parent, deps) = compose::read_all(source, dependencies, |path| match &self.sources {
            Some(sources) => sources.read(path),
            None => std::fs::read(path),
        })?;
        let compose = || compose::compose(id, &parent, &deps);
        match &self.cache {
            Some(cache) => {
                cache.load_or_compose(&self.engine, &compose::recipe(&parent, &deps), compose)
            }
            None => Ok(LoadedComponent {
                component: Component::new(&self.engine, &compose()?)
                    .map_err(anyhow::Error::from)?,
                cache: CacheOutcome::Disabled,
            }),
        }
    }

    /// Compiles (or fetches from the AOT cache) a core module (WASI preview1 command).
    pub fn load_module_bytes(&self, bytes: &[u8]) -> Result<Module> {
        match &self.cache {
            Some(cache) => Ok(cache.load_or_compile_module(&self.engine, bytes)?.0),
            None => Module::new(&self.engine, bytes).map_err(anyhow::Error::from),
        }
    }
}

fn config(options: &EngineOptions, pooling: bool) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(options.fuel);
    config.concurrency_support(options.concurrency);
    config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Enable);
    if pooling {
        let pagemap = tuning("SKIFF_PAGEMAP_SCAN", 1) != 0
            && PoolingAllocationConfig::is_pagemap_scan_available();
        let max_memory = usize::try_from(options.max_memory_size).unwrap_or(usize::MAX);
        let (keep_memory, keep_table) = if pagemap {
            (max_memory.min(64 << 20), 1 << 20)
        } else {
            (max_memory.min(4 << 20), 64 << 10)
        };
        let mut pool = PoolingAllocationConfig::new();
        // Room for the requests' instances plus the triggers' pre-made spares,
        // so a spare never takes a slot a request could have had.
        let n = options.max_instances.max(1).saturating_add(SPARE_INSTANCES);
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(2))
            .total_memories(n)
            .total_tables(n)
            .total_stacks(n)
            .max_memory_size(usize::try_from(options.max_memory_size).unwrap_or(usize::MAX))
            // Components made by wasm-component-ld carry an adapter and several
            // core instances; leave room for realistic guests.
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            .max_core_instances_per_component(50)
            .max_memories_per_component(10)
            .max_tables_per_component(50)
            // Resetting a slot with `madvise` costs page faults and, in a
            // multi-threaded host, TLB-shootdown IPIs to every core: the single
            // largest per-request cost measured (see BENCHMARKS.md). Keep slots
            // resident and reset them in place instead — with PAGEMAP_SCAN
            // (Linux ≥ 6.7) only the pages a request dirtied are touched, so
            // the whole memory can stay resident; without it, `memset` cost
            // grows with the size kept, so keep a few MiB.
            .linear_memory_keep_resident(tuning("SKIFF_POOL_MEMORY_KEEP_RESIDENT", keep_memory))
            .table_keep_resident(tuning("SKIFF_POOL_TABLE_KEEP_RESIDENT", keep_table))
            .async_stack_keep_resident(tuning("SKIFF_POOL_STACK_KEEP_RESIDENT", 0))
            .decommit_batch_size(tuning("SKIFF_POOL_DECOMMIT_BATCH", 1))
            // Bounds the RSS that resident slots can pin.
            .max_unused_warm_slots(tuning("SKIFF_POOL_WARM_SLOTS", 100) as u32);
        if pagemap {
            pool.pagemap_scan(wasmtime::Enabled::Yes);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}
/// A pooling knob, overridable from the environment for benchmarking experiments.
fn tuning(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until nothing holds the
/// engine any more: not the `SkiffEngine`, and no component, linker or store
/// made from it. A store still running after its `SkiffEngine` was dropped (an
/// app moved to another engine mid-request) is still stopped at its deadline.
fn spawn_ticker(engine: wasmtime::EngineWeak) {
    std::thread::Builder::new()
        .name("skiff-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .expect("could not spawn the epoch ticker thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine caching under `dir`, whose source index records files 50 ms old.
    fn engine(dir: &Path) -> SkiffEngine {
        let mut engine = SkiffEngine::new(EngineOptions {
            pooling: false,
            concurrency: false,
            cache_dir: Some(dir.to_path_buf()),
            ..EngineOptions::default()
        })
        .unwrap();
        engine.sources = Some(SourceIndex::with_settle(
            dir.join("sources"),
            Duration::from_millis(50),
        ));
        engine
    }

    fn write_settled(path: &Path, wat: &str) {
        std::fs::write(path, wat::parse_str(wat).unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }

    fn exports(engine: &SkiffEngine, loaded: &LoadedComponent) -> Vec<String> {
        loaded
            .component
            .component_type()
            .exports(engine.engine())
            .map(|(name, _)| name.to_string())
            .collect()
    }

    #[test]
    fn an_indexed_source_loads_its_entry_and_a_rebuilt_one_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(&dir.path().join("cache"));
        let path = dir.path().join("app.wasm");
        let f = r#"(component (core module $m (func (export "f"))) (core instance $i (instantiate $m)) (func (export "f") (canon lift (core func $i "f"))))"#;
        let g = r#"(component (core module $m (func (export "g"))) (core instance $i (instantiate $m)) (func (export "g") (canon lift (core func $i "g"))))"#;
        write_settled(&path, f);
        let first = engine.load_component(&path).unwrap();
        assert_eq!(first.cache, CacheOutcome::Miss);
        assert!(engine.sources.as_ref().unwrap().lookup(&path).is_some());
        let second = engine.load_component(&path).unwrap();
        assert_eq!(second.cache, CacheOutcome::Hit);
        assert_eq!(exports(&engine, &second), ["f"]);
        // Rebuilt in place, same length: the new code runs, compiled afresh.
        write_settled(&path, g);
        let rebuilt = engine.load_component(&path).unwrap();
        assert_eq!(rebuilt.cache, CacheOutcome::Miss);
        assert_eq!(exports(&engine, &rebuilt), ["g"]);
        assert_eq!(
            exports(&engine, &engine.load_component(&path).unwrap()),
            ["g"]
        );
    }

    #[test]
    fn a_damaged_entry_behind_an_indexed_source_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(&dir.path().join("cache"));
        let path = dir.path().join("app.wasm");
        write_settled(&path, r#"(component (core module (func (export "f"))))"#);
        engine.load_component(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let entry = engine.cache().unwrap().entry_path(&bytes);
        let mut data = std::fs::read(&entry).unwrap();
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
        std::fs::write(&entry, &data).unwrap();
        assert_eq!(
            engine.load_component(&path).unwrap().cache,
            CacheOutcome::Corrupt
        );
        assert_eq!(
            engine.load_component(&path).unwrap().cache,
            CacheOutcome::Hit
        );
    }

    #[test]
    fn without_a_cache_nothing_is_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let engine = SkiffEngine::new(EngineOptions {
            pooling: false,
            concurrency: false,
            cache_dir: None,
            ..EngineOptions::default()
        })
        .unwrap();
        let path = dir.path().join("app.wasm");
        write_settled(&path, r#"(component)"#);
        assert_eq!(
            engine.load_component(&path).unwrap().cache,
            CacheOutcome::Disabled
        );
        assert!(engine.sources.is_none());
    }
}
