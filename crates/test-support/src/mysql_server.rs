//! Throwaway MariaDB servers (for MySQL tests) on free loopback ports, from
//! Debian's `mariadb-server` package: `mariadbd`, `mariadb-install-db` and the
//! `mariadb` client, which `.ci/run` installs. A missing binary fails the test
//! with that fix; nothing is skipped.
//!
//! `mariadb-install-db` runs once per test process, into a template data
//! directory that already holds database [`DATABASE`] and user [`USER`]
//! (password [`PASSWORD`], `mysql_native_password`, all privileges on it);
//! each server starts on a copy of it. `root` has no password and may only
//! connect over the server's unix socket, as [`MysqlServer::exec`] does.
//!
//! Each server runs under a small shell watchdog reading its stdin: when the
//! test process closes the pipe — on drop, or by dying — the watchdog kills
//! the server, so no `mariadbd` outlives the tests. Likewise another `sh`
//! removes each server's directory, and the template's, once its pipe closes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::{free_port, tempdir, wait_until_listening};

const INSTALL: &str = "install it with `apt-get install -y mariadb-server` (.ci/run does)";

/// The database every server starts with, which [`USER`] may use.
pub const DATABASE: &str = "skiff";
/// The user tests log in as over TCP (`mysql_native_password`).
pub const USER: &str = "skiff";
/// [`USER`]'s password.
pub const PASSWORD: &str = "skiff-pass";

/// How long a server may take to answer `SELECT 1`.
const WAIT: Duration = Duration::from_secs(30);

/// Server options for speed and a small footprint, shared by
/// `mariadb-install-db` (which passes them on to `mariadbd --bootstrap`) and
/// every server, so both agree on the InnoDB files' sizes.
const SERVER_OPTIONS: &[&str] = &[
    "--skip-name-resolve",
    "--skip-log-bin",
    "--performance-schema=OFF",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=4M",
    "--innodb-log-buffer-size=1M",
    "--innodb-temp-data-file-path=ibtmp1:1M:autoextend",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-flush-method=nosync",
    "--innodb-doublewrite=0",
    // io_uring and libaio are not always allowed in containers.
    "--innodb-use-native-aio=0",
];

