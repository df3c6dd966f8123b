//! A throwaway `nats-server` on a free loopback port, anonymous or with a
//! user or a token, with or without JetStream, that a test can stop and
//! start again on the same port (JetStream's data kept).
//!
//! The binary comes from Debian's `nats-server` package, which `.ci/run`
//! installs; a missing binary fails the test with that fix, never skips it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Result, anyhow};
use tempfile::TempDir;

use crate::{free_port, tempdir, wait_until_listening};

const INSTALL: &str = "install it with `apt-get install -y nats-server` (.ci/run does)";

/// How long the server may take to listen.
const WAIT: Duration = Duration::from_secs(20);

/// Who the server lets in.
#[derive(Clone)]
enum Auth {
    Anonymous,
    User(String, String),
    Token(String),
}

/// A NATS server started for one test; killed on drop.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    auth: Auth,
    jetstream: bool,
    /// The JetStream domain, if the server is in one.
    domain: Option<String>,
    dir: TempDir,
}

impl NatsServer {
    /// Starts `nats-server` on a free loopback port, accepting anyone.
    pub fn start() -> Result<Self> {
        Self::launch(Auth::Anonymous)
    }

    /// Starts `nats-server` with JetStream (its storage in the server's
    /// temporary directory), accepting anyone.
    pub fn start_jetstream() -> Result<Self> {
        Self::launch_with(Auth::Anonymous, true)
    }

    /// Starts `nats-server` with JetStream in domain `domain` (its API then
    /// also answers on `$JS.<domain>.API`, as a leaf node's does).
    pub fn start_jetstream_in_domain(domain: &str) -> Result<Self> {
        let mut server = NatsServer {
            child: None,
            port: free_port()?,
            auth: Auth::Anonymous,
            jetstream: true,
            domain: Some(domain.to_string()),
            dir: tempdir()?,
        };
        server.restart()?;
        Ok(server)
    }

    /// Starts `nats-server` accepting only `user` with `password`.
    pub fn start_with_user(user: &str, password: &str) -> Result<Self> {
        Self::launch(Auth::User(user.to_string(), password.to_string()))
    }

    /// Starts `nats-server` accepting only clients that present `token`.
    pub fn start_with_token(token: &str) -> Result<Self> {
        Self::launch(Auth::Token(token.to_string()))
    }

    fn launch(auth: Auth) -> Result<Self> {
        Self::launch_with(auth, false)
    }

    fn launch_with(auth: Auth, jetstream: bool) -> Result<Self> {
        let mut server = NatsServer {
            child: None,
            port: free_port()?,
            auth,
            jetstream,
            domain: None,
            dir: tempdir()?,
        };
        server.restart()?;
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL); its clients see the connection drop.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the server again on the same port, with the same auth (or
    /// for the first time).
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        let log = self.log_file();
        let mut cmd = Command::new("nats-server");
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-l")
            .arg(&log);
        match (&self.domain, self.jetstream) {
            // A domain is set in a config file only; the flags still set the
            // address, port and log.
            (Some(domain), _) => {
                let conf = self.dir.path().join("nats-server.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "jetstream {{\n  store_dir: {:?}\n  domain: {domain:?}\n}}\n",
                        self.dir.path().join("jetstream")
                    ),
                )?;
                cmd.arg("-c").arg(conf);
            }
            (None, true) => {
                cmd.arg("-js")
                    .arg("-sd")
                    .arg(self.dir.path().join("jetstream"));
            }
            (None, false) => {}
        }
        match &self.auth {
            Auth::Anonymous => {}
            Auth::User(user, password) => {
                cmd.args(["--user", user, "--pass", password]);
            }
            Auth::Token(token) => {
                cmd.args(["--auth", token]);
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| {
                anyhow!("could not run `nats-server` ({err}); the NATS tests need it: {INSTALL}")
            })?;
        let child = self.child.insert(child);
        wait_until_listening("nats-server", self.port, child, WAIT).map_err(|err| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            anyhow!("{err}; its log:\n{log}")
        })
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
