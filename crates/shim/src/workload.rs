//! What a container runs, and running it with `skiff-runtime`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source, WasmLayer};
use skiff_host::{InstanceConfig, Stdio};
use skiff_runtime::{CommandConfig, ServeConfig};

use crate::precompile::{PrecompiledBundle, media_type};

/// Default HTTP listen address in a container (`SKIFF_HTTP_LISTEN` overrides it).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:80";

/// Where the shim writes what it generates inside the container (a manifest for a
/// single HTTP component, components from OCI layers, the AOT cache when
/// `SKIFF_CACHE_DIR` is unset).
const SCRATCH_DIR: &str = "/tmp/skiff-shim";

/// What a component is for, from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exports `wasi:http/incoming-handler`: served over HTTP.
    Http,
    /// Exports `wasi:cli/run`, or is a core module: run to completion.
    Command,
}

/// The workload of one container.
#[derive(Debug)]
pub enum Workload {
    /// A Skiff (or Spin) app: the manifest file or the directory holding it.
    App(PathBuf),
    /// A single component or module file.
    Component {
        /// The `.wasm` file (in the rootfs, or written from an OCI layer).
        path: PathBuf,
        /// HTTP or command.
        kind: Kind,
    },
}

/// Tells an HTTP component from a command by its top-level exports; core modules are
/// commands (WASI preview1 `_start`).
pub fn component_kind(bytes: &[u8]) -> Result<Kind> {
    match skiff_engine::detect_kind(bytes)? {
        skiff_engine::WasmKind::Module => return Ok(Kind::Command),
        skiff_engine::WasmKind::Component => {}
    }
    let bytes = if bytes.starts_with(b"\0asm") {
        std::borrow::Cow::Borrowed(bytes)
    } else {
        std::borrow::Cow::Owned(wat::parse_bytes(bytes)?.into_owned())
    };
    let mut depth = 0usize;
    let (mut http, mut run) = (false, false);
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        match payload.context("the component could not be parsed")? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentExportSection(exports) if depth == 0 => {
                for export in exports {
                    let name = export?.name.name;
                    http |= name.starts_with("wasi:http/incoming-handler@");
                    run |= name.starts_with("wasi:cli/run@");
                }
            }
            _ => {}
        }
    }
    match (http, run) {
        (true, _) => Ok(Kind::Http),
        (false, true) => Ok(Kind::Command),
        (false, false) => bail!(
            "the component exports neither `wasi:http/incoming-handler` (to be served) nor `wasi:cli/run` (to be run)"
        ),
    }
}

impl Workload {
    /// Decides what to run from the container's entrypoint: wasm layers of the image,
    /// else the first argument (a manifest, a directory holding one, or a `.wasm`
    /// file), else a manifest in the working directory.
    pub fn from_context(ctx: &impl RuntimeContext) -> Result<Self> {
        match ctx.entrypoint().source {
            Source::Oci(layers) => Self::from_layers(layers),
            Source::File(path) => Self::from_path(&path),
        }
    }

    /// Decides from the image's layers (runwasi hands over those of the types
    /// [`crate::SUPPORTED_LAYER_TYPES`] lists): a Skiff app artifact (it has an app
    /// manifest layer) is materialized into the container's scratch space with
    /// skiff-oci, the way `skiff pull` does; otherwise the single wasm layer is the
    /// component (the CNCF Wasm OCI artifact).
    fn from_layers(layers: &[WasmLayer]) -> Result<Self> {
        let dir = Path::new(SCRATCH_DIR);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create `{}` in the container", dir.display()))?;
        let is_app = layers
            .iter()
            .any(|l| media_type(l) == skiff_oci::media_types::APP_MANIFEST);
        if is_app {
            return Self::app_from_layers(layers, &dir.join("artifact"));
        }
        let wasm_layers: Vec<_> = layers
            .iter()
            .filter(|l| crate::WASM_LAYER_TYPES.contains(&media_type(l)))
            .collect();
        let [layer] = wasm_layers.as_slice() else {
            bail!(
                "the image has {} wasm layers and no Skiff app manifest layer (`{}`); a single component runs from one wasm layer, an app from a Skiff app artifact (`skiff push`) or a skiff.toml in the image rootfs",
                wasm_layers.len(),
                skiff_oci::media_types::APP_MANIFEST,
            );
        };
        let wasm = layer_wasm(layer)?;
        let kind = component_kind(&wasm).with_context(|| {
            format!(
                "wasm layer {} ({}) is not a runnable component",
                layer.config.digest(),
                media_type(layer)
            )
        })?;
        let path = dir.join("component.wasm");
        std::fs::write(&path, &wasm)
            .with_context(|| format!("could not write `{}`", path.display()))?;
        Ok(Workload::Component { path, kind })
    }