/// A MariaDB server for tests: start, stop, restart, fresh databases, SQL as
/// `root` through the `mariadb` client.
pub struct MysqlServer {
    /// Holds `data/`, the socket, the pid file, `error.log` and `tls/`.
    dir: PathBuf,
    port: u16,
    child: Option<(Child, ChildStdin)>,
    /// Removes `dir` when its stdin closes: on drop, or when the test process
    /// ends, however it ends (the shared server is never dropped).
    remover: Option<(Child, ChildStdin)>,
    /// For a server with TLS on, the CA certificate that signed its certificate.
    ca: Option<PathBuf>,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program`'s path: in `/usr/sbin` or `/usr/bin` (where Debian puts
/// `mariadbd`, often not on a non-root user's `PATH`), else on `PATH`.
fn find(program: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["/usr/sbin", "/usr/bin"]
        .into_iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!(
                "MariaDB's `{program}` not found in /usr/sbin, /usr/bin nor on PATH: the MySQL \
                 tests need it; {INSTALL}"
            )
        })
}

/// The template data directory (`…/data`), made by `mariadb-install-db` on
/// first use; removed when the test process ends.
fn template() -> Result<&'static Path> {
    static TEMPLATE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| make_template().map_err(|err| format!("{err:#}")))
        .as_deref()
        .map_err(|err| anyhow!("{err}"))
}

fn make_template() -> Result<PathBuf> {
    let dir = tempdir()?.keep();
    // Leaked on purpose: the pipe closes, and the directory goes, only when
    // the test process ends.
    std::mem::forget(remove_on_close(&dir)?);
    let setup = dir.join("setup.sql");
    // Runs at the end of `mariadbd --bootstrap`, which starts without grant
    // tables: the passwordless TCP `root`s go first (so `root` is socket only),
    // then FLUSH PRIVILEGES loads the grant tables, as CREATE USER needs.
    std::fs::write(
        &setup,
        format!(
            "DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';\n\
             DELETE FROM mysql.proxies_priv WHERE User = 'root' AND Host <> 'localhost';\n\
             FLUSH PRIVILEGES;\n\
             CREATE DATABASE `{DATABASE}`;\n\
             CREATE USER '{USER}'@'%' IDENTIFIED VIA mysql_native_password \
             USING PASSWORD('{PASSWORD}');\n\
             GRANT ALL PRIVILEGES ON `{DATABASE}`.* TO '{USER}'@'%';\n"
        ),
    )
    .with_context(|| format!("writing {}", setup.display()))?;
    let data = dir.join("data");
    let install_db = find("mariadb-install-db")?;
    let mut cmd = Command::new(&install_db);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
        .arg(format!("--extra-file={}", setup.display()))
        .args(SERVER_OPTIONS);
    if is_root() {
        cmd.arg("--user=root");
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {}; {INSTALL}", install_db.display()))?;
    ensure!(
        out.status.success(),
        "`mariadb-install-db --datadir={}` failed ({}): {}{}",
        data.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(data)
}

/// Starts `sh` waiting for its stdin to close (on drop of the returned
/// pipe, or when this process ends), then removing `dir`: again for a few
/// seconds, should a server being killed at the same time still write in it.
fn remove_on_close(dir: &Path) -> Result<(Child, ChildStdin)> {
    let script = r#"
        while read -r _; do :; done
        i=0
        while [ -e "$1" ] && [ "$i" -lt 25 ]; do
            rm -rf "$1" 2>/dev/null || sleep 0.2
            i=$((i + 1))
        done
    "#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("mysql-remover")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("could not run sh to remove {} later", dir.display()))?;
    let stdin = child.stdin.take().expect("piped stdin");
    Ok((child, stdin))
}

/// Copies directory `from` into a new directory `to`, recursively.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_dir(&source, &target)?;
        } else {
            std::fs::copy(&source, &target)
                .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
        }
    }
    Ok(())
}

impl MysqlServer {
    /// Starts a server on a free loopback port, on a copy of the template
    /// data directory: database [`DATABASE`], user [`USER`].
    pub fn start() -> Result<Self> {
        let mut server = Self::init()?;
        server.spawn()?;
        Ok(server)
    }

    /// Like [`MysqlServer::start`], with TLS on and required for TCP clients
    /// (`require_secure_transport=ON`; the unix socket [`MysqlServer::exec`]
    /// uses counts as secure): its certificate, for `localhost` and
    /// `127.0.0.1`, is signed by a CA made for it ([`MysqlServer::ca_file`]).
    pub fn start_tls() -> Result<Self> {
        let mut server = Self::init()?;
        let tls = server.dir.join("tls");
        std::fs::create_dir(&tls).with_context(|| format!("creating {}", tls.display()))?;
        server.ca = Some(crate::make_certificates(&tls)?);
        server.spawn()?;
        Ok(server)
    }

    /// One server for every test of this binary that does not stop it;
    /// tests isolate themselves with [`MysqlServer::database`].
    pub fn shared() -> Result<&'static MysqlServer> {
        static SHARED: OnceLock<Result<MysqlServer, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let start = || -> Result<MysqlServer> {
                    let mut server = Self::init()?;
                    server.spawn()?;
                    Ok(server)
                };
                start().map_err(|err| format!("{err:#}"))
            })
            .as_ref()
            .map_err(|err| anyhow!("{err}"))
    }

    /// A server (not started) on a copy of the template, in a new directory.
    fn init() -> Result<Self> {
        let template = template()?;
        let dir = tempdir()?.keep();
        let remover = remove_on_close(&dir)?;
        let mut server = MysqlServer {
            // Absolute, as mariadbd changes into its data directory.
            dir: std::fs::canonicalize(&dir).with_context(|| format!("{}", dir.display()))?,
            port: 0,
            child: None,
            remover: Some(remover),
            ca: None,
        };
        copy_dir(template, &server.dir.join("data"))?;
        server.port = free_port()?;
        Ok(server)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }

    /// Starts `mariadbd` under the watchdog and waits until it answers.
    fn spawn(&mut self) -> Result<()> {
        let mariadbd = find("mariadbd")?;
        let mut args: Vec<String> = vec![
            // Must come first.
            "--no-defaults".into(),
            format!("--datadir={}", self.dir.join("data").display()),
            format!("--socket={}", self.socket().display()),
            format!("--pid-file={}", self.dir.join("mariadbd.pid").display()),
            format!("--log-error={}", self.error_log().display()),
            "--bind-address=127.0.0.1".into(),
            format!("--port={}", self.port),
            "--max-connections=200".into(),
        ];
        args.extend(SERVER_OPTIONS.iter().map(|option| option.to_string()));
        if is_root() {
            args.push("--user=root".into());
        }
        if self.ca.is_some() {
            let tls = self.dir.join("tls");
            args.extend([
                format!("--ssl-cert={}", tls.join("server.crt").display()),
                format!("--ssl-key={}", tls.join("server.key").display()),
                format!("--ssl-ca={}", tls.join("ca.crt").display()),
                "--require-secure-transport=ON".into(),
            ]);
        }
        // The server's stdin is /dev/null (an asynchronous command's); the
        // watchdog's own stdin, kept as fd 3, is read by a background reader.
        // A line ([`MysqlServer::stop`]) asks for a clean shutdown (TERM),
        // turned into a KILL after 10 s: mariadbd 10.11 can hang for good on
        // a TERM that comes while it starts. EOF (the server dropped, or the
        // test process gone) KILLs it. The watchdog exits when the server
        // does, so an early exit shows.
        let script = r#"
            exec 3<&0
            "$@" 3<&- &
            pid=$!
            (
                if read -r _ <&3; then
                    kill -TERM "$pid" 2>/dev/null
                    i=0
                    while [ "$i" -lt 100 ] && kill -0 "$pid" 2>/dev/null; do
                        sleep 0.1
                        i=$((i + 1))
                    done
                fi
                kill -KILL "$pid" 2>/dev/null
            ) &
            reader=$!
            exec 3<&-
            wait "$pid"
            status=$?
            kill "$reader" 2>/dev/null
            exit "$status"
        "#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("mysql-watchdog")
            .arg(&mariadbd)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("could not run sh for the mariadbd watchdog")?;
        let stdin = child.stdin.take().expect("piped stdin");
        self.child = Some((child, stdin));
        self.wait_until_ready()
            .map_err(|err| anyhow!("{err:#}; its log:\n{}", self.log_tail()))
    }

    /// The end of the server's error log, for failures.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.error_log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until `SELECT 1` over the socket works and the port accepts.
    fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.socket().exists() && self.exec("SELECT 1").is_ok_and(|out| out.trim() == "1") {
                break;
            }
            let (child, _) = self.child.as_mut().expect("just spawned");
            if let Some(status) = child.try_wait().context("checking mariadbd")? {
                bail!(
                    "mariadbd on port {} (in {}) exited early with {status}",
                    self.port,
                    self.dir.display()
                );
            }
            if Instant::now() > deadline {
                // Says why, if the client can.
                let why = self.exec("SELECT 1").err().map(|err| format!(": {err:#}"));
                bail!(
                    "mariadbd on port {} (in {}) did not answer within {WAIT:?}{}",
                    self.port,
                    self.dir.display(),
                    why.unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (child, _) = self.child.as_mut().expect("just spawned");
        wait_until_listening("mariadbd", self.port, child, WAIT)
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mysql://skiff:skiff-pass@127.0.0.1:<port>/skiff`: [`USER`] on
    /// [`DATABASE`].
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// `mysql://skiff:skiff-pass@127.0.0.1:<port>/<db>`: [`USER`] on `db`
    /// (one from [`MysqlServer::database`]).
    pub fn url_for(&self, db: &str) -> String {
        format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    /// The CA certificate (PEM) a client of a TLS server must trust.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// The server's directory (data, socket, `error.log`), for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a fresh, empty, uniquely named database that [`USER`] has all
    /// privileges on, and returns its name (for [`MysqlServer::url_for`]).
    pub fn database(&self) -> Result<String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.exec(&format!(
            "CREATE DATABASE `{name}`; GRANT ALL PRIVILEGES ON `{name}`.* TO '{USER}'@'%';"
        ))?;
        Ok(name)
    }

