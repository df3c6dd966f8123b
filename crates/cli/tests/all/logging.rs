//! Guest logs through `wasi:logging/logging@0.1.0-draft` (the `http_logging`
//! and `cli_logging` guests, as wasmCloud components log): no grant needed;
//! each message a line of Skiff's log at its level, with `component` and
//! `context`, filtered by `SKIFF_LOG` (`guest=info` by default); `critical`
//! an `ERROR` marked `critical=true`; exported by OTLP as a log record of
//! scope `skiff.guest` with its severity (`FATAL` for `critical`), context
//! and the trace it was written in. A dependency's messages are not denied
//! (see `deps`).

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use skiff_test_support::otlp_receiver::{OtlpReceiver, ReceivedLog};
use test_programs_artifacts::{CLI_LOGGING_COMPONENT, HTTP_LOGGING_COMPONENT};

use crate::harness::{AppDir, BOUND, Server, get, send, skiff_in, tempdir, toml_path};

/// How long an export may take to arrive (the tests export every 100 ms).
const ARRIVAL: Duration = Duration::from_secs(30);

/// `http_logging` as component `log` on `/...`, with no grants at all.
fn app() -> Result<AppDir> {
    AppDir::with_manifest(&format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"log\"\n\
         [component.log]\nsource = {}\n",
        toml_path(HTTP_LOGGING_COMPONENT)
    ))
}

/// The one line of `log` that holds `needle`.
fn line_with<'a>(log: &'a str, needle: &str) -> Result<&'a str> {
    let mut lines = log.lines().filter(|l| l.contains(needle));
    let line = lines
        .next()
        .with_context(|| format!("no line with `{needle}`:\n{log}"))?;
    ensure!(lines.next().is_none(), "two lines with `{needle}`:\n{log}");
    Ok(line)
}

/// Each level's line, and the filter: what a guest logs at `info` and
/// above by default, everything with `guest=trace`.
#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn http_logging() -> Result<()> {
    let app = app()?;
    let cache = tempdir()?;
    let server = Server::start(app.path(), cache.path())?;
    let resp = get(&server.url("/?text=first&context=db")).await?;
    resp.assert_status(200);
    assert_eq!(resp.text(), "logged 6\n");
    let log = server.stderr().wait_for("first at critical", BOUND)?;
    line_with(&log, "component `log` loaded")?;
    // By default, `info` and above: a guest's debugging stays quiet.
    for (level, shown) in [
        ("trace", None),
        ("debug", None),
        ("info", Some(" INFO ")),
        ("warn", Some(" WARN ")),
        ("error", Some(" ERROR ")),
        ("critical", Some(" ERROR ")),
    ] {
        let message = format!("first at {level}");
        match shown {
            None => ensure!(!log.contains(&message), "{message} hidden:\n{log}"),
            Some(shown) => {
                let line = line_with(&log, &message)?;
                ensure!(
                    line.contains(shown) && line.contains("component=log context=db"),
                    "{line}"
                );
                ensure!(
                    line.contains("critical=true") == (level == "critical"),
                    "{line}"
                );
            }
        }
    }
    // No context: no `context` field.
    get(&server.url("/?text=plain&levels=info"))
        .await?
        .assert_status(200);
    let log = server.stderr().wait_for("plain at info", BOUND)?;
    let line = line_with(&log, "plain at info")?;
    ensure!(
        line.contains("component=log") && !line.contains("context="),
        "{line}"
    );
    // A guest that asks for a level that does not exist is its own business.
    get(&server.url("/?text=x&levels=loud"))
        .await?
        .assert_status(400);
    drop(server);

    // `guest=trace` shows everything a guest logs, and the rest of the
    // filter still applies to Skiff's own lines.
    let server = Server::start_with(app.path(), cache.path(), |cmd: &mut Command| {
        cmd.env("SKIFF_LOG", "warn,guest=trace");
    })?;
    get(&server.url("/?text=verbose")).await?.assert_status(200);
    let log = server.stderr().wait_for("verbose at critical", BOUND)?;
    for (level, shown) in [("trace", " TRACE "), ("debug", " DEBUG ")] {
        let line = line_with(&log, &format!("verbose at {level}"))?;
        ensure!(line.contains(shown), "{line}");
    }
    // Skiff's `component … loaded` line (shown at `info` by default) is not.
    let info: Vec<_> = log.lines().filter(|l| l.contains(" INFO ")).collect();
    ensure!(
        info.len() == 1 && info[0].contains("verbose at info"),
        "{info:#?}"
    );
    Ok(())
}

