//! The cron trigger through `skiff up`: the `trigger_cron` guest (Spin's cron
//! plugin's `handle-cron-event` export) on every-second schedules. Each run
//! prints `cron tick TIMESTAMP at NOW_MS mode MODE` (skiff logs it as
//! `[ID stdout] …` on stderr) and, when told, reports its timestamp by an
//! outbound HTTP request to a listener the test runs on loopback; it fails,
//! traps or sleeps as its `CRON_MODE` says.
//!
//! Every wait is bounded; nothing asserts how fast anything is.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use test_programs_artifacts::{HTTP_HELLO_COMPONENT, TRIGGER_CRON_COMPONENT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::harness::{AppDir, BOUND, Server, get, shared_cache, toml_path, up_fails};

/// How long the runs a test waits for may take to show (a few seconds'
/// worth of every-second runs, after a start that may compile the guest).
const EFFECT_BOUND: Duration = Duration::from_secs(30);

/// A loopback HTTP listener that answers `200` to every request and hands
/// on the `timestamp` query parameter of each.
struct Reports {
    port: u16,
    timestamps: mpsc::UnboundedReceiver<u64>,
}

impl Reports {
    async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (tx, timestamps) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let timestamp = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|target| target.split_once("timestamp="))
                        .and_then(|(_, t)| t.parse().ok());
                    if let Some(t) = timestamp {
                        let _ = tx.send(t);
                    }
                    let _ = conn
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                });
            }
        });
        Ok(Reports { port, timestamps })
    }

    /// The next timestamp reported, within [`EFFECT_BOUND`].
    async fn next(&mut self) -> Result<u64> {
        tokio::time::timeout(EFFECT_BOUND, self.timestamps.recv())
            .await
            .context("no report arrived in time")?
            .context("the listener stopped")
    }
}

