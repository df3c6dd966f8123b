//! What every test module needs: app directories, a running `skiff up` server,
//! a bounded `skiff …` runner, and a small HTTP/1.1 client.
//!
//! Every process gets an explicit `SKIFF_CACHE_DIR` (a temporary directory the
//! test owns, or the tests' [`shared_cache`]), `NO_COLOR=1` and no
//! `SKIFF_LOG`/`RUST_LOG`, so output is the same on every machine and nothing
//! touches the user's cache.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};
use std::task::{Context as TaskContext, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tempfile::TempDir;

/// The binary under test.
pub const SKIFF: &str = env!("CARGO_BIN_EXE_skiff");

/// How long `skiff up` may take to print its banner (it compiles every component first).
pub const STARTUP_BOUND: Duration = Duration::from_secs(60);

/// How long any one command or HTTP exchange may take before the test fails instead of hanging.
pub const BOUND: Duration = Duration::from_secs(120);

/// The first lines of every test manifest; the next line is line 4.
pub const HEAD: &str = "skiff_manifest_version = 1\n[application]\nname = \"test\"\n";

/// `path` as a TOML literal string (no escaping needed for the paths tests use).
pub fn toml_path(path: impl AsRef<Path>) -> String {
    let path = path.as_ref().display().to_string();
    assert!(!path.contains('\''), "path {path} cannot be a TOML literal");
    format!("'{path}'")
}

/// Writes `text` to `path` as editors that save safely do: a new file renamed
/// over the old one, so a watcher never reads half a file.
pub fn replace_file(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming over {}", path.display()))
}

/// Replaces `to` with a copy of `from` in one rename (through a file
/// beside it), as a build or a certificate renewal leaves its output, so a
/// watcher never reads half a file.
pub fn install(from: impl AsRef<Path>, to: &Path) -> Result<()> {
    let from = from.as_ref();
    let next = to.with_extension("next");
    std::fs::copy(from, &next).with_context(|| format!("copying {}", from.display()))?;
    std::fs::rename(&next, to)?;
    Ok(())
}

/// A fresh temporary directory.
pub fn tempdir() -> Result<TempDir> {
    tempfile::Builder::new()
        .prefix("skiff-test-")
        .tempdir()
        .context("could not create a temporary directory")
}

/// A temporary app directory.
pub struct AppDir {
    _dir: TempDir,
    root: PathBuf,
}

impl AppDir {
    /// An empty app directory.
    pub fn new() -> Result<Self> {
        let dir = tempdir()?;
        // Canonical, as the manifest loader reports paths.
        let root = dir.path().canonicalize()?;
        Ok(AppDir { _dir: dir, root })
    }

    /// An app directory whose `skiff.toml` is [`HEAD`] followed by `rest`.
    pub fn with_manifest(rest: &str) -> Result<Self> {
        let app = Self::new()?;
        app.write("skiff.toml", format!("{HEAD}{rest}"))?;
        Ok(app)
    }

    /// The (canonical) directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The path of its `skiff.toml`.
    pub fn manifest(&self) -> PathBuf {
        self.root.join("skiff.toml")
    }

    /// Writes `contents` to `rel`, creating parent directories; returns the absolute path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> Result<PathBuf> {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// Text a child process wrote, collected line by line by a background thread.
#[derive(Default)]
pub struct Captured {
    text: Mutex<String>,
    changed: Condvar,
}

impl Captured {
    fn push(&self, chunk: &str) {
        let mut text = self.text.lock().unwrap();
        text.push_str(chunk);
        self.changed.notify_all();
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Waits until the captured text contains `needle`; returns all of it.
    pub fn wait_for(&self, needle: &str, bound: Duration) -> Result<String> {
        self.wait_for_count(needle, 1, bound)
    }

    /// Waits until the captured text contains `needle` `count` times; returns all of it.
    pub fn wait_for_count(&self, needle: &str, count: usize, bound: Duration) -> Result<String> {
        let deadline = Instant::now() + bound;
        let mut text = self.text.lock().unwrap();
        while text.matches(needle).count() < count {
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "`{needle}` did not appear {count} time(s) within {bound:?}; captured so far:\n{text}"
                );
            }
            text = self.changed.wait_timeout(text, deadline - now).unwrap().0;
        }
        Ok(text.clone())
    }

    /// Reads `stream` to its end on a thread, keeping its bytes exactly; calls
    /// `on_line` with each line (without its line ending).
    fn collect(
        self: &Arc<Self>,
        stream: impl Read + Send + 'static,
        mut on_line: impl FnMut(&str) + Send + 'static,
    ) -> JoinHandle<()> {
        let captured = self.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        captured.push(&text);
                        on_line(text.trim_end_matches(['\n', '\r']));
                    }
                }
            }
        })
    }
}

