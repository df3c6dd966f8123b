//! An acknowledged write to the embedded store survives `kill -9`.
//!
//! `acknowledged_writes_survive_kill_9` runs this test binary again as a
//! child running only `writer`, which writes keys forever and prints
//! `ack N` after each write returns; the parent kills it with SIGKILL after
//! a few hundred acks and checks that every acknowledged key is there.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use skiff_kv::KeyValueManager;

const DIR_VAR: &str = "SKIFF_KV_DURABILITY_DIR";

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_kill_9() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--exact", "durability::writer", "--ignored", "--nocapture"])
        .env(DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut last_ack = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(n) = line.strip_prefix("ack ") {
            let n: u64 = n.parse()?;
            last_ack = Some(n);
            if n >= 300 {
                break;
            }
        }
    }
    child.kill()?; // SIGKILL
    child.wait()?;
    let Some(last_ack) = last_ack else {
        bail!("the writer acknowledged nothing");
    };

    let manager = KeyValueManager::builder("app")
        .state_dir(dir.path())
        .build();
    let store = manager.open("default").await?;
    for i in 0..=last_ack {
        assert_eq!(
            store.get(&format!("key-{i}")).await?,
            Some(format!("value-{i}").into_bytes()),
            "acknowledged write {i} of {last_ack} was lost"
        );
    }
    Ok(())
}

/// The child: writes until it is killed. Only runs when asked to.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "run by acknowledged_writes_survive_kill_9"]
async fn writer() -> Result<()> {
    let dir = std::env::var_os(DIR_VAR).context("run by acknowledged_writes_survive_kill_9")?;
    let manager = KeyValueManager::builder("app").state_dir(dir).build();
    let store = manager.open("default").await?;
    for i in 0u64.. {
        store
            .set(&format!("key-{i}"), format!("value-{i}").as_bytes())
            .await?;
        println!("ack {i}");
    }
    Ok(())
}
