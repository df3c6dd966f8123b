//! `skiff up --metrics ADDR`: per-component instantiation and response-head
//! histograms and response counts, and the event triggers' events by
//! outcome and their durations, in the Prometheus text format (and the same
//! by OTLP).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use skiff_test_support::otlp_receiver::OtlpReceiver;
use test_programs_artifacts::{
    HTTP_ECHO_COMPONENT, HTTP_HELLO_COMPONENT, HTTP_LOOP_COMPONENT, HTTP_TRAP_COMPONENT,
    KV_SPIN3_COMPONENT, TRIGGER_CRON_COMPONENT,
};

use crate::harness::{AppDir, Server, get, shared_cache, up_fails};
use crate::http::component;
use crate::redis_server::free_port;

/// hello (WASI 0.2) at `/hello`, trap at `/trap`, and `kv_spin3` (a WASI 0.3
/// handler, instantiated through the other path) at `/kv`.
fn app() -> Result<AppDir> {
    AppDir::with_manifest(
        &[
            component("/hello", "hello", HTTP_HELLO_COMPONENT, ""),
            component("/trap", "trap", HTTP_TRAP_COMPONENT, ""),
            component(
                "/kv",
                "kv",
                KV_SPIN3_COMPONENT,
                "key_value_stores = [\"default\"]",
            ),
        ]
        .concat(),
    )
}

/// `skiff up DIR --metrics ADDR` with `env` set; returns once both listen, with
/// the metrics URL.
fn start_with_metrics(dir: &AppDir, env: &[(&str, &str)]) -> Result<(Server, String)> {
    let at = format!("127.0.0.1:{}", free_port()?);
    let server = Server::start_with(dir.path(), shared_cache()?, |cmd| {
        cmd.args(["--metrics", &at]).envs(env.iter().copied());
    })?;
    server.stdout().wait_for(
        &format!("Metrics http://{at}/metrics"),
        Duration::from_secs(10),
    )?;
    Ok((server, format!("http://{at}/metrics")))
}

/// How many of component `id`'s requests a spare served, from `metrics_url`.
async fn spared(metrics_url: &str, id: &str) -> Result<f64> {
    let text = get(metrics_url).await?.text();
    samples(&text)?
        .get(&format!(
            "skiff_preinstantiated_requests_total{{component=\"{id}\"}}"
        ))
        .copied()
        .with_context(|| format!("no spare count for {id}:\n{text}"))
}

/// Checks an `/echo` response: `200`, from an instance that served no other request.
fn fresh(resp: crate::harness::Response) -> Result<()> {
    resp.assert_status(200);
    let served = &resp.json()?["served"];
    ensure!(served == 1, "an instance served a second request: {served}");
    Ok(())
}

/// One `GET` of `echo` must be served fresh, by a spare (`not`: what it means
/// if it was not).
async fn served_by_a_spare(metrics_url: &str, echo: &str, not: &str) -> Result<()> {
    let before = spared(metrics_url, "echo").await?;
    fresh(get(echo).await?)?;
    ensure!(spared(metrics_url, "echo").await? == before + 1.0, "{not}");
    Ok(())
}

/// `n` concurrent `GET`s of `url`, their responses in order.
async fn at_once(url: &str, n: usize) -> Result<Vec<crate::harness::Response>> {
    let requests: Vec<_> = (0..n)
        .map(|_| {
            let url = url.to_string();
            tokio::spawn(async move { get(&url).await })
        })
        .collect();
    let mut responses = Vec::with_capacity(n);
    for request in requests {
        responses.push(request.await??);
    }
    Ok(responses)
}

/// Sample lines of a Prometheus text exposition: `name{labels}` → value.
fn samples(text: &str) -> Result<BTreeMap<String, f64>> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .with_context(|| format!("not a sample line: `{line}`"))?;
            let value = value
                .parse()
                .with_context(|| format!("bad value in `{line}`"))?;
            Ok((series.to_string(), value))
        })
        .collect()
}

