//! Precompiled components in containerd's content store (runwasi's `Compiler` hook).
//!
//! The first container of an image with wasm layers makes runwasi call
//! [`SkiffCompiler::compile`] in the shim; the result is stored in containerd's content
//! store under `runwasi.io/precompiled/skiff/<cache key>` and handed back, with
//! `precompiled = true`, to every later container of the image. The artifact is a
//! [`PrecompiledBundle`]: the original wasm plus wasmtime's serialized code, made with
//! the engine settings `skiff-runtime` uses for that kind of workload. In the
//! container the bundle seeds Skiff's ordinary AOT cache, so loading goes through the
//! same digest-checked code as `skiff up` and compiles nothing.
//!
//! A Skiff app artifact's component layers are compiled with the engine settings
//! `serve` picks for that app (its largest component memory limit sizes the pool's
//! slots). Its other layers (the manifest, static files, file tars) "compile" to
//! themselves: runwasi only trusts the content store once every layer of the image
//! has a precompiled entry, and an identical blob is stored once.

use std::path::Path;

use anyhow::{Context, Result, bail};
use containerd_shim_wasm::sandbox::context::WasmLayer;
use containerd_shim_wasm::shim::Compiler;
use skiff_engine::{EngineOptions, SkiffEngine, WasmKind};

use crate::workload::{Kind, component_kind};

const MAGIC: &[u8; 8] = b"SKIFFAOT";
const FORMAT: u8 = 3;

/// The engine settings `skiff-runtime` uses for a workload of this kind: `serve`'s
/// for HTTP components (pooling, 1000 instances — the default of `ServeConfig::new` —
/// and memories of `max_memory` bytes, 128 MiB for a component without limits,
/// concurrency support only when the workload needs it), `run_command`'s otherwise.
fn engine_options(kind: Kind, max_memory: Option<u64>, concurrency: bool) -> EngineOptions {
    match kind {
        Kind::Http => EngineOptions {
            pooling: true,
            max_instances: 1000,
            max_memory_size: max_memory.unwrap_or(skiff_manifest::Limits::default().memory),
            fuel: false,
            cache_dir: None,
            concurrency,
        },
        Kind::Command => EngineOptions {
            pooling: false,
            fuel: false,
            cache_dir: None,
            ..EngineOptions::default()
        },
    }
}

/// Compiles wasm layers with Skiff's engines.
pub struct SkiffCompiler {
    http: SkiffEngine,
    http_plain: SkiffEngine,
    command: SkiffEngine,
}

impl SkiffCompiler {
    /// Builds the engines: serving with and without concurrency support, and commands.
    pub fn new() -> Result<Self> {
        Ok(SkiffCompiler {
            http: SkiffEngine::new(engine_options(Kind::Http, None, true))?,
            http_plain: SkiffEngine::new(engine_options(Kind::Http, None, false))?,
            command: SkiffEngine::new(engine_options(Kind::Command, None, true))?,
        })
    }

    /// Compiles one layer into a bundle; `None` when it already is one.
    pub fn compile_layer(&self, wasm: &[u8]) -> Result<Option<Vec<u8>>> {
        if wasm.starts_with(MAGIC) {
            return Ok(None);
        }
        let kind = component_kind(wasm)?;
        let concurrency = kind == Kind::Command || skiff_engine::needs_concurrency(wasm);
        let engine = match kind {
            Kind::Http if concurrency => &self.http,
            Kind::Http => &self.http_plain,
            Kind::Command => &self.command,
        };
        compile_with(engine, kind, None, concurrency, wasm).map(Some)
    }

    /// Compiles the component layers of a Skiff app artifact, with the engine
    /// `serve` builds for that app; every other layer is its own precompiled form.
    pub fn compile_app(&self, layers: &[WasmLayer]) -> Result<Vec<Option<Vec<u8>>>> {
        let data: Vec<_> = layers
            .iter()
            .map(|l| skiff_oci::LayerData {
                media_type: media_type(l),
                digest: l.config.digest().as_ref(),
                data: &l.layer,
            })
            .collect();
        let dir = tempfile::tempdir().context("could not create a temporary directory")?;
        let manifest = skiff_oci::materialize_app_layers(&data, dir.path())?;
        let app = skiff_manifest::load(&manifest)?;
        let max_memory = app.components.values().map(|c| c.limits.memory).max();
        let concurrency = skiff_runtime::needs_concurrency(&app, None);
        let engine = SkiffEngine::new(engine_options(Kind::Http, max_memory, concurrency))?;
        layers
            .iter()
            .map(|layer| {
                if !is_wasm_layer(layer) {
                    return Ok(Some(layer.layer.clone()));
                }
                if layer.layer.starts_with(MAGIC) {
                    return Ok(None);
                }
                compile_with(&engine, Kind::Http, max_memory, concurrency, &layer.layer)
                    .map(Some)
                    .with_context(|| {
                        format!("could not precompile wasm layer {}", layer.config.digest())
                    })
            })
            .collect()
    }
}

/// A layer's media type, as its manifest descriptor gives it.
pub(crate) fn media_type(layer: &WasmLayer) -> &str {
    layer.config.media_type().as_ref()
}

fn is_wasm_layer(layer: &WasmLayer) -> bool {
    crate::WASM_LAYER_TYPES.contains(&media_type(layer))
}