    /// Materializes a Skiff app artifact's layers into `dir`.
    fn app_from_layers(layers: &[WasmLayer], dir: &Path) -> Result<Self> {
        let contents = layers
            .iter()
            .map(|layer| {
                if crate::WASM_LAYER_TYPES.contains(&media_type(layer)) {
                    layer_wasm(layer)
                } else {
                    // Non-wasm layers are their own precompiled form.
                    Ok(layer.layer.clone())
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let data: Vec<_> = layers
            .iter()
            .zip(&contents)
            .map(|(layer, data)| skiff_oci::LayerData {
                media_type: media_type(layer),
                digest: layer.config.digest().as_ref(),
                data,
            })
            .collect();
        let manifest = skiff_oci::materialize_app_layers(&data, dir)
            .context("could not unpack the Skiff app artifact of the image")?;
        Ok(Workload::App(manifest))
    }

    /// Decides from a path in the container's filesystem.
    pub fn from_path(path: &Path) -> Result<Self> {
        let path = if path.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            path.to_path_buf()
        };
        let meta = std::fs::metadata(&path).with_context(|| {
            format!(
                "the container's entrypoint `{}` does not exist in the image",
                path.display()
            )
        })?;
        let is_manifest = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"));
        if meta.is_dir() || is_manifest {
            return Ok(Workload::App(path));
        }
        let bytes = std::fs::read(&path)
            .with_context(|| format!("could not read the entrypoint `{}`", path.display()))?;
        let kind = component_kind(&bytes).with_context(|| {
            format!(
                "the entrypoint `{}` is not a runnable WebAssembly component or module",
                path.display()
            )
        })?;
        Ok(Workload::Component { path, kind })
    }
}

/// The wasm of a layer: the layer itself, or the original wasm of a precompiled
/// bundle (whose machine code then seeds the AOT cache).
fn layer_wasm(layer: &WasmLayer) -> Result<Vec<u8>> {
    if !layer.precompiled {
        return Ok(layer.layer.clone());
    }
    let bundle = PrecompiledBundle::decode(&layer.layer).with_context(|| {
        format!(
            "the precompiled form of layer {} from containerd's content store is unreadable",
            layer.config.digest()
        )
    })?;
    bundle.seed_cache(cache_dir().as_deref())?;
    Ok(bundle.wasm.to_vec())
}

/// Runs the container's workload and returns its exit code; errors are printed on
/// the container's stderr.
pub(crate) fn run_container(ctx: &impl RuntimeContext) -> i32 {
    let envs: Vec<(String, String)> = ctx
        .envs()
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    set_process_env(&envs);
    // Logs, and traces when the container's `OTEL_*` variables ask for them.
    let telemetry = match skiff_telemetry::init_logging("info") {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("skiff: error: {err}");
            return 1;
        }
    };
    let args = ctx.args().iter().skip(1).cloned().collect::<Vec<_>>();
    let result = Workload::from_context(ctx).and_then(|workload| {
        // skiff-runtime builds its own tokio runtime: run it on a fresh thread, not
        // inside runwasi's ambient runtime.
        std::thread::Builder::new()
            .name("skiff".into())
            .spawn(move || run(workload, envs, args))
            .context("could not start the workload thread")?
            .join()
            .map_err(|_| anyhow::anyhow!("the workload thread panicked"))?
    });
    if let Some(telemetry) = telemetry
        && !telemetry.shutdown(std::time::Duration::from_secs(5))
    {
        tracing::warn!("OpenTelemetry: not every span was exported before exit");
    }
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("skiff: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            1
        }
    }
}