/// Checks one component's histogram `name`: buckets cumulative and ending at
/// `count`, a positive sum when anything was observed.
fn check_histogram(
    samples: &BTreeMap<String, f64>,
    name: &str,
    component: &str,
    count: f64,
) -> Result<()> {
    let prefix = format!("{name}_bucket{{component=\"{component}\",le=\"");
    let buckets: Vec<(String, f64)> = samples
        .iter()
        .filter(|(series, _)| series.starts_with(&prefix))
        .map(|(series, value)| {
            (
                series[prefix.len()..].trim_end_matches("\"}").to_string(),
                *value,
            )
        })
        .collect();
    ensure!(buckets.len() > 20, "{name} for {component}: {buckets:?}");
    // Bucket order in the map is textual; order them by bound.
    let mut ordered: Vec<(f64, f64)> = buckets
        .iter()
        .map(|(le, v)| {
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (bound, *v)
        })
        .collect();
    ordered.sort_by(|a, b| a.0.total_cmp(&b.0));
    ensure!(
        ordered.windows(2).all(|w| w[0].1 <= w[1].1),
        "{name} buckets for {component} are not cumulative: {ordered:?}"
    );
    ensure!(
        ordered.first().unwrap().0 <= 1e-6,
        "the finest bound is 1 µs"
    );
    ensure!(
        ordered.last() == Some(&(f64::INFINITY, count)),
        "{name} +Inf bucket for {component}: {ordered:?}, expected {count}"
    );
    let get = |suffix: &str| samples.get(&format!("{name}_{suffix}{{component=\"{component}\"}}"));
    ensure!(get("count") == Some(&count), "{name}_count for {component}");
    let sum = *get("sum").context("no sum")?;
    ensure!(
        if count > 0.0 {
            sum > 0.0 && sum < count * 10.0
        } else {
            sum == 0.0
        },
        "{name}_sum for {component}: {sum}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_instantiations_and_responses() -> Result<()> {
    let dir = app()?;
    let (server, metrics_url) = start_with_metrics(&dir, &[])?;

    // Nothing served yet: every series is there, at zero.
    let before = get(&metrics_url).await?;
    before.assert_status(200);
    let content_type = before.headers[http::header::CONTENT_TYPE].to_str()?;
    ensure!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let before = samples(&before.text())?;
    for id in ["hello", "trap", "kv"] {
        check_histogram(&before, "skiff_instantiation_seconds", id, 0.0)?;
        check_histogram(&before, "skiff_http_response_head_seconds", id, 0.0)?;
    }

    for _ in 0..5 {
        get(&server.url("/hello")).await?.assert_status(200);
    }
    for _ in 0..2 {
        get(&server.url("/trap")).await?.assert_status(500);
    }
    let kv = get(&server.url("/kv?store=default&op=get&key=absent")).await?;
    kv.assert_status(200);
    ensure!(kv.text() == "none", "{}", kv.text());
    // No route: counted by the host, not against a component. The app's port
    // has no `/metrics` of its own.
    get(&server.url("/nowhere")).await?.assert_status(404);
    get(&server.url("/metrics")).await?.assert_status(404);
    let other = metrics_url.replace("/metrics", "/other");
    get(&other).await?.assert_status(404);

    let text = get(&metrics_url).await?.text();
    let after = samples(&text)?;
    for (id, served) in [("hello", 5.0), ("trap", 2.0), ("kv", 1.0)] {
        // The trap guest instantiates fine; it fails in `handle`.
        check_histogram(&after, "skiff_instantiation_seconds", id, served)?;
        check_histogram(&after, "skiff_http_response_head_seconds", id, served)?;
    }
    let responses = |id: &str, class: &str| {
        after
            .get(&format!(
                "skiff_http_responses_total{{component=\"{id}\",class=\"{class}\"}}"
            ))
            .copied()
    };
    for (id, class, n) in [
        ("hello", "2xx", 5.0),
        ("hello", "5xx", 0.0),
        ("trap", "2xx", 0.0),
        ("trap", "5xx", 2.0),
        ("kv", "2xx", 1.0),
        ("kv", "4xx", 0.0),
    ] {
        ensure!(responses(id, class) == Some(n), "{id} {class}: {text}");
    }
    // Requests served by spares are among those served; a WASI 0.3 handler
    // instantiates on its request's path.
    for (id, served) in [("hello", 5.0), ("trap", 2.0), ("kv", 0.0)] {
        let spared = after
            .get(&format!(
                "skiff_preinstantiated_requests_total{{component=\"{id}\"}}"
            ))
            .copied();
        ensure!(
            spared.is_some_and(|n| n <= served),
            "{id}: {spared:?}\n{text}"
        );
    }
    ensure!(
        after.get("skiff_http_unrouted_requests_total") == Some(&2.0),
        "{text}"
    );
    drop(server);

    // Without spares every request instantiates on its own path, so its
    // instantiation is part of its time to the response head. (With spares it
    // need not be: a spare is made before its request arrives, and on a busy
    // machine making it can take longer than the request's whole answer.)
    let (server, metrics_url) = start_with_metrics(&dir, &[("SKIFF_SPARE_INSTANCES", "0")])?;
    for _ in 0..5 {
        get(&server.url("/hello")).await?.assert_status(200);
    }
    let text = get(&metrics_url).await?.text();
    let after = samples(&text)?;
    check_histogram(&after, "skiff_instantiation_seconds", "hello", 5.0)?;
    let at = |name: &str| after[&format!("{name}{{component=\"hello\"}}")];
    ensure!(at("skiff_preinstantiated_requests_total") == 0.0, "{text}");
    ensure!(
        at("skiff_instantiation_seconds_sum") < at("skiff_http_response_head_seconds_sum"),
        "{text}"
    );
    Ok(())
}

/// An app of cron triggers alone (no HTTP listener) still serves metrics:
/// each component's events by outcome, and how long they took; and exports
/// the same by OTLP.
#[tokio::test(flavor = "multi_thread")]
async fn event_triggers_count_their_events_by_outcome() -> Result<()> {
    let cron = |id: &str, mode: &str, limits: &str| {
        format!(
            "[[trigger.cron]]\ncron_expression = \"* * * * * *\"\ncomponent = \"{id}\"\n\
             [component.{id}]\nsource = {}\nenvironment = {{ CRON_MODE = \"{mode}\" }}\n{limits}",
            crate::harness::toml_path(TRIGGER_CRON_COMPONENT)
        )
    };
    let dir = AppDir::with_manifest(
        &[
            cron("tick", "ok", ""),
            cron("fails", "fail", ""),
            cron("traps", "trap", ""),
            cron(
                "slow",
                "slow",
                "[component.slow.limits]\ntimeout = \"500ms\"\n",
            ),
        ]
        .concat(),
    )?;
    let otlp = OtlpReceiver::start()?;
    let at = format!("127.0.0.1:{}", free_port()?);
    let mut server = Server::start_triggers_only_with(dir.path(), shared_cache()?, |cmd| {
        cmd.args(["--metrics", &at])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.http_endpoint())
            .env("OTEL_METRIC_EXPORT_INTERVAL", "200");
    })?;
    server.stdout().wait_for(
        &format!("Metrics http://{at}/metrics"),
        Duration::from_secs(10),
    )?;
    let metrics_url = format!("http://{at}/metrics");
    let key = |id: &str, outcome: &str| {
        format!(
            "skiff_trigger_events_total{{trigger=\"cron\",component=\"{id}\",outcome=\"{outcome}\"}}"
        )
    };
    let expected = [
        ("tick", "ok"),
        ("fails", "error"),
        ("traps", "trap"),
        ("slow", "timeout"),
    ];
    // Each component runs every second: wait until each has had an event.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (text, after) = loop {
        let text = get(&metrics_url).await?.text();
        let after = samples(&text)?;
        if expected
            .iter()
            .all(|(id, outcome)| after.get(&key(id, outcome)).is_some_and(|&n| n >= 1.0))
        {
            break (text, after);
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "not every outcome was counted:\n{text}\n{}",
            server.full_stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (id, outcome) in expected {
        for other in ["ok", "error", "trap", "timeout"] {
            if other != outcome {
                ensure!(
                    after.get(&key(id, other)) == Some(&0.0),
                    "{id} {other}:\n{text}"
                );
            }
        }
        let count = after[&format!(
            "skiff_trigger_event_duration_seconds_count{{trigger=\"cron\",component=\"{id}\"}}"
        )];
        let events: f64 = ["ok", "error", "trap", "timeout"]
            .iter()
            .map(|o| after[&key(id, o)])
            .sum();
        // Read at one moment from counters updated apart: within one event.
        ensure!(
            (count - events).abs() <= 1.0,
            "{id}: {count} vs {events}\n{text}"
        );
    }
    // The timed-out runs took the timeout, at least.
    let slow = |what: &str| {
        after[&format!(
            "skiff_trigger_event_duration_seconds_{what}{{trigger=\"cron\",component=\"slow\"}}"
        )]
    };
    ensure!(slow("sum") >= 0.5 * slow("count"), "{text}");
    // No HTTP trigger: no HTTP series.
    ensure!(!text.contains("skiff_http_responses_total{"), "{text}");

    // By OTLP: the same counts, with the trigger and the outcome as attributes.
    let metrics = otlp.wait_for_metrics(Duration::from_secs(30), |metrics| {
        metrics
            .iter()
            .rev()
            .find(|m| m.name == "skiff.trigger.events")
            .is_some_and(|m| {
                expected.iter().all(|(id, outcome)| {
                    m.point(|p| {
                        p.attr_str("skiff.component") == Some(id)
                            && p.attr_str("skiff.event.outcome") == Some(outcome)
                    })
                    .and_then(|p| p.value_i64())
                    .is_some_and(|n| n >= 1)
                })
            })
    })?;
    let events = metrics
        .iter()
        .rev()
        .find(|m| m.name == "skiff.trigger.events")
        .unwrap();
    assert!(events.monotonic);
    let tick = events
        .point(|p| {
            p.attr_str("skiff.component") == Some("tick")
                && p.attr_str("skiff.event.outcome") == Some("ok")
        })
        .unwrap();
    assert_eq!(tick.attr_str("skiff.trigger"), Some("cron"));
    let duration = metrics
        .iter()
        .rev()
        .find(|m| m.name == "skiff.trigger.event.duration")
        .unwrap();
    assert_eq!(duration.unit, "s");
    assert!(
        duration
            .point(|p| p.attr_str("skiff.component") == Some("slow"))
            .is_some_and(|p| p.count >= 1)
    );
    Ok(())
}

#[test]
fn metrics_address_in_use_is_a_clear_error() -> Result<()> {
    let dir = app()?;
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let at = taken.local_addr()?.to_string();
    up_fails(dir.path(), shared_cache()?, |cmd| {
        cmd.args(["--metrics", &at]);
    })?
    .assert_stderr_contains(&format!("could not listen for metrics on {at}"));
    Ok(())
}

/// After a request, a component's next instance is made ahead of the next
/// request (a spare). Each request still runs in a fresh instance, the deadline
/// runs from the request however long the spare waited, a guest that loops is
/// still stopped, and a spare unused for its time to live is dropped.
#[tokio::test(flavor = "multi_thread")]
async fn spare_instances_are_fresh_rearmed_and_expire() -> Result<()> {
    let dir = AppDir::with_manifest(
        &[
            component(
                "/echo",
                "echo",
                HTTP_ECHO_COMPONENT,
                "[component.echo.limits]\ntimeout = \"1s\"",
            ),
            component(
                "/loop",
                "spin",
                HTTP_LOOP_COMPONENT,
                "[component.spin.limits]\ntimeout = \"1s\"",
            ),
        ]
        .concat(),
    )?;
    let (server, metrics_url) = start_with_metrics(&dir, &[("SKIFF_SPARE_TTL_MS", "3000")])?;
    let echo = server.url("/echo");

    // One after another, a little apart: every request after the first can
    // find its spare ready, and every one runs in an instance of its own.
    for _ in 0..10 {
        fresh(get(&echo).await?)?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hits = spared(&metrics_url, "echo").await?;
    ensure!(
        (5.0..=9.0).contains(&hits),
        "spares served {hits} of the 9 requests after the first"
    );

    // At once: spares or not, one fresh instance per request.
    for resp in at_once(&echo, 20).await? {
        fresh(resp)?;
    }

    // A spare that waited longer than the component's 1 s timeout: its
    // deadline runs from the request, so the request gets its whole second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    served_by_a_spare(
        &metrics_url,
        &echo,
        "the request after the pause was not served by a spare",
    )
    .await?;

    // A looping guest in a spare is stopped at its timeout all the same.
    get(&server.url("/loop")).await?.assert_status(504);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = std::time::Instant::now();
    get(&server.url("/loop")).await?.assert_status(504);
    let elapsed = start.elapsed();
    ensure!(
        elapsed < Duration::from_secs(6),
        "a 1s timeout took {elapsed:?}"
    );
    ensure!(
        spared(&metrics_url, "spin").await? >= 1.0,
        "the loop never ran in a spare"
    );
    get(&echo).await?.assert_status(200);

    // Unused for its time to live (3 s here; swept every second), a spare is
    // dropped: the next request instantiates on its own path.
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let before = spared(&metrics_url, "echo").await?;
    fresh(get(&echo).await?)?;
    ensure!(
        spared(&metrics_url, "echo").await? == before,
        "a spare outlived its time to live"
    );
    Ok(())
}

/// Requests that end together each leave a spare behind: two workers may make a
/// component's spares at once, so a refill is not skipped because another is
/// under way (each skip would leave the component a spare short, and a later
/// request would instantiate on its own path).
#[tokio::test(flavor = "multi_thread")]
async fn requests_ending_together_each_leave_a_spare() -> Result<()> {
    let dir = AppDir::with_manifest(&component("/echo", "echo", HTTP_ECHO_COMPONENT, ""))?;
    // One engine from the start: a staged start's move to the pool, if it
    // fell inside the count, would remake the spares on the pool's engine
    // while the pairs arrive.
    let (server, metrics_url) = start_with_metrics(&dir, &[("SKIFF_STAGED_START", "0")])?;
    let echo = server.url("/echo");
    // Four at once leave four spares (the most one component keeps).
    for resp in at_once(&echo, 4).await? {
        resp.assert_status(200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Pairs sent together are served together and retire together; each takes
    // two spares and leaves two behind, so every one finds a spare. A skipped
    // refill would leave the component a spare short for good, so from the
    // third pair on about one request of each pair would miss (~40 in all).
    // A refill still running when the next pair comes (a loaded machine:
    // the pause is not a promise) costs that pair alone, so a few misses
    // are allowed; a lost refill cannot hide among them.
    let before = spared(&metrics_url, "echo").await?;
    for _ in 0..40 {
        for resp in at_once(&echo, 2).await? {
            resp.assert_status(200);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hits = spared(&metrics_url, "echo").await? - before;
    ensure!(hits >= 76.0, "spares served {hits} of 80 paired requests");
    Ok(())
}

/// A staged start's move onto the instance pool drops the first engine's
/// spares (they cannot serve on another engine) and makes as many on the new
/// one: the first request after the move is served by a spare.
#[tokio::test(flavor = "multi_thread")]
async fn a_staged_start_s_move_to_the_pool_carries_its_spares_over() -> Result<()> {
    const READY: &str = "instance pool ready";
    let dir = AppDir::with_manifest(&component("/echo", "echo", HTTP_ECHO_COMPONENT, ""))?;
    let (server, metrics_url) = start_with_metrics(
        &dir,
        &[
            ("SKIFF_LOG", "info,skiff_runtime=debug"),
            ("SKIFF_STAGED_POOL_DELAY_MS", "1500"),
        ],
    )?;
    let echo = server.url("/echo");
    // On the first engine: each request leaves a spare behind (two at once,
    // one or two, as the second may have found the first's).
    for resp in at_once(&echo, 2).await? {
        resp.assert_status(200);
    }
    ensure!(
        !server.stderr().text().contains(READY),
        "the pool was ready before its delay:\n{}",
        server.stderr().text()
    );
    server.stderr().wait_for(READY, Duration::from_secs(10))?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    served_by_a_spare(
        &metrics_url,
        &echo,
        "the first request after the move instantiated on its own path",
    )
    .await?;
    Ok(())
}