fn compile_with(
    engine: &SkiffEngine,
    kind: Kind,
    max_memory: Option<u64>,
    concurrency: bool,
    wasm: &[u8],
) -> Result<Vec<u8>> {
    let wasm_kind = skiff_engine::detect_kind(wasm)?;
    let engine = engine.engine();
    let code = match wasm_kind {
        WasmKind::Component => engine.precompile_component(wasm),
        WasmKind::Module => engine.precompile_module(wasm),
    }
    .map_err(anyhow::Error::from)
    .context("could not compile")?;
    Ok(PrecompiledBundle {
        kind,
        wasm_kind,
        max_memory,
        concurrency,
        wasm,
        code: &code,
    }
    .encode())
}

impl Compiler for SkiffCompiler {
    fn cache_key(&self) -> impl std::hash::Hash {
        (
            env!("CARGO_PKG_VERSION"),
            FORMAT,
            self.http.engine().precompile_compatibility_hash(),
            self.http_plain.engine().precompile_compatibility_hash(),
            self.command.engine().precompile_compatibility_hash(),
        )
    }

    async fn compile(&self, layers: &[WasmLayer]) -> Result<Vec<Option<Vec<u8>>>> {
        let is_app = layers
            .iter()
            .any(|l| media_type(l) == skiff_oci::media_types::APP_MANIFEST);
        if is_app {
            return self.compile_app(layers);
        }
        layers
            .iter()
            .map(|layer| {
                self.compile_layer(&layer.layer).with_context(|| {
                    format!("could not precompile wasm layer {}", layer.config.digest())
                })
            })
            .collect()
    }
}

/// A precompiled layer: the original wasm and its machine code.
///
/// Layout: `SKIFFAOT`, format byte, kind byte, concurrency byte (0 or 1), pool
/// memory size (u64 LE, 0 for the default), wasm length (u64 LE), wasm, code.
#[derive(Debug)]
pub struct PrecompiledBundle<'a> {
    /// HTTP component or command (picks the engine settings).
    pub kind: Kind,
    /// Component or core module.
    pub wasm_kind: WasmKind,
    /// The pool's memory slot size the code was made for (HTTP), when not the default.
    pub max_memory: Option<u64>,
    /// Whether the code was made for an engine with concurrency support.
    pub concurrency: bool,
    /// The original wasm bytes.
    pub wasm: &'a [u8],
    /// wasmtime's serialized code for `wasm`.
    pub code: &'a [u8],
}

impl<'a> PrecompiledBundle<'a> {
    /// Serializes the bundle.
    pub fn encode(&self) -> Vec<u8> {
        let tag = match (self.kind, self.wasm_kind) {
            (Kind::Http, WasmKind::Component) => 1,
            (Kind::Command, WasmKind::Component) => 2,
            (_, WasmKind::Module) => 3,
        };
        let mut out = Vec::with_capacity(26 + self.wasm.len() + self.code.len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.push(tag);
        out.push(u8::from(self.concurrency));
        out.extend_from_slice(&self.max_memory.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&(self.wasm.len() as u64).to_le_bytes());
        out.extend_from_slice(self.wasm);
        out.extend_from_slice(self.code);
        out
    }

    /// Parses a bundle made by [`PrecompiledBundle::encode`].
    pub fn decode(bytes: &'a [u8]) -> Result<Self> {
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            bail!("not a Skiff precompiled bundle (no `SKIFFAOT` header)");
        };
        let [format, tag, concurrency, rest @ ..] = rest else {
            bail!("truncated bundle header");
        };
        if *format != FORMAT {
            bail!("bundle format {format} is not the supported format {FORMAT}");
        }
        let (kind, wasm_kind) = match tag {
            1 => (Kind::Http, WasmKind::Component),
            2 => (Kind::Command, WasmKind::Component),
            3 => (Kind::Command, WasmKind::Module),
            other => bail!("unknown bundle kind {other}"),
        };
        let concurrency = match concurrency {
            0 => false,
            1 => true,
            other => bail!("invalid concurrency flag {other} in the bundle header"),
        };
        let (max_memory, rest) = rest
            .split_first_chunk::<8>()
            .context("truncated bundle header")?;
        let max_memory = Some(u64::from_le_bytes(*max_memory)).filter(|m| *m != 0);
        let (len, rest) = rest
            .split_first_chunk::<8>()
            .context("truncated bundle header")?;
        let len = usize::try_from(u64::from_le_bytes(*len)).context("bundle too large")?;
        if rest.len() < len {
            bail!(
                "truncated bundle: {len} wasm bytes announced, {} present",
                rest.len()
            );
        }
        let (wasm, code) = rest.split_at(len);
        Ok(PrecompiledBundle {
            kind,
            wasm_kind,
            max_memory,
            concurrency,
            wasm,
            code,
        })
    }

    /// Stores the code as the AOT cache entry the runtime will look up for `wasm`
    /// under `cache_dir` (nothing to do when caching is off).
    pub fn seed_cache(&self, cache_dir: Option<&Path>) -> Result<()> {
        let Some(dir) = cache_dir else {
            return Ok(());
        };
        let engine = SkiffEngine::new(EngineOptions {
            cache_dir: Some(dir.to_path_buf()),
            ..engine_options(self.kind, self.max_memory, self.concurrency)
        })?;
        let cache = engine.cache().context("the AOT cache is disabled")?;
        cache
            .insert(self.wasm_kind, self.wasm, self.code)
            .with_context(|| format!("could not seed the AOT cache in `{}`", dir.display()))?;
        Ok(())
    }
}
