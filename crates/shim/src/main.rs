//! `containerd-shim-skiff-v1`: the containerd shim for runtime `io.containerd.skiff.v1`.
//!
//! containerd starts this binary (found on its `PATH`) for every task whose runtime is
//! `io.containerd.skiff.v1`; see `docs/kubernetes.md`.

use containerd_shim_skiff::SkiffShim;
use containerd_shim_wasm::shim::Cli as _;

fn main() {
    skiff_engine::disable_transparent_huge_pages();
    SkiffShim::run(None);
}