/// `skiff run`: a command's messages, named after its file.
#[test]
pub(crate) fn cli_logging() -> Result<()> {
    let cache = tempdir()?;
    let out = skiff_in(
        cache.path(),
        ["run", CLI_LOGGING_COMPONENT, "--", "one", "two words"],
        |_| {},
    )?;
    out.assert_code(0);
    for line in [
        " INFO one component=cli_logging.wasm context=cli",
        " INFO two words component=cli_logging.wasm context=cli",
        " WARN done component=cli_logging.wasm",
    ] {
        line_with(&out.stderr, line)?;
    }
    ensure!(out.stdout.is_empty(), "{}", out.stdout);
    Ok(())
}

/// The record whose body is `body`.
fn record<'a>(logs: &'a [ReceivedLog], body: &str) -> Result<&'a ReceivedLog> {
    logs.iter()
        .find(|l| l.body == body)
        .with_context(|| format!("no record `{body}` in {logs:#?}"))
}

/// By OTLP, with `guest=trace`: each level's severity, the context, and
/// the request's trace and span.
#[tokio::test(flavor = "multi_thread")]
async fn guest_messages_are_exported_with_their_severity_context_and_trace() -> Result<()> {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let otlp = OtlpReceiver::start()?;
    let app = app()?;
    let cache = tempdir()?;
    let endpoint = otlp.http_endpoint();
    let server = Server::start_with(app.path(), cache.path(), |cmd: &mut Command| {
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
            .env("SKIFF_LOG", "info,guest=trace");
    })?;
    let req = http::Request::get(server.url("/?text=sent&context=db"))
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
        .body(crate::harness::empty())?;
    send(req).await?.assert_status(200);
    let spans = otlp.wait_for(ARRIVAL, |spans| spans.iter().any(|s| s.trace_id == TRACE))?;
    let span = spans
        .iter()
        .find(|s| s.trace_id == TRACE && s.parent_span_id == "00f067aa0ba902b7")
        .context("the request's server span")?;
    let logs = otlp.wait_for_logs(ARRIVAL, |logs| {
        logs.iter().any(|l| l.body == "sent at critical")
    })?;
    for (level, number, text) in [
        ("trace", 1, "TRACE"),
        ("debug", 5, "DEBUG"),
        ("info", 9, "INFO"),
        ("warn", 13, "WARN"),
        ("error", 17, "ERROR"),
        ("critical", 21, "FATAL"),
    ] {
        let r = record(&logs, &format!("sent at {level}"))?;
        ensure!(
            r.severity_number == number && r.severity_text == text,
            "{level}: {r:?}"
        );
        ensure!(r.scope_name == "skiff.guest", "{r:?}");
        ensure!(r.attr_str("skiff.component") == Some("log"), "{r:?}");
        ensure!(r.attr_str("wasi.logging.context") == Some("db"), "{r:?}");
        // Only those two: no `critical` flag (it is the severity) and no
        // host thread's name.
        ensure!(r.attributes.len() == 2, "{r:?}");
        ensure!(
            r.trace_id == TRACE && r.span_id == span.span_id && r.flags & 1 == 1,
            "in the request's span {}: {r:?}",
            span.span_id
        );
    }
    Ok(())
}