    /// Runs `sql` (any number of statements) as `root` with the `mariadb`
    /// client over the unix socket, in batch mode without column names
    /// (`-N -B`: one line per row, tab-separated), and returns its output.
    pub fn exec(&self, sql: &str) -> Result<String> {
        let mut args = vec![
            "--socket".to_string(),
            self.socket().display().to_string(),
            "--user=root".into(),
        ];
        args.extend(["-N", "-B"].map(String::from));
        self.client(&args, sql)
    }

    /// Like [`MysqlServer::exec`], in database `db`.
    pub fn exec_in(&self, db: &str, sql: &str) -> Result<String> {
        self.exec(&format!("USE `{db}`;\n{sql}"))
    }

    /// Runs `sql` as [`USER`] with the `mariadb` client over TCP to
    /// `127.0.0.1`, in [`DATABASE`], with `client_args` added (`--ssl`,
    /// `--skip-ssl`, `--ssl-ca=…`, `--database=…`): a login as a Rust client's.
    /// Note the MariaDB 10.11 client tries TLS on its own if the server offers
    /// it, without verifying the certificate; `--skip-ssl` keeps it plain.
    pub fn exec_as_user(&self, client_args: &[&str], sql: &str) -> Result<String> {
        let mut args = vec![
            "--host=127.0.0.1".to_string(),
            format!("--port={}", self.port),
            format!("--user={USER}"),
            format!("--password={PASSWORD}"),
            format!("--database={DATABASE}"),
            "-N".into(),
            "-B".into(),
        ];
        args.extend(client_args.iter().map(|arg| arg.to_string()));
        self.client(&args, sql)
    }

