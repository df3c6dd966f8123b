//! A throwaway OCI registry (Debian's `docker-registry`, distribution 2.8) on a
//! free loopback port with its own storage directory, optionally behind
//! htpasswd basic auth or bearer tokens from `oci_token_server`; and `wkg` (wasm-pkg-tools) for the interop tests.
//!
//! `docker-registry` and `htpasswd` come from the Debian packages
//! `docker-registry` and `apache2-utils`, which `.ci/run` installs; `wkg` comes
//! from `$SKIFF_TEST_WKG`, `PATH`, or is installed once under cargo's target
//! directory. A missing tool fails the test with the fix, never skips it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use skiff_test_support::{free_port, wait_until_listening};
use tempfile::TempDir;

use crate::oci_token_server::{TokenServer, registry_auth_config};

const INSTALL: &str =
    "install it with `apt-get install -y docker-registry apache2-utils` (.ci/run does)";

/// The wkg version the interop tests use (builds on Rust 1.95).
pub const WKG_VERSION: &str = "0.16.1";

/// How a registry authenticates clients.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    Token(&'a TokenServer),
}

/// A registry started for one test; killed on drop (its storage goes with it).
pub struct OciRegistry {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl OciRegistry {
    /// An open registry (no auth).
    pub fn start() -> Result<Self> {
        Self::launch(Auth::None)
    }

    /// A registry that requires HTTP basic auth as `user`/`password` (bcrypt htpasswd).
    pub fn start_with_auth(user: &str, password: &str) -> Result<Self> {
        Self::launch(Auth::Basic(user, password))
    }

    /// A registry that requires bearer tokens from `tokens` (`auth: token:`):
    /// it sends clients to the token server's realm and accepts only tokens
    /// signed under its certificate, for the scopes they grant.
    pub fn start_with_token_auth(tokens: &TokenServer) -> Result<Self> {
        Self::launch(Auth::Token(tokens))
    }

    fn launch(auth: Auth<'_>) -> Result<Self> {
        let dir = crate::harness::tempdir()?;
        let port = free_port()?;
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage)?;
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Auth::Token(tokens) = auth {
            config.push_str(&registry_auth_config(tokens));
        }
        if let Auth::Basic(user, password) = auth {
            let htpasswd = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-B", "-b", "-n", user, password])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| anyhow!("could not run `htpasswd` ({e}); {INSTALL}"))?;
            ensure!(
                out.status.success(),
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::write(&htpasswd, &out.stdout)?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: skiff-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config)?;
        // It logs every 404 (a HEAD before each upload) at error level: keep its
        // log beside its storage.
        let log = File::create(dir.path().join("registry.log"))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                anyhow!("could not run `docker-registry` ({e}); the OCI tests need it: {INSTALL}")
            })?;
        let mut registry = OciRegistry { child, port, dir };
        wait_until_listening(
            "docker-registry",
            port,
            &mut registry.child,
            Duration::from_secs(30),
        )?;
        Ok(registry)
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>/<repo_tag>`.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host())
    }

    /// Where the registry keeps the blob `digest` on disk.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `wkg` binary: `$SKIFF_TEST_WKG`, else `wkg` on `PATH`, else installed
/// once (`cargo install --locked wkg`) under `<target>/tools`, with a file lock
/// so parallel tests and test binaries don't race.
pub fn wkg() -> Result<&'static Path> {
    static WKG: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    WKG.get_or_init(|| find_or_install_wkg().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(|e| anyhow!("wkg is needed for the interop tests: {e}"))
}

fn find_or_install_wkg() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("SKIFF_TEST_WKG") {
        let path = PathBuf::from(path);
        ensure!(
            path.is_file(),
            "SKIFF_TEST_WKG names `{}`, which is not a file",
            path.display()
        );
        return Ok(path);
    }
    if let Some(path) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("wkg"))
        .find(|p| p.is_file())
    {
        return Ok(path);
    }
    // Cargo's target dir is the parent of CARGO_TARGET_TMPDIR. Never the outer
    // target dir itself: `cargo test` holds its lock.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .context("CARGO_TARGET_TMPDIR has no parent")?;
    let root = target.join("tools");
    let bin = root.join("bin").join("wkg");
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&root)?;
    let lock = File::create(root.join(".wkg-install.lock"))?;
    lock.lock().context("could not lock the wkg install")?;
    if bin.is_file() {
        return Ok(bin);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "installing wkg {WKG_VERSION} into {} (once)",
        root.display()
    );
    let status = Command::new(cargo)
        .args([
            "install",
            "--locked",
            &format!("wkg@{WKG_VERSION}"),
            "--root",
        ])
        .arg(&root)
        .arg("--target-dir")
        .arg(target.join("tools-build"))
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .status()
        .context("could not run `cargo install wkg`")?;
    ensure!(
        status.success() && bin.is_file(),
        "`cargo install --locked wkg@{WKG_VERSION}` failed ({status}); set SKIFF_TEST_WKG to a wkg binary"
    );
    Ok(bin)
}
