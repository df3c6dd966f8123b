//! Integration tests of `containerd-shim-skiff-v1` under a real containerd.
//!
//! Each test starts its own containerd (Debian's, as root, with a private `--root`,
//! `--state`, socket and tmp dir, the shim's directory first on its `PATH`), builds an
//! ordinary OCI image tarball whose rootfs holds the guest, imports it with
//! `ctr image import` and runs it with `ctr run --runtime io.containerd.skiff.v1`.
//! `artifact` runs a Skiff app artifact and CNCF Wasm OCI artifacts built with
//! skiff-oci (created through containerd's API: containerd 1.6.20's client cannot
//! unpack artifacts; see that module). `oci` also runs a Wasm OCI artifact (wasm layer, runwasi's `Source::Oci`); Debian's
//! containerd 1.6.20 cannot unpack wasm layers, so that test registers a stream
//! processor unpacking them to an empty layer. Without root, containerd or runc the
//! tests fail with the reason.

mod app;
mod artifact;
mod cli;
mod containerd;
mod deploy;
mod errors;
mod http;
mod image;
mod oci;
mod precompile;