/// The guests whose servers the `kv` and `variables` modules start over and
/// over; [`shared_cache`] compiles them once.
const SHARED_CACHE_GUESTS: &[&str] = &[
    test_programs_artifacts::KV_WASI_COMPONENT,
    test_programs_artifacts::KV_SPIN2_COMPONENT,
    test_programs_artifacts::VARS_WASI_COMPONENT,
    test_programs_artifacts::VARS_SPIN2_COMPONENT,
    test_programs_artifacts::VARS_SPIN3_COMPONENT,
];

/// An AOT cache shared by the tests that start many servers of the same guests
/// (`kv`, `variables`): `<cargo's target tmp dir>/skiff-cli-tests-aot`, owned by
/// the tests and kept between runs. Entries are keyed by engine and component
/// bytes and written by rename, so concurrent servers may share it.
///
/// On first use in a process it runs `skiff compile` on each of those guests
/// (in parallel), so the servers that follow load them instead of each
/// compiling the same guests at the same time.
pub fn shared_cache() -> Result<&'static Path> {
    static CACHE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skiff-cli-tests-aot");
            let compiles: Vec<_> = SHARED_CACHE_GUESTS
                .iter()
                .map(|guest| {
                    let dir = dir.clone();
                    std::thread::spawn(move || {
                        let out = skiff_in(&dir, ["compile", guest], |_| {})?;
                        ensure!(
                            out.status.success(),
                            "`skiff compile {guest}` failed:\n{}",
                            out.stderr
                        );
                        Ok(())
                    })
                })
                .collect();
            for compile in compiles {
                compile
                    .join()
                    .map_err(|_| "a `skiff compile` thread panicked".to_string())?
                    .map_err(|e: anyhow::Error| format!("{e:#}"))?;
            }
            Ok(dir)
        })
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(|e| anyhow::anyhow!("could not fill the shared AOT cache: {e}"))
}

/// A `skiff` command with the test environment applied.
pub fn skiff_command(cache_dir: &Path) -> Command {
    let mut cmd = Command::new(SKIFF);
    cmd.env("SKIFF_CACHE_DIR", cache_dir)
        .env("NO_COLOR", "1")
        .env_remove("SKIFF_LOG")
        .env_remove("RUST_LOG")
        .env_remove("SKIFF_LISTEN")
        .stdin(Stdio::null());
    // No traces unless a test asks for them.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// How a `skiff` process that ran to completion ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    /// The exit code (`None` when a signal ended the process).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Fails, showing the output, unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit code {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Fails, showing the output, unless stderr contains `needle`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr does not contain `{needle}`:\n{}",
            self.stderr
        );
        self
    }

    /// Fails, showing the output, unless stdout contains `needle`.
    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout does not contain `{needle}`:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `cmd` to completion (killing it after [`BOUND`]) and captures its output.
pub fn finish(cmd: &mut Command) -> Result<Finished> {
    finish_within(cmd, BOUND)
}

/// Runs `cmd` to completion, killing it and failing after `bound`.
pub fn finish_within(cmd: &mut Command, bound: Duration) -> Result<Finished> {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {cmd:?}"))?;
    let stdout = Arc::new(Captured::default());
    let stderr = Arc::new(Captured::default());
    let out_thread = stdout.collect(child.stdout.take().unwrap(), |_| {});
    let err_thread = stderr.collect(child.stderr.take().unwrap(), |_| {});
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{cmd:?} did not exit within {bound:?}\nstdout:\n{}\nstderr:\n{}",
                stdout.text(),
                stderr.text()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let _ = out_thread.join();
    let _ = err_thread.join();
    Ok(Finished {
        status,
        stdout: stdout.text(),
        stderr: stderr.text(),
        elapsed,
    })
}

/// `skiff ARGS…` with `SKIFF_CACHE_DIR=cache_dir`, run to completion; `configure`
/// may adjust the command (environment, working directory).
pub fn skiff_in<I, S>(
    cache_dir: &Path,
    args: I,
    configure: impl FnOnce(&mut Command),
) -> Result<Finished>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = skiff_command(cache_dir);
    cmd.args(args);
    configure(&mut cmd);
    finish(&mut cmd)
}