    /// `mariadb --no-defaults ARGS`, `sql` on its stdin; its stdout, or an
    /// error with its stderr.
    fn client(&self, args: &[String], sql: &str) -> Result<String> {
        let mut child = Command::new(find("mariadb")?)
            .arg("--no-defaults")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| anyhow!("could not run the `mariadb` client ({err}); {INSTALL}"))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let sql_owned = sql.to_string();
        // Written from a thread, so a large output cannot block a large input.
        let writer = std::thread::spawn(move || stdin.write_all(sql_owned.as_bytes()));
        let out = child
            .wait_with_output()
            .context("waiting for the `mariadb` client")?;
        let written = writer.join().expect("the stdin writer does not panic");
        ensure!(
            out.status.success(),
            "`mariadb {}` on MariaDB at {} ({}) failed ({}): {}\nSQL: {sql}",
            args.join(" ").replace(PASSWORD, "…"),
            self.address(),
            self.dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        written.context("writing SQL to the `mariadb` client")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the server (a clean shutdown, so committed data stays).
    pub fn stop(&mut self) -> Result<()> {
        if let Some((mut child, mut stdin)) = self.child.take() {
            let _ = stdin.write_all(b"stop\n");
            drop(stdin);
            child
                .wait()
                .with_context(|| format!("waiting for mariadbd on port {} to stop", self.port))?;
        }
        Ok(())
    }

    /// Stops the server if it runs and starts it again on the same port with
    /// the same data.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn()
    }
}

