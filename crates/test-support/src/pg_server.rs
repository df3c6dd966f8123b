//! Throwaway PostgreSQL servers on free loopback ports, from the Debian
//! `postgresql` package's binaries (`/usr/lib/postgresql/<version>/bin`).
//!
//! `initdb` and `postgres` refuse to run as root, so as root they run as the
//! `postgres` user (`runuser`) in a directory it owns. Each server runs under
//! a small shell watchdog reading its stdin: when the test process closes the
//! pipe — on drop, or by dying — the watchdog stops the server, so no server
//! outlives the tests. A missing binary fails the test with the fix; nothing
//! is skipped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::free_port;

/// The server-side half of a test: start, stop, restart, fresh databases.
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres_user: bool,
    child: Option<(Child, ChildStdin)>,
    /// Removes `dir` on drop (not for the shared server, whose watchdog does).
    _dir: Option<tempfile::TempDir>,
    /// For a server with TLS on, the CA certificate that signed its certificate.
    ca: Option<PathBuf>,
}

/// Where the PostgreSQL binaries are: version 15, else the newest installed.
fn bin_dir() -> Result<PathBuf> {
    let preferred = PathBuf::from("/usr/lib/postgresql/15/bin");
    if preferred.join("postgres").is_file() {
        return Ok(preferred);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("postgres").is_file() && bin.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().context(
        "PostgreSQL server binaries not found in /usr/lib/postgresql/15/bin (nor any other \
         /usr/lib/postgresql/*/bin): the Postgres tests need them; install them with \
         `apt-get install -y postgresql` (.ci/run does)",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `chown -R postgres: path`, for a server run as the `postgres` user.
fn give_to_postgres(path: &Path) -> Result<()> {
    let status = Command::new("chown")
        .args(["-R", "postgres:"])
        .arg(path)
        .status()?;
    anyhow::ensure!(
        status.success(),
        "chown {} to postgres failed",
        path.display()
    );
    Ok(())
}

impl PgServer {
    /// Like [`PgServer::start`], with TLS on (`ssl=on`; plain connections are
    /// still accepted): its certificate, for `localhost` and `127.0.0.1`, is
    /// signed by a CA made for it ([`PgServer::ca_file`]).
    pub fn start_tls() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut server = Self::init(dir.path().to_path_buf())?;
        server._dir = Some(dir);
        let tls = server.dir.join("tls");
        std::fs::create_dir(&tls)?;
        let ca = crate::make_certificates(&tls)?;
        // The key must be the server's own and private, or it refuses to start.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            tls.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )?;
        if server.as_postgres_user {
            give_to_postgres(&tls)?;
        }
        server.ca = Some(ca);
        server.restart()?;
        Ok(server)
    }

    /// The CA certificate (PEM) a client of a TLS server must trust.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// Runs `initdb` in a new directory and starts a server on a free port.
    pub fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut server = Self::init(dir.path().to_path_buf())?;
        server._dir = Some(dir);
        server.restart()?;
        Ok(server)
    }

    /// One server for every test of this binary that does not stop it;
    /// tests isolate themselves with [`PgServer::database`].
    pub fn shared() -> Result<&'static PgServer> {
        static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let start = || -> Result<PgServer> {
                    // Kept: the watchdog removes the directory when the tests end.
                    let dir = tempfile::tempdir()?.keep();
                    let mut server = Self::init(dir)?;
                    server.spawn(true)?;
                    Ok(server)
                };
                start().map_err(|err| format!("{err:#}"))
            })
            .as_ref()
            .map_err(|err| anyhow::anyhow!("{err}"))
    }

    fn init(dir: PathBuf) -> Result<Self> {
        let bin = bin_dir()?;
        let as_postgres_user = is_root();
        if as_postgres_user {
            give_to_postgres(&dir)?;
        }
        let server = PgServer {
            bin,
            dir,
            port: free_port()?,
            as_postgres_user,
            child: None,
            _dir: None,
            ca: None,
        };
        let output = server
            .command("initdb")
            .arg("-D")
            .arg(server.data())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .output()
            .with_context(|| format!("could not run {}", server.bin.join("initdb").display()))?;
        if !output.status.success() {
            bail!(
                "initdb failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `program` from the PostgreSQL bin dir, as the `postgres` user when
    /// we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres_user {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    /// Starts the server under the watchdog; `cleanup` makes the watchdog
    /// also remove the directory when it stops the server.
    fn spawn(&mut self, cleanup: bool) -> Result<()> {
        let postgres = self.command("postgres");
        let mut argv: Vec<String> = std::iter::once(postgres.get_program())
            .chain(postgres.get_args())
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        argv.extend(
            [
                "-D",
                &self.data().to_string_lossy(),
                "-k",
                &self.dir.to_string_lossy(),
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ]
            .map(String::from),
        );
        if self.ca.is_some() {
            let tls = self.dir.join("tls");
            argv.extend([
                "-c".into(),
                "ssl=on".into(),
                "-c".into(),
                format!("ssl_cert_file={}", tls.join("server.crt").display()),
                "-c".into(),
                format!("ssl_key_file={}", tls.join("server.key").display()),
            ]);
        }
        let script = r#"
            "$@" &
            read -r _
            pid=$(head -n1 "$DATA/postmaster.pid" 2>/dev/null)
            [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null
            wait
            [ "$CLEANUP" = 1 ] && rm -rf "$DIR"
            exit 0
        "#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("pg-watchdog")
            .args(&argv)
            .env("DATA", self.data())
            .env("DIR", &self.dir)
            .env("CLEANUP", if cleanup { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("could not run sh for the postgres watchdog")?;
        let stdin = child.stdin.take().expect("piped stdin");
        self.child = Some((child, stdin));
        self.wait_until_ready()
    }

    fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .command("pg_isready")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if let Some((child, _)) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "postgres on port {} exited early with {status}; see {}",
                    self.port,
                    self.dir.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "postgres did not accept connections on port {} within 30 s",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for database `db` as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Stops the server (fast shutdown); its data stays.
    pub fn stop(&mut self) -> Result<()> {
        if let Some((mut child, mut stdin)) = self.child.take() {
            let _ = stdin.write_all(b"stop\n");
            drop(stdin);
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the server again on the same port with the same data.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn(false)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub async fn database(&self) -> Result<String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .with_context(|| format!("connecting to postgres at {}", self.address()))?;
        let task = tokio::spawn(connection);
        client
            .simple_query(&format!("CREATE DATABASE {name}"))
            .await
            .context("CREATE DATABASE")?;
        drop(client);
        let _ = task.await;
        Ok(self.url(&name))
    }

    /// The data directory's owner-visible path, for messages.
    #[allow(dead_code, reason = "handy when a test fails")]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
