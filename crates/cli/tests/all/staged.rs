//! A staged start: `skiff up` serves its first requests on an engine that
//! allocates each instance on demand while a second thread reserves the
//! instance pool, then moves the app onto the pooled engine.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use test_programs_artifacts::{HTTP_ECHO_COMPONENT, HTTP_LOOP_COMPONENT};

use crate::harness::{AppDir, Response, Server, get, shared_cache};
use crate::http::component;

const READY: &str = "instance pool ready";

/// `/echo` (reports how many requests its instance served) and `/loop` (never
/// answers; 2 s timeout), served with the pool's reservation held back by
/// `delay_ms` and the move logged.
fn start(delay_ms: &str, extra_env: &[(&str, &str)]) -> Result<(AppDir, Server)> {
    let dir = AppDir::with_manifest(
        &[
            component("/echo", "echo", HTTP_ECHO_COMPONENT, ""),
            component(
                "/loop",
                "spin",
                HTTP_LOOP_COMPONENT,
                "[component.spin.limits]\ntimeout = \"2s\"",
            ),
        ]
        .concat(),
    )?;
    let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.env("SKIFF_LOG", "info,skiff_runtime=debug")
            .env("SKIFF_STAGED_POOL_DELAY_MS", delay_ms)
            .envs(extra_env.iter().copied());
    })?;
    Ok((dir, server))
}

fn fresh(resp: Response) -> Result<()> {
    resp.assert_status(200);
    let served = &resp.json()?["served"];
    ensure!(served == 1, "an instance served a second request: {served}");
    Ok(())
}

/// Requests before, during and after the move are all served, each in an
/// instance of its own; a guest looping on the first engine when the app
/// moves off it is still stopped at its deadline (that engine's epoch keeps
/// ticking while its instances run), and the server keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn a_staged_start_moves_onto_the_pool_without_losing_a_request() -> Result<()> {
    let (_dir, server) = start("1000", &[])?;
    let echo = server.url("/echo");
    let looping = {
        let url = server.url("/loop");
        tokio::spawn(async move {
            let start = Instant::now();
            let resp = get(&url).await;
            (resp, start.elapsed())
        })
    };
    // On the first engine (the pool is held back for a second).
    for _ in 0..5 {
        fresh(get(&echo).await?)?;
    }
    ensure!(
        !server.stderr().text().contains(READY),
        "the pool was ready before its delay:\n{}",
        server.stderr().text()
    );
    // Through the move, then on the pool.
    let burst = (0..40).map(|i| {
        let echo = echo.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50 * i)).await;
            get(&echo).await
        })
    });
    for request in burst.collect::<Vec<_>>() {
        fresh(request.await??)?;
    }
    server.stderr().wait_for(READY, Duration::from_secs(10))?;
    for _ in 0..5 {
        fresh(get(&echo).await?)?;
    }
    let (resp, took) = looping.await?;
    resp?.assert_status(504);
    ensure!(
        took < Duration::from_secs(6),
        "a 2 s timeout took {took:?} after the app moved off the guest's engine"
    );
    fresh(get(&echo).await?)?;
    Ok(())
}

/// `SKIFF_STAGED_START=0`: the pool is reserved before the first request,
/// as without a staged start; nothing moves.
#[tokio::test(flavor = "multi_thread")]
async fn a_start_that_is_not_staged_never_moves() -> Result<()> {
    let (_dir, server) = start("0", &[("SKIFF_STAGED_START", "0")])?;
    for _ in 0..3 {
        fresh(get(&server.url("/echo")).await?)?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(
        !server.stderr().text().contains(READY),
        "an unstaged start moved:\n{}",
        server.stderr().text()
    );
    Ok(())
}

/// The virtual memory of process `pid`, in KiB (`VmSize`).
fn vm_size_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmSize:"))
        .ok_or_else(|| anyhow::anyhow!("no VmSize in /proc/{pid}/status"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("bad line `{line}`"))?
        .parse()?)
}

/// `--disable-pooling` (Spin's flag): no instance pool is reserved, the
/// pool's address space (gigabytes of it) is never taken, and the app serves
/// fresh instances all the same.
#[tokio::test(flavor = "multi_thread")]
async fn disable_pooling_reserves_no_pool() -> Result<()> {
    let dir = AppDir::with_manifest(&component("/echo", "echo", HTTP_ECHO_COMPONENT, ""))?;
    let pooled = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.env("SKIFF_STAGED_START", "0");
    })?;
    fresh(get(&pooled.url("/echo")).await?)?;
    let pooled_kib = vm_size_kib(pooled.pid())?;
    drop(pooled);

    let unpooled = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.arg("--disable-pooling");
    })?;
    for _ in 0..3 {
        fresh(get(&unpooled.url("/echo")).await?)?;
    }
    let unpooled_kib = vm_size_kib(unpooled.pid())?;
    ensure!(
        unpooled_kib * 4 < pooled_kib,
        "--disable-pooling: {unpooled_kib} KiB of address space, pooled: {pooled_kib} KiB"
    );
    let log = unpooled.stderr().text();
    ensure!(!log.contains(READY), "a pool was reserved:\n{log}");
    Ok(())
}
