//! A throwaway `redis-server` on a free loopback port, plain or TLS-only, and
//! `redis-cli` to look inside it or watch a channel.
//!
//! Both binaries come from Debian's `redis-server` package (built with TLS),
//! and a TLS server's certificates are made by the `openssl` command, both of
//! which `.ci/run` installs; a missing binary fails the test with that fix,
//! never skips it.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Result, anyhow, ensure};
use tempfile::TempDir;

use crate::{free_port, tempdir, wait_until_listening};

const INSTALL: &str = "install it with `apt-get install -y redis-server` (.ci/run does)";

/// A Redis server started for one test, without persistence; killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    /// For a TLS server, the CA certificate that signed its certificate.
    ca: Option<std::path::PathBuf>,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port.
    pub fn start() -> Result<Self> {
        let mut server = RedisServer {
            child: None,
            port: free_port()?,
            dir: tempdir()?,
            ca: None,
        };
        server.restart()?;
        Ok(server)
    }

    /// Starts `redis-server` accepting only TLS on a free loopback port, with a
    /// certificate for `localhost` and `127.0.0.1` signed by a CA made for it
    /// ([`RedisServer::ca_file`]); clients need no certificate.
    pub fn start_tls() -> Result<Self> {
        let dir = tempdir()?;
        let ca = crate::make_certificates(dir.path())?;
        let mut server = RedisServer {
            child: None,
            port: free_port()?,
            dir,
            ca: Some(ca),
        };
        server.restart()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The CA certificate (PEM) a client of a TLS server must trust.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// `redis-cli`'s connection arguments for this server.
    fn cli_args(&self) -> Vec<String> {
        let mut args = vec![
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string(),
        ];
        if let Some(ca) = &self.ca {
            args.extend(["--tls".into(), "--cacert".into(), ca.display().to_string()]);
        }
        args
    }

    /// `127.0.0.1:<port>`, as Skiff's errors name it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL); its data is gone.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the server again on the same port (empty).
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        let child = spawn(self.port, self.dir.path(), self.ca.is_some())?;
        self.child = Some(child);
        let child = self.child.as_mut().expect("just started");
        wait_until_listening("redis-server", self.port, child, Duration::from_secs(20))
    }

    /// `redis-cli -p PORT ARGS…`, its output trimmed.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("redis-cli")
            .args(self.cli_args())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| anyhow!("could not run `redis-cli` ({err}); {INSTALL}"))?;
        ensure!(
            out.status.success(),
            "`redis-cli {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn spawn(port: u16, dir: &Path, tls: bool) -> Result<Child> {
    let port = port.to_string();
    let mut cmd = Command::new("redis-server");
    if tls {
        cmd.args([
            "--port",
            "0",
            "--tls-port",
            &port,
            "--tls-auth-clients",
            "no",
        ])
        .arg("--tls-cert-file")
        .arg(dir.join("server.crt"))
        .arg("--tls-key-file")
        .arg(dir.join("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(dir.join("ca.crt"));
    } else {
        cmd.args(["--port", &port]);
    }
    cmd.args(["--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| {
            anyhow!("could not run `redis-server` ({err}); the Redis tests need it: {INSTALL}")
        })
}

/// A `redis-cli SUBSCRIBE` running in the background; killed on drop.
pub struct Subscriber {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl RedisServer {
    /// Subscribes to `channel` with `redis-cli`; returns once the server has
    /// confirmed the subscription.
    pub fn subscribe(&self, channel: &str) -> Result<Subscriber> {
        let mut child = Command::new("redis-cli")
            .args(self.cli_args())
            .args(["SUBSCRIBE", channel])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| anyhow!("could not run `redis-cli` ({err}); {INSTALL}"))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut subscriber = Subscriber { child, lines };
        let confirmation = subscriber.read(3)?;
        ensure!(
            confirmation == ["subscribe", channel, "1"],
            "unexpected answer to SUBSCRIBE: {confirmation:?}"
        );
        Ok(subscriber)
    }
}

impl Subscriber {
    fn read(&mut self, n: usize) -> Result<Vec<String>> {
        (0..n)
            .map(|_| {
                self.lines
                    .recv_timeout(Duration::from_secs(20))
                    .map_err(|err| anyhow!("`redis-cli SUBSCRIBE` printed nothing more: {err}"))
            })
            .collect()
    }

    /// The payload of the next message (waits at most 20 s).
    pub fn next_message(mut self) -> Result<String> {
        let lines = self.read(3)?;
        ensure!(lines[0] == "message", "expected a message, got {lines:?}");
        Ok(lines[2].clone())
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
