//! Integration tests of `containerd-shim-skiff-v1` under a real containerd.
//!
//! Each test starts its own containerd (Debian's, as root, with a private `--root`,
//! `--state`, socket and tmp dir, the shim's directory first on its `PATH`), builds an
//! ordinary OCI image tarball whose rootfs holds the guest, imports it with
//! `ctr image import` and runs it with `ctr run --runtime io.containerd.skiff.v1`.
//! Without root, containerd or runc the tests fail with the reason.

mod app;
mod cli;
mod containerd;
mod deploy;
mod errors;
mod http;
mod image;
mod precompile;
