//! The backend of a label changing under a running `skiff up`: the live swap
//! of the runtime config (file watch and SIGHUP), and Redis going down and
//! coming back.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};

use super::{EFFECT_BOUND, ask, manifest, redis_config, replace_file, tell, up};
use crate::harness::{AppDir, Connection, Server, empty};
use crate::redis_server::{RedisServer, free_port};

// ---------------------------------------------------------------------------
// Live swap
// ---------------------------------------------------------------------------

/// One answer of a client loop: the counter's new value, or what went wrong.
#[derive(Debug, Clone)]
enum Answer {
    Count(i64),
    Failed(String),
}

/// Client loops, each sending `GET path` back to back on its own connection
/// and recording every answer, until stopped.
struct Clients {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Vec<Answer>>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Clients {
    fn start(server: &Server, loops: usize, path: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(vec![Vec::new(); loops]));
        let tasks = (0..loops)
            .map(|n| {
                let (stop, answers) = (stop.clone(), answers.clone());
                let (addr, path) = (server.addr(), path.to_string());
                tokio::spawn(async move {
                    let mut conn = None;
                    while !stop.load(Ordering::SeqCst) {
                        let answer = match Self::once(&mut conn, addr, &path).await {
                            Ok(answer) => answer,
                            Err(err) => {
                                conn = None;
                                Answer::Failed(format!("{err:#}"))
                            }
                        };
                        answers.lock().unwrap()[n].push(answer);
                    }
                })
            })
            .collect();
        Clients {
            stop,
            answers,
            tasks,
        }
    }

    async fn once(
        conn: &mut Option<Connection>,
        addr: std::net::SocketAddr,
        path: &str,
    ) -> Result<Answer> {
        if conn.is_none() {
            *conn = Some(Connection::open(addr).await?);
        }
        let resp = conn
            .as_mut()
            .unwrap()
            .send(http::Request::get(path).body(empty())?)
            .await?;
        Ok(match (resp.status.as_u16(), resp.text().parse()) {
            (200, Ok(n)) => Answer::Count(n),
            (status, _) => Answer::Failed(format!("{status} {}", resp.text())),
        })
    }

    /// How many answers each loop has so far.
    fn lens(&self) -> Vec<usize> {
        self.answers.lock().unwrap().iter().map(Vec::len).collect()
    }