impl Drop for MysqlServer {
    /// Kills the server (no clean shutdown: its data goes) and removes its
    /// directory.
    fn drop(&mut self) {
        for (mut child, stdin) in [self.child.take(), self.remover.take()]
            .into_iter()
            .flatten()
        {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_answers_root_on_its_socket_and_skiff_over_tcp() -> Result<()> {
        let server = MysqlServer::start()?;
        assert_eq!(server.exec("SELECT 1")?, "1\n");
        assert_eq!(
            server.url(),
            format!("mysql://skiff:skiff-pass@127.0.0.1:{}/skiff", server.port())
        );
        assert_eq!(server.address(), format!("127.0.0.1:{}", server.port()));
        let who = server.exec_as_user(&["--skip-ssl"], "SELECT CURRENT_USER(), DATABASE()")?;
        assert_eq!(who, "skiff@%\tskiff\n");
        assert_eq!(
            server.exec("SELECT plugin FROM mysql.user WHERE User = 'skiff'")?,
            "mysql_native_password\n"
        );
        assert_eq!(
            server.exec("SELECT @@character_set_server, @@log_bin")?,
            "utf8mb4\t0\n"
        );
        // A wrong password, and root over TCP, are refused.
        let wrong = Command::new("mariadb")
            .args(["--no-defaults", "--skip-ssl", "-h", "127.0.0.1", "-P"])
            .arg(server.port().to_string())
            .args(["-u", "skiff", "-pwrong", "-e", "SELECT 1"])
            .output()?;
        assert!(!wrong.status.success());
        let root = Command::new("mariadb")
            .args(["--no-defaults", "--skip-ssl", "-h", "127.0.0.1", "-P"])
            .arg(server.port().to_string())
            .args(["-u", "root", "-e", "SELECT 1"])
            .output()?;
        assert!(!root.status.success());
        // Errors name the server and carry the client's message.
        let err = server.exec("SELECT nonsense FROM nowhere").unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains(&server.address()), "{err}");
        assert!(err.contains("nowhere"), "{err}");
        Ok(())
    }

    #[test]
    fn each_database_is_fresh_and_granted_to_skiff() -> Result<()> {
        let server = MysqlServer::shared()?;
        let (a, b) = (server.database()?, server.database()?);
        assert_ne!(a, b);
        assert_eq!(
            server.url_for(&a),
            format!("mysql://skiff:skiff-pass@127.0.0.1:{}/{a}", server.port())
        );
        let in_a = format!("--database={a}");
        server.exec_as_user(
            &[&in_a],
            "CREATE TABLE pets (name VARCHAR(20)); INSERT INTO pets VALUES ('émile');",
        )?;
        assert_eq!(server.exec_in(&a, "SELECT name FROM pets")?, "émile\n");
        let in_b = format!("--database={b}");
        assert_eq!(server.exec_as_user(&[&in_b], "SHOW TABLES")?, "");
        // The one server for the whole test binary.
        assert_eq!(MysqlServer::shared()?.port(), server.port());
        Ok(())
    }

    #[test]
    fn restart_keeps_port_and_data() -> Result<()> {
        let mut server = MysqlServer::start()?;
        let port = server.port();
        server.exec_as_user(
            &[],
            "CREATE TABLE kept (n INT); INSERT INTO kept VALUES (7);",
        )?;
        server.stop()?;
        assert!(server.exec("SELECT 1").is_err());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        server.restart()?;
        assert_eq!(server.port(), port);
        assert_eq!(server.exec_as_user(&[], "SELECT n FROM kept")?, "7\n");
        Ok(())
    }

    #[test]
    fn a_tls_server_refuses_plain_text_logins() -> Result<()> {
        let server = MysqlServer::start_tls()?;
        let ca = server.ca_file().expect("a TLS server has a CA");
        assert!(ca.is_file());
        let plain = server
            .exec_as_user(&["--skip-ssl"], "SELECT 1")
            .unwrap_err();
        assert!(format!("{plain:#}").contains("Access denied"), "{plain:#}");
        let ssl_ca = format!("--ssl-ca={}", ca.display());
        let tls = server.exec_as_user(
            &["--ssl", &ssl_ca, "--ssl-verify-server-cert"],
            "SHOW STATUS LIKE 'Ssl_version'",
        )?;
        assert!(tls.starts_with("Ssl_version\tTLSv1."), "{tls}");
        // The socket counts as secure.
        assert_eq!(server.exec("SELECT 1")?, "1\n");
        Ok(())
    }

    #[test]
    fn drop_stops_the_server_and_removes_its_directory() -> Result<()> {
        let server = MysqlServer::start()?;
        let pid = std::fs::read_to_string(server.dir().join("mariadbd.pid"))?;
        let proc = PathBuf::from(format!("/proc/{}", pid.trim()));
        assert!(proc.exists());
        let dir = server.dir().to_path_buf();
        drop(server);
        assert!(!proc.exists(), "mariadbd {} still runs", pid.trim());
        assert!(!dir.exists());
        Ok(())
    }
}
