//! What Skiff's integration tests share, so each crate's `tests/all` holds
//! only its tests:
//!
//! - [`redis_server`], [`mosquitto_server`], [`pg_server`],
//!   [`mysql_server`]: a throwaway `redis-server`, `mosquitto`, PostgreSQL or
//!   MariaDB (for MySQL) on a free loopback port (Debian binaries that `.ci/run`
//!   installs; a missing one fails the test with the fix, never skips it);
//! - [`guest`]: an in-process host that pre-instantiates a guest component
//!   once per test binary and sends it HTTP requests, each to a fresh
//!   instance, as `skiff up` does — WASI 0.2 and 0.3, `wasi:http`
//!   `incoming-handler@0.2` and `handler@0.3`, plus the capabilities a test
//!   adds ([`guest::Capability`]).
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use skiff_test_support::guest::{GuestApp, NoCapability};
//! use skiff_test_support::redis_server::RedisServer;
//!
//! let redis = RedisServer::start()?;
//! let app = GuestApp::new(|| NoCapability);
//! let (status, body) = app.send("hello.wasm", "/?op=get", "").await?;
//! # let _ = (redis.url(), status, body);
//! # Ok(())
//! # }
//! ```
//!
//! A dev-dependency only (`publish = false`).

#![deny(missing_docs)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub mod guest;
pub mod mosquitto_server;
pub mod mysql_server;
pub mod nats_server;
pub mod otlp_receiver;
pub mod pg_server;
pub mod redis_server;

/// A loopback port nothing listens on now, never handed out twice by this
/// process. The OS's own choice (binding port 0) came from the ephemeral range,
/// so two servers started side by side could be handed the same port (the
/// second one's server then failed to bind while [`wait_until_listening`] saw
/// the first's, and lost it when that test ended), and any outgoing
/// connection's source port could take one before its server bound it. These
/// come from below Linux's ephemeral range (32768 and up), in turn, from an
/// offset spread by the process id.
pub fn free_port() -> Result<u16> {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next = NEXT.get_or_init(|| AtomicU32::new(std::process::id().wrapping_mul(7919) % SPAN));
    for _ in 0..SPAN {
        let port = (FIRST + next.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free loopback port in {FIRST}..{}", FIRST + SPAN)
}

/// A fresh temporary directory (`skiff-test-…`), removed on drop.
pub fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("skiff-test-")
        .tempdir()
        .context("could not create a temporary directory")
}

/// Waits until something accepts connections on loopback `port`, failing if
/// `child` (the server, called `name` in errors) exits first or `within` passes.
pub fn wait_until_listening(
    name: &str,
    port: u16,
    child: &mut Child,
    within: Duration,
) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + within;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("checking {name}"))?
        {
            bail!("{name} on port {port} exited early with {status}");
        }
        if Instant::now() > deadline {
            bail!("{name} did not listen on port {port} within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes `ca.crt`, and `server.crt`/`server.key` for `localhost` and
/// `127.0.0.1` signed by it, into `dir` (for TLS test servers); returns the
/// CA's path. Made by the `openssl` command, which `.ci/run` installs.
pub fn make_certificates(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    let openssl = |args: &[&str]| openssl(dir, args);
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = ["-x509", "-days", "2", "-subj", "/CN=Skiff test CA"];
    openssl(
        &[
            &["req"][..],
            &ca,
            &key,
            &["-keyout", "ca.key", "-out", "ca.crt"],
        ]
        .concat(),
    )?;
    let csr = [
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ];
    openssl(&[&["req"][..], &key, &csr].concat())?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n",
    )?;
    sign_with_ca(dir, "server")?;
    Ok(dir.join("ca.crt"))
}

/// Runs `openssl ARGS` in `dir`, failing with its stderr.
fn openssl(dir: &std::path::Path, args: &[&str]) -> Result<()> {
    const OPENSSL: &str = "install it with `apt-get install -y openssl` (.ci/run does)";
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| anyhow::anyhow!("could not run `openssl` ({err}); {OPENSSL}"))?;
    anyhow::ensure!(
        out.status.success(),
        "`openssl {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Signs `NAME.csr` (with the extensions in `NAME.ext`) with the CA
/// [`make_certificates`] wrote into `dir` into `NAME.crt`, valid for two days.
pub fn sign_with_ca(dir: &std::path::Path, name: &str) -> Result<()> {
    let (csr, ext, crt) = (
        format!("{name}.csr"),
        format!("{name}.ext"),
        format!("{name}.crt"),
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    )
}

/// Writes `NAME.crt`/`NAME.key`, a client certificate for `subject`
/// (openssl's `/K=V/…` form) signed by the CA [`make_certificates`] wrote
/// into `dir` (for mutual TLS), with `extendedKeyUsage = clientAuth` and the
/// openssl extension lines `extensions`.
pub fn make_client_certificate(
    dir: &std::path::Path,
    name: &str,
    subject: &str,
    extensions: &str,
) -> Result<()> {
    let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    )?;
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("extendedKeyUsage = clientAuth\n{extensions}"),
    )?;
    sign_with_ca(dir, name)
}
