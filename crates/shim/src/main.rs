//! `containerd-shim-skiff-v1`: the containerd shim for runtime `io.containerd.skiff.v1`.
//!
//! containerd starts this binary (found on its `PATH`) for every task whose runtime is
//! `io.containerd.skiff.v1`; see `docs/kubernetes.md`.

use containerd_shim_skiff::SkiffShim;
use containerd_shim_wasm::shim::Cli as _;

/// The allocator `skiff` serves requests with (mimalloc; see
/// [`skiff_runtime::Allocator`]), so an app serves the same under containerd.
#[global_allocator]
static GLOBAL: skiff_runtime::Allocator = skiff_runtime::Allocator;

fn main() {
    skiff_engine::disable_transparent_huge_pages();
    SkiffShim::run(None);
}
