//! A throwaway `redis-server` on a free loopback port.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

/// A Redis server started for one test; killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// Starts `redis-server` on a free port with no persistence. Fails (never
    /// skips) when the binary is missing.
    pub fn start() -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = RedisServer {
            child: None,
            port,
            dir: tempfile::tempdir()?,
        };
        server.restart()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (its data is gone: there is no persistence).
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        let child = spawn(self.port, self.dir.path())?;
        self.child = Some(child);
        wait_until_listening(self.port, self.child.as_mut().unwrap())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn spawn(port: u16, dir: &Path) -> Result<Child> {
    let port = port.to_string();
    Command::new("redis-server")
        .args([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| {
            anyhow::anyhow!(
                "could not run `redis-server` ({err}); the Redis tests need it on PATH: \
                 install it with `apt-get install -y redis-server` (.ci/run does)"
            )
        })
}

fn wait_until_listening(port: u16, child: &mut Child) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait().context("checking redis-server")? {
            bail!("redis-server on port {port} exited early with {status}");
        }
        if Instant::now() > deadline {
            bail!("redis-server did not listen on port {port} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
