//! A private containerd for one test, and `ctr` against it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use tempfile::TempDir;

/// The shim under test.
pub const SHIM: &str = env!("CARGO_BIN_EXE_containerd-shim-skiff-v1");

/// The runtime name containerd maps to `containerd-shim-skiff-v1`.
pub const RUNTIME: &str = "io.containerd.skiff.v1";

/// How long any one step may take before the test fails instead of hanging.
pub const BOUND: Duration = Duration::from_secs(120);

/// A containerd started for one test; stopped (and its directories removed) on drop.
pub struct Containerd {
    child: Child,
    dir: TempDir,
    socket: PathBuf,
}

impl Containerd {
    /// Starts containerd and waits until it answers.
    pub fn start() -> Result<Self> {
        Self::start_with(|_| Ok(String::new()))
    }

    /// Like [`Containerd::start`], appending `extra(dir)` to containerd's config.
    pub fn start_with(extra: impl FnOnce(&Path) -> Result<String>) -> Result<Self> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc_geteuid() };
        ensure!(
            euid == 0,
            "the shim tests run containerd and create containers, which needs root (euid is {euid})"
        );
        for tool in ["containerd", "ctr", "runc"] {
            which(tool).with_context(|| {
                format!("`{tool}` is not on PATH; install Debian's `containerd` and `runc` (see .ci/run)")
            })?;
        }
        let dir = tempfile::Builder::new()
            .prefix("skiff-containerd-")
            .tempdir()
            .context("could not create containerd's directory")?;
        let root = dir.path();
        let socket = root.join("containerd.sock");
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let config = root.join("config.toml");
        std::fs::write(
            &config,
            format!(
                r#"version = 2
root = "{root}/root"
state = "{root}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
{extra}"#,
                root = root.display(),
                socket = socket.display(),
                extra = extra(root)?,
            ),
        )?;
        let shim_dir = Path::new(SHIM)
            .parent()
            .context("the shim has no directory")?;
        let path = format!(
            "{}:{}",
            shim_dir.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
        );
        let log = std::fs::File::create(root.join("containerd.log"))?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .env("PATH", path)
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("could not start containerd")?;
        let mut containerd = Containerd { child, dir, socket };
        let start = Instant::now();
        loop {
            if let Some(status) = containerd.child.try_wait()? {
                bail!(
                    "containerd exited ({status}) at start:\n{}",
                    containerd.log()
                );
            }
            if containerd.socket.exists()
                && containerd
                    .ctr(&["version"])
                    .is_ok_and(|out| out.status.success())
            {
                return Ok(containerd);
            }
            if start.elapsed() > BOUND {
                bail!(
                    "containerd did not answer in {BOUND:?}:\n{}",
                    containerd.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// This containerd's directory (config, log, root, state; removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// containerd's gRPC socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// containerd's own log (it includes the shim's log lines).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// A `ctr` command against this containerd.
    pub fn ctr_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ctr");
        command.arg("--address").arg(&self.socket).args(args);
        command.stdin(Stdio::null());
        command
    }

    /// Runs `ctr ARGS` to completion.
    pub fn ctr(&self, args: &[&str]) -> Result<Output> {
        run_bounded(self.ctr_command(args), &format!("ctr {}", args.join(" ")))
    }

    /// Sends the task `id` SIGTERM (`ctr task kill`).
    pub fn kill_task(&self, id: &str) -> Result<()> {
        let kill = self.ctr(&["task", "kill", id])?;
        ensure!(kill.status.success(), "ctr task kill: {}", describe(&kill));
        Ok(())
    }

    /// Stops the task `id` that `child` (its `ctr run`) serves with SIGTERM,
    /// and returns the run's output once it exited cleanly (status 0).
    pub fn stop_cleanly(&self, child: Child, id: &str) -> Result<Output> {
        self.kill_task(id)?;
        let out = wait_bounded(child, "ctr run")?;
        ensure!(
            out.status.code() == Some(0),
            "SIGTERM must be a clean exit:\n{}",
            describe(&out)
        );
        Ok(out)
    }

    /// Imports an image tarball.
    pub fn import(&self, tarball: &Path) -> Result<()> {
        let out = self.ctr(&["image", "import", &tarball.display().to_string()])?;
        ensure!(
            out.status.success(),
            "ctr image import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// `ctr run --rm --runtime io.containerd.skiff.v1 [EXTRA…] IMAGE ID [ARGS…]` to completion
    /// (retried under a new id when container creation hits [`LIBCONTAINER_RACE`]).
    pub fn run(&self, extra: &[&str], image: &str, id: &str, args: &[&str]) -> Result<Output> {
        let mut attempt = 0;
        loop {
            let id = attempt_id(id, attempt);
            let mut all = vec!["run", "--rm", "--runtime", RUNTIME];
            all.extend_from_slice(extra);
            all.push(image);
            all.push(&id);
            all.extend_from_slice(args);
            let out = self.ctr(&all)?;
            if attempt < RACE_RETRIES
                && String::from_utf8_lossy(&out.stderr).contains(LIBCONTAINER_RACE)
            {
                eprintln!(
                    "{id}: libcontainer creation race, retrying: {}",
                    describe(&out)
                );
                attempt += 1;
                continue;
            }
            return Ok(out);
        }
    }

    /// Starts an HTTP task in the background (`spawn_run`) and waits for `GET path` to
    /// answer; returns the `ctr run` child, the container id and the first answer.
    /// Retried under a new id when container creation hits [`LIBCONTAINER_RACE`].
    pub fn serve(
        &self,
        extra: &[&str],
        image: &str,
        id: &str,
        port: u16,
        path: &str,
    ) -> Result<(Child, String, (u16, String))> {
        let mut attempt = 0;
        loop {
            let id = attempt_id(id, attempt);
            let mut child = self.spawn_run(extra, image, &id)?;
            match wait_for_http(&mut child, port, path) {
                Ok(answer) => return Ok((child, id, answer)),
                Err(err)
                    if attempt < RACE_RETRIES && err.to_string().contains(LIBCONTAINER_RACE) =>
                {
                    eprintln!("{id}: libcontainer creation race, retrying: {err:#}");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // SIGTERM, so containerd unmounts what it can; then make sure it is gone.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// libcontainer 0.6.0 (youki) races when creating a container under CPU contention: its
/// intermediate and init processes report readiness on one channel, and `ctr run` then
/// fails with this message before the shim's code runs (youki-dev/youki#3504, not in a
/// release yet). The harness retries container creation when — and only when — it sees
/// exactly this failure.
pub const LIBCONTAINER_RACE: &str =
    "received unexpected message: InitReady, expected: IntermediateReady";

/// How often a container creation is retried after [`LIBCONTAINER_RACE`].
const RACE_RETRIES: u32 = 3;

fn attempt_id(id: &str, attempt: u32) -> String {
    if attempt == 0 {
        id.to_string()
    } else {
        format!("{id}-retry{attempt}")
    }
}

/// A container id no other test (or earlier run) uses.
pub fn unique_id(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs a command, failing (and killing it) if it takes longer than [`BOUND`].
pub fn run_bounded(mut command: Command, what: &str) -> Result<Output> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{what}`"))?;
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return child
                .wait_with_output()
                .with_context(|| format!("`{what}` output"));
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            bail!(
                "`{what}` did not finish in {BOUND:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Describes an output for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.is_file())
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

impl Containerd {
    /// Writes `image` as a tarball in this containerd's directory and imports it.
    pub fn import_image(&self, image: &crate::image::Image) -> Result<()> {
        let tarball = self
            .dir
            .path()
            .join(format!("image-{}.tar", unique_id("img")));
        image.write(&tarball)?;
        self.import(&tarball)
    }

    /// Starts `ctr run --rm --runtime io.containerd.skiff.v1 [EXTRA…] IMAGE ID` in the
    /// background, its output piped.
    pub fn spawn_run(&self, extra: &[&str], image: &str, id: &str) -> Result<Child> {
        let mut all = vec!["run", "--rm", "--runtime", RUNTIME];
        all.extend_from_slice(extra);
        all.push(image);
        all.push(id);
        self.ctr_command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("could not start `ctr run`")
    }
}

/// Waits for a spawned `ctr` to exit (failing after [`BOUND`]) and returns its output.
pub fn wait_bounded(mut child: Child, what: &str) -> Result<Output> {
    let start = Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            bail!("`{what}` did not exit in {BOUND:?}:\n{}", describe(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child.wait_with_output()?)
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A minimal HTTP/1.1 exchange (`Connection: close`); returns status and body.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(BOUND))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("malformed HTTP response: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `GET path` until it answers, while `child` (the `ctr run`) is still running.
pub fn wait_for_http(child: &mut Child, port: u16, path: &str) -> Result<(u16, String)> {
    let start = Instant::now();
    loop {
        if let Ok(answer) = http(port, "GET", path, b"") {
            return Ok(answer);
        }
        if let Some(status) = child.try_wait()? {
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                use std::io::Read;
                let _ = err.read_to_string(&mut stderr);
            }
            bail!("the task exited ({status}) before serving on port {port}:\n{stderr}");
        }
        if start.elapsed() > BOUND {
            bail!("nothing answered on port {port} in {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
