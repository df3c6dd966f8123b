//! `containerd-shim-skiff-v1`: Skiff as a containerd runtime (`io.containerd.skiff.v1`).
//!
//! Built on runwasi's [`containerd_shim_wasm`]: it owns the containerd shim protocol
//! and the container lifecycle (youki's libcontainer sets up namespaces, cgroups,
//! the rootfs and stdio), then calls [`SkiffSandbox`] inside the container to run the
//! workload with the same code as `skiff up` / `skiff run` (the `skiff-runtime` crate:
//! same engine, capabilities, limits and AOT cache). What runs is decided from the
//! container's entrypoint ([`Workload`]):
//!
//! - a `skiff.toml` / `spin.toml` (or a directory holding one) in the image rootfs →
//!   the whole app is served;
//! - a component exporting `wasi:http/incoming-handler` → served on `0.0.0.0:80`
//!   (`SKIFF_HTTP_LISTEN` in the container env overrides it; `SKIFF_METRICS`
//!   adds a Prometheus `/metrics` listener);
//! - a `wasi:cli/run` component or a WASI preview1 module → run to completion, its exit
//!   code is the task's.
//!
//! The workload may also come from the layers of an OCI artifact (runwasi's
//! `Source::Oci`): a Skiff app artifact (`skiff push` of an app; its layers are
//! materialized with `skiff-oci` and the app is served as above) or a CNCF Wasm OCI
//! artifact (one `application/wasm` layer: an HTTP component or a command). Wasm
//! layers are precompiled once per image through runwasi's
//! [`Compiler`](containerd_shim_wasm::shim::Compiler) hook ([`SkiffCompiler`]) and kept
//! in containerd's content store.
//!
//! The container env becomes the process env (so the `SKIFF_VARIABLE_*` /
//! `SPIN_VARIABLE_*` variables provider sees it) and, for single components, the
//! guest's env; the args after the entrypoint are a command's args. Output goes to the
//! container's stdout/stderr; SIGTERM (`ctr task kill`, pod deletion) stops serving
//! after in-flight requests drain (`SKIFF_SHUTDOWN_GRACE`, default 10s).

#![deny(missing_docs)]

mod precompile;
mod workload;

use anyhow::Result;
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::sandbox::context::RuntimeContext;
use containerd_shim_wasm::shim::{Shim, Version, version};

pub use precompile::{PrecompiledBundle, SkiffCompiler};
pub use workload::{Kind, Workload, component_kind};

/// OCI layer media types whose content is a Wasm component or module.
pub const WASM_LAYER_TYPES: [&str; 2] = [
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
    "application/wasm",
];

/// OCI layer media types of Skiff's app artifact (`docs/oci.md`, written by
/// `skiff push`), besides its `application/wasm` component layers.
pub const APP_LAYER_TYPES: [&str; 3] = [
    skiff_oci::media_types::APP_MANIFEST,
    skiff_oci::media_types::FILE_LAYER,
    skiff_oci::media_types::FILES_TAR_LAYER,
];

/// Every layer media type the shim asks runwasi for: wasm layers and the layers of
/// a Skiff app artifact.
pub const SUPPORTED_LAYER_TYPES: [&str; 5] = [
    WASM_LAYER_TYPES[0],
    WASM_LAYER_TYPES[1],
    APP_LAYER_TYPES[0],
    APP_LAYER_TYPES[1],
    APP_LAYER_TYPES[2],
];

/// The shim: runtime `io.containerd.skiff.v1`, binary `containerd-shim-skiff-v1`.
pub struct SkiffShim;

impl Shim for SkiffShim {
    type Sandbox = SkiffSandbox;

    fn name() -> &'static str {
        "skiff"
    }

    fn version() -> Version {
        version!()
    }

    async fn compiler() -> Option<impl containerd_shim_wasm::shim::Compiler> {
        match SkiffCompiler::new() {
            Ok(compiler) => Some(compiler),
            Err(err) => {
                log::warn!("precompilation disabled: {err:#}");
                None
            }
        }
    }

    fn supported_layers_types() -> &'static [&'static str] {
        &SUPPORTED_LAYER_TYPES
    }
}

/// Runs one container's workload, inside the container (after libcontainer has set up
/// its namespaces, rootfs and stdio).
#[derive(Default, Clone)]
pub struct SkiffSandbox;

impl Sandbox for SkiffSandbox {
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> Result<i32> {
        Ok(workload::run_container(ctx))
    }

    /// Accepts every container: a missing or invalid entrypoint is reported by
    /// [`Sandbox::run_wasi`] on the container's own stderr (where `ctr` and
    /// `kubectl logs` show it) with a failing exit code, instead of only in
    /// containerd's log.
    async fn can_handle(&self, _ctx: &impl RuntimeContext) -> Result<()> {
        Ok(())
    }
}