/// `skiff up APP --listen 127.0.0.1:0` (adjusted by `configure`), expected to
/// fail before serving: fails unless it exits non-zero without printing the banner.
pub fn up_fails(
    app: &Path,
    cache_dir: &Path,
    configure: impl FnOnce(&mut Command),
) -> Result<Finished> {
    let mut cmd = skiff_command(cache_dir);
    cmd.arg("up").arg(app).args(["--listen", "127.0.0.1:0"]);
    configure(&mut cmd);
    // Loading compiles components; an app that wrongly started would serve forever.
    let out = finish_within(&mut cmd, Duration::from_secs(60))?;
    ensure!(
        !out.status.success() && !out.stdout.contains("Serving"),
        "`skiff up` was expected to fail before serving, but it {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    Ok(out)
}

/// A running `skiff up`, killed when dropped.
pub struct Server {
    child: Child,
    /// `sh` that kills the server (and removes the directories it was given)
    /// once our end of its stdin closes, i.e. when the test process dies
    /// without running `Drop`: a signal, or a server kept in a `static`.
    watchdog: Option<Child>,
    _watchdog_stdin: Option<ChildStdin>,
    addr: SocketAddr,
    stdout: Arc<Captured>,
    stderr: Arc<Captured>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl Server {
    /// `skiff up APP --listen 127.0.0.1:0` with `SKIFF_CACHE_DIR=cache_dir`; returns once it serves.
    pub fn start(app: &Path, cache_dir: &Path) -> Result<Server> {
        Self::start_with(app, cache_dir, |_| {})
    }

    /// Like [`Server::start`], letting the test add arguments or environment.
    pub fn start_with(
        app: &Path,
        cache_dir: &Path,
        configure: impl FnOnce(&mut Command),
    ) -> Result<Server> {
        Self::launch(app, cache_dir, configure, &[], true)
    }

    /// `skiff up APP` for an app with only Redis, messaging or cron triggers
    /// (no HTTP listener): returns once it has printed its `Redis triggers:`,
    /// `Messaging triggers:` or `Cron triggers:` banner.
    /// [`Server::addr`] is then `127.0.0.1:0`.
    pub fn start_triggers_only(app: &Path, cache_dir: &Path) -> Result<Server> {
        Self::start_triggers_only_with(app, cache_dir, |_| {})
    }

    /// Like [`Server::start_triggers_only`], letting the test add arguments
    /// or environment.
    pub fn start_triggers_only_with(
        app: &Path,
        cache_dir: &Path,
        configure: impl FnOnce(&mut Command),
    ) -> Result<Server> {
        Self::launch(app, cache_dir, configure, &[], false)
    }

    /// Starts the server; `leftovers` are removed by the watchdog if the test
    /// process exits without dropping the server. It is ready at its
    /// `Serving http://` (or `https://`) banner, or (`http` false) its
    /// `Redis triggers:`, `Messaging triggers:` or `Cron triggers:` one.
    fn launch(
        app: &Path,
        cache_dir: &Path,
        configure: impl FnOnce(&mut Command),
        leftovers: &[&Path],
        http: bool,
    ) -> Result<Server> {
        let mut cmd = skiff_command(cache_dir);
        cmd.arg("up")
            .arg(app)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        configure(&mut cmd);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("could not start {cmd:?}"))?;
        let (watchdog, watchdog_stdin) = match Command::new("sh")
            .arg("-c")
            .arg(format!(
                "read _line; kill -9 {} 2>/dev/null; sleep 0.2; rm -rf -- \"$@\"",
                child.id()
            ))
            .arg("watchdog")
            .args(leftovers)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(mut watchdog) => {
                let stdin = watchdog.stdin.take();
                (Some(watchdog), stdin)
            }
            Err(_) => (None, None),
        };
        let stdout = Arc::new(Captured::default());
        let stderr = Arc::new(Captured::default());
        let (banner_tx, banner_rx) = mpsc::channel();
        stdout.collect(child.stdout.take().unwrap(), move |line| {
            let served = line
                .strip_prefix("Serving http://")
                .or_else(|| line.strip_prefix("Serving https://"));
            if let Some(addr) = served {
                let _ = banner_tx.send(addr.trim().to_string());
            } else if !http
                && (line == "Redis triggers:"
                    || line == "Messaging triggers:"
                    || line == "Cron triggers:"
                    || line == "MQTT triggers:")
            {
                let _ = banner_tx.send("127.0.0.1:0".to_string());
            }
        });
        let stderr_thread = stderr.collect(child.stderr.take().unwrap(), |_| {});
        let mut server = Server {
            child,
            watchdog,
            _watchdog_stdin: watchdog_stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout,
            stderr,
            stderr_thread: Some(stderr_thread),
        };
        match banner_rx.recv_timeout(STARTUP_BOUND) {
            Ok(addr) => {
                server.addr = addr
                    .parse()
                    .with_context(|| format!("bad address in the banner: `{addr}`"))?;
                Ok(server)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                bail!(
                    "`skiff up` printed no banner line within {STARTUP_BOUND:?}; stderr:\n{}",
                    server.full_stderr()
                )
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.child.wait()?;
                bail!(
                    "`skiff up` exited ({status}) without serving; stderr:\n{}",
                    server.full_stderr()
                )
            }
        }
    }

    /// Stderr up to the end of the stream (the process must have exited).
    pub fn full_stderr(&mut self) -> String {
        if let Some(thread) = self.stderr_thread.take() {
            let _ = thread.join();
        }
        self.stderr.text()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST path` with `body` on a new connection; the guest must answer
    /// 200. Returns the body.
    pub async fn post_ok(&self, path: &str, body: &str) -> Result<String> {
        let resp = post(&self.url(path), full(body.to_string())).await?;
        ensure!(
            resp.status == 200,
            "POST {path}: {} {}",
            resp.status,
            resp.text()
        );
        Ok(resp.text())
    }

    /// What it printed to stdout so far (the banner).
    pub fn stdout(&self) -> &Captured {
        &self.stdout
    }

    /// What it logged to stderr so far.
    pub fn stderr(&self) -> &Captured {
        &self.stderr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `TERM`) to the server.
    pub fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .context("could not run `kill`")?;
        ensure!(status.success(), "`kill -{signal}` failed: {status}");
        Ok(())
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (at most `bound`) for the server to exit.
    pub fn wait_exit(&mut self, bound: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "the server did not exit within {bound:?}; stderr:\n{}",
                    self.stderr.text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server shared by the tests of one module: built on first use, never dropped
/// (its watchdog kills it and removes its directories when the test process exits).
pub struct Shared {
    pub app: AppDir,
    _cache: TempDir,
    pub server: Server,
}

impl Shared {
    /// Writes the app with `prepare`, then starts it.
    pub fn start(manifest: &str, prepare: impl FnOnce(&AppDir) -> Result<()>) -> Result<Self> {
        let app = AppDir::with_manifest(manifest)?;
        prepare(&app)?;
        let cache = tempdir()?;
        let server = Server::launch(
            app.path(),
            cache.path(),
            |_| {},
            &[app.path(), cache.path()],
            true,
        )?;
        Ok(Shared {
            app,
            _cache: cache,
            server,
        })
    }
}

// ---------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------

/// A request body.
pub type Body = BoxBody<Bytes, Infallible>;

/// A body with a known length (sent with `content-length`).
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().boxed()
}

/// A body of unknown length, sent with `transfer-encoding: chunked`, one chunk per item.
pub fn chunked(chunks: impl IntoIterator<Item = Bytes>) -> Body {
    Chunks(chunks.into_iter().collect()).boxed()
}

struct Chunks(VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("response body is not JSON: {}", self.text()))
    }

    /// Fails, showing the response, unless the status is `status`.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; headers {:?}, body: {}",
            self.headers,
            self.text()
        );
        self
    }
}

/// One HTTP/1.1 connection; requests sent on it reuse it (keep-alive).
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Body>,
    addr: SocketAddr,
}

impl Connection {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::time::timeout(BOUND, tokio::net::TcpStream::connect(addr))
            .await
            .with_context(|| format!("connecting to {addr} timed out"))?
            .with_context(|| format!("could not connect to {addr}"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake failed")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection { sender, addr })
    }

    /// Sends `req` (whose URI may be absolute or a path) and reads the whole response.
    /// Adds a `host` header naming the server unless the request has one.
    pub async fn send(&mut self, mut req: http::Request<Body>) -> Result<Response> {
        let path = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        *req.uri_mut() = path.parse()?;
        if !req.headers().contains_key(http::header::HOST) {
            let host = http::HeaderValue::from_str(&self.addr.to_string())?;
            req.headers_mut().insert(http::header::HOST, host);
        }
        let exchange = async {
            self.sender
                .ready()
                .await
                .context("the connection is closed")?;
            let resp = self
                .sender
                .send_request(req)
                .await
                .context("sending the request failed")?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .context("reading the response body failed")?
                .to_bytes();
            Ok::<_, anyhow::Error>(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(BOUND, exchange)
            .await
            .with_context(|| format!("no complete response within {BOUND:?}"))?
    }
}

/// The socket address in an `http://HOST:PORT/…` URL.
fn addr_of(url: &str) -> Result<SocketAddr> {
    let uri: http::Uri = url.parse().with_context(|| format!("bad URL `{url}`"))?;
    let authority = uri
        .authority()
        .with_context(|| format!("URL `{url}` has no authority"))?;
    authority
        .as_str()
        .parse()
        .with_context(|| format!("URL `{url}` does not name an IP address and port"))
}

/// Sends `req` on a new connection to the server its URI names.
pub async fn send(req: http::Request<Body>) -> Result<Response> {
    let addr = addr_of(&req.uri().to_string())?;
    Connection::open(addr).await?.send(req).await
}

/// `GET url` on a new connection.
pub async fn get(url: &str) -> Result<Response> {
    send(http::Request::get(url).body(empty())?).await
}

/// `POST url` with `body` on a new connection.
pub async fn post(url: &str, body: Body) -> Result<Response> {
    send(http::Request::post(url).body(body)?).await
}
