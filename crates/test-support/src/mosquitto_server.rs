//! A throwaway `mosquitto` MQTT broker on a free loopback port, and
//! `mosquitto_sub` to watch what reaches it.
//!
//! The binaries come from Debian's `mosquitto` and `mosquitto-clients`
//! packages, which `.ci/run` installs; a missing binary fails the test with
//! that fix, never skips it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tempfile::TempDir;

use crate::{free_port, tempdir, wait_until_listening};

const INSTALL: &str =
    "install it with `apt-get install -y mosquitto mosquitto-clients` (.ci/run does)";

/// How long a subscriber waits for the broker or a message.
const WAIT: Duration = Duration::from_secs(20);

/// A broker started for one test, anonymous or with one user; killed on drop.
pub struct MosquittoServer {
    child: Child,
    port: u16,
    /// Its configuration file, to start it again ([`MosquittoServer::resume`]).
    conf: std::path::PathBuf,
    _dir: TempDir,
    /// For a TLS broker, the CA certificate that signed its certificate.
    ca: Option<std::path::PathBuf>,
}

impl MosquittoServer {
    /// Starts `mosquitto` on a free loopback port, accepting anonymous clients.
    pub fn start() -> Result<Self> {
        Self::launch(None, false)
    }

    /// Starts `mosquitto` accepting only `user` with `password`.
    pub fn start_with_user(user: &str, password: &str) -> Result<Self> {
        Self::launch(Some((user, password)), false)
    }

    /// Starts `mosquitto` accepting anonymous clients over TLS only, with a
    /// certificate for `localhost` and `127.0.0.1` signed by a CA made for it
    /// ([`MosquittoServer::ca_file`]).
    pub fn start_tls() -> Result<Self> {
        Self::launch(None, true)
    }