    /// Waits until `done` holds for the answers of every loop.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Answer]) -> bool) -> Result<()> {
        let deadline = Instant::now() + EFFECT_BOUND;
        while !self.answers.lock().unwrap().iter().all(|a| done(a)) {
            if Instant::now() > deadline {
                bail!(
                    "not every client loop saw {what} within {EFFECT_BOUND:?}: {:?}",
                    self.answers.lock().unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Waits until every loop has `more` answers beyond `lens`.
    async fn wait_for_more(&self, lens: &[usize], more: usize) -> Result<()> {
        let lens = lens.to_vec();
        let deadline = Instant::now() + EFFECT_BOUND;
        while self
            .lens()
            .iter()
            .zip(&lens)
            .any(|(now, then)| *now < then + more)
        {
            ensure!(
                Instant::now() < deadline,
                "the client loops stalled: {:?} answers, waited for {more} more than {lens:?}",
                self.lens()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    async fn finish(self) -> Result<Vec<Vec<Answer>>> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await?;
        }
        Ok(std::mem::take(&mut *self.answers.lock().unwrap()))
    }
}

/// An app counting with `incr` in `default` on the embedded store is switched
/// live to Redis by rewriting its runtime config while two clients send
/// requests back to back: no request fails, every increment lands in exactly
/// one store, and once a client has seen Redis it never sees the old store
/// again. Then a config that does not parse and one whose Redis is unreachable
/// are each rejected with an error log while Redis keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn live_swap_embedded_to_redis_fails_no_request() -> Result<()> {
    const SEED: i64 = 1_000_000;
    let redis = RedisServer::start()?;
    let redis_key = "skiff:counter:default:count";
    redis.cli(&["SET", redis_key, &SEED.to_string()])?;

    let dir = AppDir::new()?;
    dir.write("skiff.toml", manifest("counter", &["default"]))?;
    let rc = dir.write(
        "runtime-config.toml",
        "# `default` is not named here: the embedded store serves it\n",
    )?;
    let server = up(&dir, &[Path::new("--runtime-config"), &rc])?;
    let clients = Clients::start(&server, 2, "/wasi?store=default&op=incr&key=count&by=1");
    let on_redis = |a: &Answer| matches!(a, Answer::Count(n) if *n > SEED);
    clients
        .wait_until("10 answers from the embedded store", |a| a.len() >= 10)
        .await?;

    replace_file(&rc, &redis_config(&redis.url(), &["default"]))?;
    let stderr = server.stderr();
    tokio::task::block_in_place(|| {
        stderr.wait_for(
            &format!("runtime config `{}` applied", rc.display()),
            EFFECT_BOUND,
        )
    })?;
    clients
        .wait_until("a count from Redis", |a| a.iter().any(on_redis))
        .await?;

    // A file that is not TOML, then a Redis nobody listens on: both rejected.
    replace_file(&rc, "[key_value_store.default\ntype = \"memory\"\n")?;
    let text = tokio::task::block_in_place(|| {
        stderr.wait_for(
            &format!("runtime config `{}` is not valid TOML", rc.display()),
            EFFECT_BOUND,
        )
    })?;
    assert!(
        text.contains("runtime config not applied, still serving with the previous one"),
        "{text}"
    );
    clients.wait_for_more(&clients.lens(), 5).await?;
    let closed = format!("127.0.0.1:{}", free_port()?);
    replace_file(
        &rc,
        &redis_config(&format!("redis://{closed}"), &["default"]),
    )?;
    let text = tokio::task::block_in_place(|| {
        stderr.wait_for(&format!("redis at {closed}"), EFFECT_BOUND)
    })?;
    let line = text
        .lines()
        .find(|l| l.contains(&format!("redis at {closed}")))
        .unwrap();
    assert!(
        line.contains(&format!("runtime config `{}` not applied", rc.display()))
            && line.contains("still serving with the previous one")
            && line.contains("key_value_store.default"),
        "{line}"
    );
    clients.wait_for_more(&clients.lens(), 5).await?;
    let answers = clients.finish().await?;

    let failures: Vec<&str> = answers
        .iter()
        .flatten()
        .filter_map(|a| match a {
            Answer::Failed(why) => Some(why.as_str()),
            Answer::Count(_) => None,
        })
        .collect();
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    let (mut embedded, mut redis_counts) = (Vec::new(), Vec::new());
    for (n, answers) in answers.iter().enumerate() {
        let counts: Vec<i64> = answers
            .iter()
            .map(|a| match a {
                Answer::Count(c) => *c,
                Answer::Failed(_) => unreachable!(),
            })
            .collect();
        let switch = counts.iter().position(|c| *c > SEED).unwrap();
        let (before, after) = counts.split_at(switch);
        ensure!(
            after.iter().all(|c| *c > SEED),
            "client {n} went back to the old store after seeing Redis: {counts:?}"
        );
        ensure!(
            before.windows(2).all(|w| w[0] < w[1]) && after.windows(2).all(|w| w[0] < w[1]),
            "client {n} saw a counter go backwards: {counts:?}"
        );
        embedded.extend_from_slice(before);
        redis_counts.extend_from_slice(after);
    }
    // Every increment landed once, in one store: no gaps, no repeats.
    embedded.sort_unstable();
    redis_counts.sort_unstable();
    let e = i64::try_from(embedded.len())?;
    let r = i64::try_from(redis_counts.len())?;
    assert_eq!(embedded, (1..=e).collect::<Vec<_>>(), "embedded counts");
    assert_eq!(
        redis_counts,
        (SEED + 1..=SEED + r).collect::<Vec<_>>(),
        "redis counts"
    );
    assert_eq!(redis.cli(&["GET", redis_key])?, (SEED + r).to_string());
    Ok(())
}

/// SIGHUP applies the runtime config even when the watcher cannot see a
/// change (the new file keeps the old modification time).
#[tokio::test(flavor = "multi_thread")]
async fn sighup_applies_the_runtime_config() -> Result<()> {
    let dir = AppDir::new()?;
    dir.write("skiff.toml", manifest("test", &["default"]))?;
    let rc = dir.write("runtime-config.toml", "# embedded default\n")?;
    let server = up(&dir, &[Path::new("--runtime-config"), &rc])?;
    let q = "/wasi?store=default&op=get&key=k";
    tell(&server, "/wasi?store=default&op=set&key=k", "embedded").await?;
    assert_eq!(ask(&server, q).await?, "some:embedded");

    let modified = std::fs::metadata(&rc)?.modified()?;
    let new = rc.with_extension("toml.new");
    std::fs::write(&new, "[key_value_store.default]\ntype = \"memory\"\n")?;
    std::fs::File::options()
        .write(true)
        .open(&new)?
        .set_modified(modified)?;
    std::fs::rename(&new, &rc)?;
    assert_eq!(std::fs::metadata(&rc)?.modified()?, modified);

    server.signal("HUP")?;
    tokio::task::block_in_place(|| {
        server.stderr().wait_for(
            &format!("runtime config `{}` applied", rc.display()),
            EFFECT_BOUND,
        )
    })?;
    assert_eq!(ask(&server, q).await?, "none", "`default` is now memory");
    tell(&server, "/wasi?store=default&op=set&key=k", "memory").await?;
    assert_eq!(ask(&server, q).await?, "some:memory");
    Ok(())
}

// ---------------------------------------------------------------------------
// Backend down and back
// ---------------------------------------------------------------------------

/// Redis stopped: its store gives the guest the interface's `other` error
/// naming the server, while other routes and stores keep serving; Redis back
/// on the same port: requests succeed again, with no host restart.
#[tokio::test(flavor = "multi_thread")]
async fn redis_down_then_back() -> Result<()> {
    let mut redis = RedisServer::start()?;
    let dir = AppDir::new()?;
    dir.write("skiff.toml", manifest("test", &["default", "local"]))?;
    let rc = dir.write(
        "runtime-config.toml",
        format!(
            "{}[key_value_store.local]\ntype = \"memory\"\n",
            redis_config(&redis.url(), &["default"])
        ),
    )?;
    let mut server = up(&dir, &[Path::new("--runtime-config"), &rc])?;
    let pid = server.pid();
    tell(&server, "/wasi?store=default&op=set&key=k", "v").await?;
    assert_eq!(
        ask(&server, "/wasi?store=default&op=get&key=k").await?,
        "some:v"
    );

    redis.stop()?;
    let down = format!("error: other: redis at {}: ", redis.address());
    for path in [
        "/wasi?store=default&op=get&key=k",
        "/wasi?store=default&op=incr&key=n&by=1",
        "/spin2?store=default&op=get&key=k",
        "/spin2?store=default&op=exists&key=k",
    ] {
        let answer = ask(&server, path).await?;
        assert!(answer.starts_with(&down), "{path}: {answer}");
    }
    let answer = tell(&server, "/wasi?store=default&op=set&key=k", "w").await?;
    assert!(answer.starts_with(&down), "set: {answer}");
    // Another store, on both routes, is unaffected.
    tell(&server, "/wasi?store=local&op=set&key=k", "local").await?;
    assert_eq!(
        ask(&server, "/spin2?store=local&op=get&key=k").await?,
        "some:local"
    );

    redis.restart()?;
    let deadline = Instant::now() + EFFECT_BOUND;
    loop {
        let answer = tell(&server, "/wasi?store=default&op=set&key=back", "again").await?;
        if answer == "ok" {
            break;
        }
        assert!(answer.starts_with(&down), "while reconnecting: {answer}");
        ensure!(
            Instant::now() < deadline,
            "still failing {EFFECT_BOUND:?} after Redis came back: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        ask(&server, "/spin2?store=default&op=get&key=back").await?,
        "some:again"
    );
    assert_eq!(
        ask(&server, "/wasi?store=default&op=incr&key=n&by=1").await?,
        "1"
    );
    assert_eq!(redis.cli(&["GET", "skiff:test:default:back"])?, "again");
    assert!(
        server.is_running() && server.pid() == pid,
        "the host restarted"
    );
    Ok(())
}