/// Seconds since the Unix epoch, by the test's clock.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// The `cron tick` lines component `id` printed, as (timestamp, the
/// guest's clock in ms when it ran, mode).
fn ticks(stderr: &str, id: &str) -> Vec<(u64, u128, String)> {
    let prefix = format!("[{id} stdout] cron tick ");
    stderr
        .lines()
        .filter_map(|line| line.split_once(&prefix).map(|(_, rest)| rest))
        .filter_map(|rest| {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            match parts.as_slice() {
                [ts, "at", now, "mode", mode] => {
                    Some((ts.parse().ok()?, now.parse().ok()?, mode.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

/// A cron component `id` of `trigger_cron` on `expression` with the
/// environment `env` (inline-table entries, e.g. `CRON_MODE = "fail"`) and
/// the extra component keys `extra`.
pub(crate) fn cron_component(id: &str, expression: &str, env: &str, extra: &str) -> String {
    format!(
        "[[trigger.cron]]\ncron_expression = \"{expression}\"\ncomponent = \"{id}\"\n\
         [component.{id}]\nsource = {}\nenvironment = {{ {env} }}\n{extra}",
        toml_path(TRIGGER_CRON_COMPONENT)
    )
}

/// An every-second schedule in a skiff.toml app of only a cron trigger: no
/// HTTP listener, a banner naming the schedule and its next time in UTC;
/// runs with consecutive timestamps, each on or after its second, each
/// reporting over outbound HTTP (the component's grants apply as under any
/// trigger); SIGTERM stops it cleanly.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn trigger_cron() -> Result<()> {
    let mut reports = Reports::start().await?;
    let port = reports.port;
    let app = AppDir::with_manifest(&cron_component(
        "tick",
        "* * * * * *",
        &format!("CRON_MODE = \"ok\", REPORT_URL = \"http://127.0.0.1:{port}/tick\""),
        &format!("allowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]\n"),
    ))?;
    let mut server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    let banner = server.stdout().wait_for("-> tick", BOUND)?;
    assert!(!banner.contains("Serving http"), "{banner}");
    let line = banner
        .lines()
        .find(|l| l.contains("-> tick"))
        .expect("the banner line");
    assert!(
        line.starts_with("  `* * * * * *`  -> tick  (next: ") && line.ends_with(" UTC)"),
        "{line}"
    );

    // Four reports in a row: consecutive seconds, near the test's clock.
    let first = reports.next().await?;
    let now = unix_now();
    ensure!(
        first + 60 > now && first < now + 60,
        "timestamp {first} is far from now ({now})"
    );
    let mut previous = first;
    for _ in 0..3 {
        let t = reports.next().await?;
        assert_eq!(t, previous + 1, "timestamps after {first}");
        previous = t;
    }
    // Each run started on or after the second it was scheduled for.
    let log = server
        .stderr()
        .wait_for(&format!("[tick stdout] cron tick {previous} "), BOUND)?;
    let runs = ticks(&log, "tick");
    ensure!(runs.len() >= 4, "{log}");
    for (timestamp, at_ms, mode) in &runs {
        assert_eq!(mode, "ok");
        assert!(
            *at_ms >= u128::from(*timestamp) * 1000,
            "the {timestamp} run started early, at {at_ms} ms:\n{log}"
        );
    }
    assert!(!log.contains("returned an error"), "{log}");

    server.signal("TERM")?;
    let status = server.wait_exit(BOUND)?;
    assert!(status.success(), "exit status {status}");
    Ok(())
}

/// Spin's cron plugin's manifest, unchanged, beside an HTTP route: the
/// banner lists both, and the schedule runs (Spin's `1/2`: odd seconds); a
/// numbered day of the week, which the plugin counts from Sunday = 1, gets
/// a warning.
#[tokio::test(flavor = "multi_thread")]
async fn spin_toml_app_runs() -> Result<()> {
    let app = AppDir::new()?;
    app.write(
        "spin.toml",
        format!(
            r#"spin_manifest_version = 2

[application]
name = "hello-cron"

[[trigger.http]]
route = "/hello"
component = "hello"

[[trigger.cron]]
component = "hello-cron"
cron_expression = "1/2 * * * * *"

[[trigger.cron]]
component = "weekdays"
cron_expression = "0 0 9 * * 1-5"

[component.hello]
source = {}

[component.hello-cron]
source = {}

[component.weekdays]
source = {}
"#,
            toml_path(HTTP_HELLO_COMPONENT),
            toml_path(TRIGGER_CRON_COMPONENT),
            toml_path(TRIGGER_CRON_COMPONENT)
        ),
    )?;
    let server = Server::start_with(&app.path().join("spin.toml"), shared_cache()?, |_| {})?;
    let banner = server.stdout().text();
    assert!(banner.contains("Cron triggers:"), "{banner}");
    assert!(
        banner.contains("`1/2 * * * * *`  -> hello-cron  (next: "),
        "{banner}"
    );
    get(&server.url("/hello")).await?.assert_status(200);
    // Spin's plugin numbers days of the week from Sunday = 1: a warning says so.
    server.stderr().wait_for(
        "the cron trigger on line 16 counts days of the week by number in `0 0 9 * * 1-5`",
        BOUND,
    )?;

    let log = server
        .stderr()
        .wait_for_count("[hello-cron stdout] cron tick ", 2, EFFECT_BOUND)?;
    let runs = ticks(&log, "hello-cron");
    ensure!(runs.len() >= 2, "{log}");
    for (timestamp, _, _) in &runs {
        assert_eq!(timestamp % 2, 1, "`1/2` runs on odd seconds:\n{log}");
    }
    assert_eq!(runs[1].0, runs[0].0 + 2, "{log}");
    Ok(())
}

/// A handler that returns an error, one that traps and one that passes its
/// timeout are each logged with the component, the time and the
/// expression, and their next runs still come; a slow handler whose one
/// instance (`max_concurrency = 1`) is busy makes the trigger skip the
/// times that come meanwhile, with a warning, rather than queue them.
#[tokio::test(flavor = "multi_thread")]
async fn failures_are_logged_and_later_runs_still_come() -> Result<()> {
    let every = "* * * * * *";
    let manifest = [
        cron_component("failer", every, "CRON_MODE = \"fail\"", ""),
        cron_component("trapper", every, "CRON_MODE = \"trap\"", ""),
        cron_component(
            "sleeper",
            every,
            "CRON_MODE = \"slow\"",
            "[component.sleeper.limits]\ntimeout = \"1s\"\n",
        ),
        cron_component(
            "busy",
            "*/1 * * * * *",
            "CRON_MODE = \"slow\"",
            "[component.busy.limits]\nmax_concurrency = 1\n",
        ),
    ]
    .concat();
    let app = AppDir::with_manifest(&manifest)?;
    let server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    let banner = server.stdout().wait_for("-> busy", BOUND)?;
    for id in ["failer", "trapper", "sleeper"] {
        let line = banner
            .lines()
            .find(|l| l.contains(&format!("-> {id}  (next: ")))
            .unwrap_or_else(|| panic!("no banner line for {id}:\n{banner}"));
        assert!(line.starts_with(&format!("  `{every}`  ")), "{line}");
    }

    let stderr = server.stderr();
    let failed = stderr.wait_for_count(
        &format!("run of cron schedule `{every}`: asked to fail at "),
        2,
        EFFECT_BOUND,
    )?;
    assert!(
        failed.contains("component `failer` returned an error for the "),
        "{failed}"
    );
    let trapped =
        stderr.wait_for_count("component `trapper` failed handling the ", 2, EFFECT_BOUND)?;
    assert!(trapped.contains("asked to trap at "), "{trapped}");
    assert!(
        trapped.contains(&format!(" UTC run of cron schedule `{every}`")),
        "{trapped}"
    );
    let late = stderr.wait_for_count(
        "component `sleeper` exceeded its timeout of 1s handling the ",
        2,
        EFFECT_BOUND,
    )?;
    // Each failure was a different run: distinct timestamps, in order.
    for id in ["failer", "trapper", "sleeper"] {
        let runs = ticks(&late, id);
        ensure!(runs.len() >= 2, "{id} ran fewer than twice:\n{late}");
        ensure!(
            runs.windows(2).all(|w| w[1].0 > w[0].0),
            "{id}'s timestamps do not increase:\n{late}"
        );
    }

    let skipped = stderr.wait_for(
        "run of `*/1 * * * * *`: every instance component `busy` may run at once (its \
         `max_concurrency`) is still busy with an earlier run",
        EFFECT_BOUND,
    )?;
    assert!(skipped.contains("cron trigger: skipped the "), "{skipped}");
    // The busy component's runs still come, one at a time, ≥ 2 s apart.
    let log = stderr.wait_for_count("[busy stdout] cron tick ", 2, EFFECT_BOUND)?;
    let runs = ticks(&log, "busy");
    ensure!(runs.len() >= 2, "{log}");
    ensure!(
        runs.windows(2).all(|w| w[1].0 >= w[0].0 + 2),
        "a busy component ran again while its one instance slept:\n{log}"
    );
    Ok(())
}

/// Bad expressions stop `skiff up` with the file, line, key, field, value
/// and range; in a spin.toml too; a templated one is checked once
/// expanded; a component without the export is named with what it lacks.
#[tokio::test(flavor = "multi_thread")]
async fn bad_setups_fail_the_start() -> Result<()> {
    let cache = shared_cache()?;
    let cases = [
        (
            "*/2 * * 32 * *",
            "5:19: `trigger.cron[0].cron_expression`: cron expression \"*/2 * * 32 * *\": \
             day-of-month 32 is out of range 1-31",
        ),
        (
            "0 0 24 * * *",
            "5:19: `trigger.cron[0].cron_expression`: cron expression \"0 0 24 * * *\": hour 24 \
             is out of range 0-23",
        ),
        (
            "* * * * * MONDAYS",
            "5:19: `trigger.cron[0].cron_expression`: cron expression \"* * * * * MONDAYS\": \
             day-of-week `MONDAYS` is not a number or a day name (SUN-SAT)\n  hint: did you \
             mean `MON`?",
        ),
        (
            "* * * *",
            "5:19: `trigger.cron[0].cron_expression`: cron expression \"* * * *\": 4 fields; expected 6 (second minute hour \
             day-of-month month day-of-week, as Spin writes it)",
        ),
        (
            "0 0 0 31 APR *",
            "5:19: `trigger.cron[0].cron_expression`: cron expression \"0 0 0 31 APR *\": \
             day-of-month 31 never falls in month APR",
        ),
    ];
    for (expression, want) in cases {
        let app = AppDir::with_manifest(&cron_component("tick", expression, "", ""))?;
        let out = up_fails(app.path(), cache, |_| {})?;
        out.assert_stderr_contains(&format!("{}:{want}", app.manifest().display()));
    }

    // spin.toml: the same checks, naming spin.toml.
    let app = AppDir::new()?;
    let spin = app.write(
        "spin.toml",
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"c\"\n[[trigger.cron]]\n\
             component = \"c\"\ncron_expression = \"0 0 0 * 13 *\"\n[component.c]\nsource = {}\n",
            toml_path(TRIGGER_CRON_COMPONENT)
        ),
    )?;
    up_fails(&spin, cache, |_| {})?.assert_stderr_contains(&format!(
        "{}:6:19: `trigger.cron[0].cron_expression`: cron expression \"0 0 0 * 13 *\": month 13 \
         is out of range 1-12",
        spin.display()
    ));

    // A template is checked once its variable is known.
    let app = AppDir::with_manifest(&format!(
        "[variables]\nat = {{ default = \"61\" }}\n{}",
        cron_component("tick", "{{ at }} * * * * *", "", "")
    ))?;
    let out = up_fails(app.path(), cache, |_| {})?;
    out.assert_stderr_contains("invalid cron expression of the cron trigger on line 7")
        .assert_stderr_contains("cron expression \"61 * * * * *\": second 61 is out of range 0-59");

    // A component that does not export `handle-cron-event`.
    let app = AppDir::with_manifest(&format!(
        "[[trigger.cron]]\ncron_expression = \"@hourly\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = {}\n",
        toml_path(HTTP_HELLO_COMPONENT)
    ))?;
    up_fails(app.path(), cache, |_| {})?.assert_stderr_contains(
        "component `hello` cannot handle cron events: it must export the function \
         `handle-cron-event: func(metadata: metadata) -> result<_, error>` of Spin's cron \
         trigger (world `fermyon:spin-cron/spin-cron@2.0.0`)",
    );
    Ok(())
}

/// A schedule whose last year has passed still starts (it is a valid
/// expression), says it will never run, and serves until stopped.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_in_the_past_never_runs() -> Result<()> {
    let app = AppDir::with_manifest(&cron_component("old", "0 0 0 1 1 * 2001", "", ""))?;
    let mut server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    server
        .stdout()
        .wait_for("-> old  (next: never (its last year has passed))", BOUND)?;
    server
        .stderr()
        .wait_for("has no time left to run at; it stops", BOUND)?;
    if server.stderr().text().contains("[old stdout]") {
        bail!("a schedule in 2001 ran:\n{}", server.stderr().text());
    }
    server.signal("TERM")?;
    let status = server.wait_exit(BOUND)?;
    assert!(status.success(), "exit status {status}");
    Ok(())
}

/// Times that pass while the host is stopped (SIGSTOP, as a suspended
/// machine would be) are skipped with a warning, not run in a burst once it
/// continues; the schedule then goes on from the time it woke at.
#[tokio::test(flavor = "multi_thread")]
async fn missed_times_are_skipped_not_replayed() -> Result<()> {
    let app = AppDir::with_manifest(&cron_component("tick", "* * * * * *", "", ""))?;
    let server = Server::start_triggers_only(app.path(), shared_cache()?)?;
    server
        .stderr()
        .wait_for_count("[tick stdout] cron tick ", 2, EFFECT_BOUND)?;
    let seconds = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs_f64()
    };
    let stopped_at = seconds();
    server.signal("STOP")?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let continued_at = seconds();
    server.signal("CONT")?;
    let log = server.stderr().wait_for(
        "late: the host was suspended or its clock jumped; next run ",
        EFFECT_BOUND,
    )?;
    assert!(log.contains("cron trigger: skipped the "), "{log}");
    let before = ticks(&log, "tick").len();
    let log =
        server
            .stderr()
            .wait_for_count("[tick stdout] cron tick ", before + 2, EFFECT_BOUND)?;
    let runs = ticks(&log, "tick");
    // No time that fell while the process was stopped ran afterwards.
    let replayed: Vec<u64> = runs
        .iter()
        .map(|(t, _, _)| *t)
        .filter(|&t| t as f64 > stopped_at + 1.0 && t as f64 <= continued_at)
        .collect();
    ensure!(
        replayed.is_empty(),
        "times {replayed:?} of the stop ({stopped_at:.3}..{continued_at:.3}) were run:\n{log}"
    );
    // After it, the schedule goes on second by second.
    let after: Vec<u64> = runs
        .iter()
        .map(|(t, _, _)| *t)
        .filter(|&t| t as f64 > continued_at)
        .collect();
    ensure!(
        after.len() >= 2 && after.windows(2).all(|w| w[1] == w[0] + 1),
        "runs after the stop: {after:?}\n{log}"
    );
    Ok(())
}