fn run(workload: Workload, envs: Vec<(String, String)>, args: Vec<String>) -> Result<i32> {
    match workload {
        Workload::App(path) => {
            let mut app = skiff_manifest::load(&path)?;
            if let Some(dir) = cache_dir() {
                skiff_oci::fetch_dependencies(&mut app, &skiff_oci::Cache::new(dir))?;
            }
            serve(app, None)
        }
        Workload::Component {
            path,
            kind: Kind::Http,
        } => {
            // An app of that one component at `/...`, named after the file, as
            // `skiff up app.wasm` serves it, with the container's env as its own.
            let mut app = skiff_manifest::load(&path)?;
            for component in app.components.values_mut() {
                component.environment.extend(envs.iter().cloned());
            }
            // Its state (it is granted none) would go beside the file, in the
            // image's rootfs, which may be read-only: the scratch space instead.
            serve(app, Some(Path::new(SCRATCH_DIR).join("state")))
        }
        Workload::Component {
            path,
            kind: Kind::Command,
        } => run_command(path, envs, args),
    }
}

fn serve(app: skiff_manifest::App, state_dir: Option<PathBuf>) -> Result<i32> {
    let listen: SocketAddr = std::env::var("SKIFF_HTTP_LISTEN")
        .unwrap_or_else(|_| DEFAULT_LISTEN.to_string())
        .parse()
        .context("SKIFF_HTTP_LISTEN is not an address like `0.0.0.0:8080`")?;
    let mut config = ServeConfig::new(app, listen);
    config.cache_dir = cache_dir();
    config.state_dir = state_dir;
    if let Ok(grace) = std::env::var("SKIFF_SHUTDOWN_GRACE") {
        config.shutdown_grace = skiff_manifest::parse_duration(&grace)
            .map_err(|e| anyhow::anyhow!("SKIFF_SHUTDOWN_GRACE=`{grace}`: {e}"))?;
    }
    if let Ok(at) = std::env::var("SKIFF_METRICS") {
        config.metrics = Some(at.parse().with_context(|| {
            format!("SKIFF_METRICS=`{at}` is not an address like `0.0.0.0:9090`")
        })?);
    }
    skiff_runtime::serve_blocking(config, skiff_runtime::shutdown_signal)?;
    tracing::info!("stopped");
    Ok(0)
}

fn run_command(path: PathBuf, envs: Vec<(String, String)>, args: Vec<String>) -> Result<i32> {
    // SIGTERM/SIGINT end a command at once (a container's init process ignores
    // signals it has no handler for, so without this only SIGKILL would stop it).
    std::thread::Builder::new()
        .name("skiff-signals".into())
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime
                && let Ok(signal) = runtime.block_on(async { skiff_runtime::shutdown_signal() })
            {
                runtime.block_on(signal);
                eprintln!("skiff: stopped by signal");
                std::process::exit(143);
            }
        })
        .context("could not start the signal thread")?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "guest".into());
    let mut instance = InstanceConfig::new(&name);
    instance.stdio = Stdio::Inherit;
    instance.args = std::iter::once(name).chain(args).collect();
    instance.env = envs;
    let exit = skiff_runtime::run_command(CommandConfig {
        file: path,
        instance,
        timeout: None,
        cache_dir: cache_dir(),
    })?;
    if let Some(stopped) = &exit.stopped {
        eprintln!("skiff: {stopped:#}");
    }
    Ok(i32::from(exit.code))
}

/// The AOT cache directory: `SKIFF_CACHE_DIR` (mount a volume there to share it
/// between containers), else a directory in the container's scratch space.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("SKIFF_CACHE_DIR") {
        Some(dir) if dir.is_empty() => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => Some(Path::new(SCRATCH_DIR).join("cache")),
    }
}

/// Makes the container's env the process env: libcontainer leaves env handling to
/// the shim (runwasi's executor does not set it), and the variables provider reads
/// `SKIFF_VARIABLE_*` / `SPIN_VARIABLE_*` from the process env. The shim's own env
/// (containerd's) is dropped so it never leaks into the app.
fn set_process_env(envs: &[(String, String)]) {
    let inherited: Vec<_> = std::env::vars_os().map(|(k, _)| k).collect();
    for key in inherited {
        // SAFETY: this runs first in the container's init process (forked from the
        // shim by libcontainer), before the shim starts any thread of its own there;
        // nothing reads the env concurrently.
        unsafe { std::env::remove_var(key) };
    }
    for (key, value) in envs {
        if key.is_empty() || key.contains('\0') || value.contains('\0') {
            continue;
        }
        // SAFETY: as above.
        unsafe { std::env::set_var(key, value) };
    }
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: as above. Routine guest errors must not capture host backtraces.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}