    fn launch(user: Option<(&str, &str)>, tls: bool) -> Result<Self> {
        let dir = tempdir()?;
        let port = free_port()?;
        let mut config = format!("listener {port} 127.0.0.1\n");
        let ca = if tls {
            let ca = crate::make_certificates(dir.path())?;
            // Started as root, mosquitto reads its key after switching to the
            // `mosquitto` user: let it into this throwaway directory.
            use std::os::unix::fs::PermissionsExt;
            let open = |path: &std::path::Path, mode| {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            };
            open(dir.path(), 0o755)?;
            open(&dir.path().join("server.key"), 0o644)?;
            config.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\n",
                ca.display(),
                dir.path().join("server.crt").display(),
                dir.path().join("server.key").display()
            ));
            Some(ca)
        } else {
            None
        };
        match user {
            None => config.push_str("allow_anonymous true\n"),
            Some((user, password)) => {
                let file = dir.path().join("passwords");
                let status = Command::new("mosquitto_passwd")
                    .args(["-b", "-c"])
                    .arg(&file)
                    .args([user, password])
                    .stdout(Stdio::null())
                    .status()
                    .map_err(|err| {
                        anyhow!("could not run `mosquitto_passwd` ({err}); {INSTALL}")
                    })?;
                anyhow::ensure!(status.success(), "mosquitto_passwd failed: {status}");
                config.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                ));
            }
        }
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf, config)?;
        let mut child = spawn(&conf)?;
        wait_until_listening("mosquitto", port, &mut child, WAIT)?;
        Ok(MosquittoServer {
            child,
            port,
            conf,
            _dir: dir,
            ca,
        })
    }

    /// Stops the broker (its clients lose their connections; it keeps no
    /// sessions or messages): it is down until [`MosquittoServer::resume`].
    pub fn stop(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Starts the broker again, on the same port with the same users.
    pub fn resume(&mut self) -> Result<()> {
        self.child = spawn(&self.conf)?;
        wait_until_listening("mosquitto", self.port, &mut self.child, WAIT)
    }

    /// [`stop`](Self::stop), then [`resume`](Self::resume).
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.resume()
    }

    /// Publishes `payload` on `topic` with `mosquitto_pub` at `qos`;
    /// returns once the broker has it. `login` as for
    /// [`subscribe`](Self::subscribe).
    pub fn publish(
        &self,
        topic: &str,
        payload: &str,
        qos: u8,
        login: Option<(&str, &str)>,
    ) -> Result<()> {
        self.publish_with(topic, ["-m", payload], qos, login)
    }

    /// Publishes the contents of `file` on `topic` at `qos` (for payloads
    /// too large for a command line).
    pub fn publish_file(&self, topic: &str, file: &std::path::Path, qos: u8) -> Result<()> {
        let file = file.to_str().context("a UTF-8 file path")?;
        self.publish_with(topic, ["-f", file], qos, None)
    }

    fn publish_with(
        &self,
        topic: &str,
        payload: [&str; 2],
        qos: u8,
        login: Option<(&str, &str)>,
    ) -> Result<()> {
        let mut cmd = Command::new("mosquitto_pub");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-t", topic])
            .args(payload)
            .args(["-q", &qos.to_string()]);
        if let Some(ca) = &self.ca {
            cmd.arg("--cafile").arg(ca);
        }
        if let Some((user, password)) = login {
            cmd.args(["-u", user, "-P", password]);
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|err| anyhow!("could not run `mosquitto_pub` ({err}); {INSTALL}"))?;
        anyhow::ensure!(
            out.status.success(),
            "mosquitto_pub to `{topic}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// `mqtt://127.0.0.1:<port>`, or `mqtts://…` for a TLS broker.
    pub fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "mqtts" } else { "mqtt" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The CA certificate (PEM) a client of a TLS broker must trust.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca.as_deref()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Subscribes to `topic` (QoS 2) with `mosquitto_sub`; returns once the
    /// broker has acknowledged the subscription. `login` is the user and
    /// password for a broker that wants one.
    pub fn subscribe(&self, topic: &str, login: Option<(&str, &str)>) -> Result<Subscriber> {
        // `stdbuf -oL`: line-buffered, or a piped `mosquitto_sub` holds its
        // output back (stdbuf execs it, so killing the child kills it).
        let mut cmd = Command::new("stdbuf");
        cmd.args([
            "-oL",
            "mosquitto_sub",
            "-d",
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
        ])
        .args(["-t", topic, "-q", "2"]);
        if let Some(ca) = &self.ca {
            cmd.arg("--cafile").arg(ca);
        }
        if let Some((user, password)) = login {
            cmd.args(["-u", user, "-P", password]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| anyhow!("could not run `mosquitto_sub` ({err}); {INSTALL}"))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let subscriber = Subscriber { child, lines };
        loop {
            let line = subscriber.line()?;
            if line.contains("received SUBACK") {
                return Ok(subscriber);
            }
        }
    }
}

/// `mosquitto -c conf`.
fn spawn(conf: &std::path::Path) -> Result<Child> {
    Command::new("mosquitto")
        .arg("-c")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| {
            anyhow!("could not run `mosquitto` ({err}); the MQTT tests need it: {INSTALL}")
        })
}

impl Drop for MosquittoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `mosquitto_sub -d`; killed on drop.
pub struct Subscriber {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Subscriber {
    fn line(&self) -> Result<String> {
        self.lines
            .recv_timeout(WAIT)
            .map_err(|err| anyhow!("`mosquitto_sub` printed nothing more within {WAIT:?}: {err}"))
    }

    /// The next message: `(qos, payload)` (one-line payloads only).
    pub fn next_message(&self) -> Result<(u8, String)> {
        loop {
            let line = self.line()?;
            // `Client … received PUBLISH (d0, q1, r0, m1, 'topic', … (5 bytes))`,
            // then the payload on its own line.
            if let Some(rest) = line.split("received PUBLISH (").nth(1) {
                let qos = rest
                    .split(", ")
                    .nth(1)
                    .and_then(|q| q.strip_prefix('q'))
                    .and_then(|q| q.parse().ok())
                    .with_context(|| format!("no QoS in `{line}`"))?;
                loop {
                    let payload = self.line()?;
                    if !payload.starts_with("Client ") {
                        return Ok((qos, payload));
                    }
                }
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
