//! OpenTelemetry traces (`OTEL_EXPORTER_OTLP_ENDPOINT` and the other standard
//! `OTEL_*` variables), exported to a real OTLP receiver
//! (`skiff_test_support::otlp_receiver`: the OpenTelemetry project's own
//! protobuf classes decoding each export, over HTTP and gRPC):
//!
//! - a request's server span continues the caller's `traceparent`, with the
//!   HTTP conventions' attributes and the app as `service.name`;
//! - an outbound request gets a client span, and carries it as `traceparent`
//!   to the service it calls, or (service chaining) to the component it
//!   calls, whose server span is then its child;
//! - host calls (key-value) are spans inside the request's;
//! - a message sent by a guest carries its producer span to the messaging
//!   trigger's consumer span; Redis and MQTT messages and cron runs start
//!   traces;
//! - a trapping guest's span is an error with the trap as an event (and the
//!   log line names the trace and span), a denied
//!   outbound request's span an error naming the code;
//! - an unsampled caller's trace is not exported, but still carried on;
//! - `http/json`, `grpc`, gzip and `OTEL_EXPORTER_OTLP_HEADERS`;
//! - an export the collector refuses is retried, and spans still queued go
//!   out when the server stops;
//! - a collector that is down costs nothing but a warning; bad variables are
//!   refused at start, naming the variable;
//! - metrics: the HTTP components' histograms and counters, cumulative or
//!   delta, with their last figures sent when the server stops;
//! - logs: Skiff's log lines and the guests' output lines as log records,
//!   in the trace they were written in; each signal on its own switch.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use skiff_test_support::otlp_receiver::{OtlpReceiver, ReceivedLog, ReceivedMetric, ReceivedSpan};
use test_programs_artifacts::{
    HTTP_HELLO_COMPONENT, HTTP_OUTBOUND_COMPONENT, HTTP_TRAP_COMPONENT, KV_WASI_COMPONENT,
    MESSAGING_WASI_COMPONENT, TRIGGER_CRON_COMPONENT, TRIGGER_MQTT_COMPONENT,
    TRIGGER_REDIS_COMPONENT,
};

use crate::mosquitto_server::MosquittoServer;
use crate::redis_server::RedisServer;

use crate::harness::{
    AppDir, BOUND, Server, empty, full, get, post, send, tempdir, toml_path, up_fails,
};

/// How long an export may take to arrive (the tests export every 100 ms).
const ARRIVAL: Duration = Duration::from_secs(30);

/// A caller's trace, sampled.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// `front` (outbound requests) at `/front`, `hello` at `/hello`, `kv` at
/// `/kv` and `trap` at `/trap`, and a `static_response` at `/moved`; `front`
/// may call loopback servers and `hello` by service chaining.
fn app() -> Result<AppDir> {
    let component = |id: &str, route: &str, source: &str, extra: &str| {
        format!(
            "[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{id}\"\n\
             [component.{id}]\nsource = {}\n{extra}",
            toml_path(source)
        )
    };
    AppDir::with_manifest(
        &(format!(
            "version = \"1.2.3\"\n{}{}{}{}",
            component(
                "front",
                "/front",
                HTTP_OUTBOUND_COMPONENT,
                "allowed_outbound_hosts = [\"http://127.0.0.1:*\", \"http://hello.spin.internal\"]\n"
            ),
            component("hello", "/hello", HTTP_HELLO_COMPONENT, ""),
            component(
                "kv",
                "/kv",
                KV_WASI_COMPONENT,
                "key_value_stores = [\"default\"]\n"
            ),
            component("trap", "/trap", HTTP_TRAP_COMPONENT, ""),
        ) + "[[trigger.http]]\nroute = \"/moved\"\n\
         static_response = { status_code = 301, headers = { location = \"/hello\" } }\n"),
    )
}

/// `skiff up` exporting to `otlp` every 100 ms, with `extra` variables.
fn serve(
    app: &AppDir,
    cache: &std::path::Path,
    otlp: &OtlpReceiver,
    extra: &[(&str, &str)],
) -> Result<Server> {
    let endpoint = otlp.http_endpoint();
    Server::start_with(app.path(), cache, |cmd: &mut Command| {
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100");
        for (k, v) in extra {
            cmd.env(k, v);
        }
    })
}

/// A plain HTTP service on loopback that answers every request `200` with
/// the `traceparent` it was sent (or `none`), and keeps them.
struct Downstream {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Downstream {
    fn start() -> Result<Downstream> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut traceparent = "none".to_string();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("traceparent")
                    {
                        traceparent = value.trim().to_string();
                    }
                }
                kept.lock().unwrap().push(traceparent.clone());
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{traceparent}",
                    traceparent.len()
                );
            }
        });
        Ok(Downstream { port, seen })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/downstream", self.port)
    }
}

async fn get_with(url: &str, traceparent: Option<&str>) -> Result<crate::harness::Response> {
    let mut req = http::Request::get(url);
    if let Some(tp) = traceparent {
        req = req
            .header("traceparent", tp)
            .header("tracestate", "vendor=1");
    }
    send(req.body(empty())?).await
}

/// The receiver, a downstream service and `skiff up` serving [`app`],
/// exporting to the one and allowed to call the other.
struct Traced {
    otlp: OtlpReceiver,
    downstream: Downstream,
    server: Server,
    _app: AppDir,
    _cache: tempfile::TempDir,
}

impl Traced {
    fn start() -> Result<Traced> {
        let otlp = OtlpReceiver::start()?;
        let downstream = Downstream::start()?;
        let app = app()?;
        let cache = tempdir()?;
        let server = serve(&app, cache.path(), &otlp, &[])?;
        Ok(Traced {
            otlp,
            downstream,
            server,
            _app: app,
            _cache: cache,
        })
    }
}

fn find(spans: &[ReceivedSpan], what: impl Fn(&ReceivedSpan) -> bool) -> Option<&ReceivedSpan> {
    spans.iter().find(|s| what(s))
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_requests_outbound_calls_and_host_calls() -> Result<()> {
    let traced = Traced::start()?;
    let (otlp, downstream, server) = (&traced.otlp, &traced.downstream, &traced.server);

    // 1. A request from a traced caller, calling another service.
    let caller = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let resp = get_with(
        &server.url(&format!("/front?url={}", downstream.url())),
        Some(&caller),
    )
    .await?;
    resp.assert_status(200);
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans.iter().any(|s| s.name == "GET /front")
            && spans.iter().any(|s| s.kind == "SPAN_KIND_CLIENT")
    })?;
    let front = find(&spans, |s| s.name == "GET /front").unwrap();
    assert_eq!(front.kind, "SPAN_KIND_SERVER");
    assert_eq!(front.trace_id, TRACE, "{front:?}");
    assert_eq!(front.parent_span_id, CALLER_SPAN);
    assert_eq!(front.trace_state, "vendor=1");
    assert_eq!(front.attr_str("http.request.method"), Some("GET"));
    assert_eq!(front.attr_str("http.route"), Some("/front"));
    assert_eq!(front.attr_str("url.path"), Some("/front"));
    assert_eq!(front.attr_i64("http.response.status_code"), Some(200));
    assert_eq!(front.attr_str("skiff.component"), Some("front"));
    assert_eq!(front.attr_str("client.address"), Some("127.0.0.1"));
    assert_eq!(front.resource_str("service.name"), Some("test"));
    assert_eq!(front.resource_str("service.version"), Some("1.2.3"));
    assert_eq!(front.status_code, "STATUS_CODE_UNSET");
    assert!(front.end_time_unix_nano >= front.start_time_unix_nano);
    let client = find(&spans, |s| s.kind == "SPAN_KIND_CLIENT").unwrap();
    assert_eq!(client.name, "GET");
    assert_eq!(client.trace_id, TRACE);
    assert_eq!(
        client.parent_span_id, front.span_id,
        "the client span is the request's child"
    );
    assert_eq!(client.attr_str("url.full"), Some(downstream.url().as_str()));
    assert_eq!(
        client.attr_i64("server.port"),
        Some(i64::from(downstream.port))
    );
    assert_eq!(client.attr_i64("http.response.status_code"), Some(200));
    assert!(client.start_time_unix_nano >= front.start_time_unix_nano);
    // The service called got the client span as its parent.
    let sent = format!("00-{TRACE}-{}-01", client.span_id);
    assert_eq!(*downstream.seen.lock().unwrap(), vec![sent.clone()]);
    assert!(resp.text().contains(&sent), "{}", resp.text());

    // 2. Service chaining, with no caller: a new trace across two components.
    let resp = get(&server.url("/front?url=http://hello.spin.internal/")).await?;
    resp.assert_status(200);
    assert!(resp.text().contains("Hello"), "{}", resp.text());
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans.iter().any(|s| s.name == "GET /hello")
    })?;
    let hello = find(&spans, |s| s.name == "GET /hello").unwrap();
    let chained = find(&spans, |s| s.span_id == hello.parent_span_id)
        .context("the chained request's span has the client span as parent")?;
    assert_eq!(chained.kind, "SPAN_KIND_CLIENT");
    assert_eq!(
        chained.attr_str("url.full"),
        Some("http://hello.spin.internal/")
    );
    let front2 = find(&spans, |s| s.span_id == chained.parent_span_id).unwrap();
    assert_eq!(front2.name, "GET /front");
    assert!(front2.is_root(), "no caller: a new trace");
    assert_ne!(front2.trace_id, TRACE);
    assert_eq!(hello.trace_id, front2.trace_id);
    assert_eq!(hello.attr_str("skiff.component"), Some("hello"));

    // 3. Host calls are spans inside the request's.
    let resp = post(&server.url("/kv?store=default&op=set&key=k"), full("v")).await?;
    resp.assert_status(200);
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans.iter().any(|s| s.name == "skiff_kv.set")
    })?;
    let set = find(&spans, |s| s.name == "skiff_kv.set").unwrap();
    let request = find(&spans, |s| s.span_id == set.parent_span_id).unwrap();
    assert_eq!(request.name, "POST /kv");
    assert_eq!(set.kind, "SPAN_KIND_INTERNAL");
    assert_eq!(set.trace_id, request.trace_id);
    assert!(
        find(&spans, |s| s.name == "skiff_kv.open"
            && s.parent_span_id == request.span_id)
        .is_some()
    );

    // 4. What the host answers itself is traced too: a path no route
    // matches (named by its method alone, as no route matched), and a
    // `static_response`; neither names a component, and a 404 is no error.
    get_with(&server.url("/nowhere"), Some(&caller))
        .await?
        .assert_status(404);
    get(&server.url("/moved")).await?.assert_status(301);
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans
            .iter()
            .any(|s| s.attr_str("url.path") == Some("/nowhere"))
            && spans.iter().any(|s| s.name == "GET /moved")
    })?;
    let unrouted = find(&spans, |s| s.attr_str("url.path") == Some("/nowhere")).unwrap();
    assert_eq!(unrouted.name, "GET");
    assert_eq!(unrouted.kind, "SPAN_KIND_SERVER");
    assert_eq!(unrouted.trace_id, TRACE);
    assert_eq!(unrouted.parent_span_id, CALLER_SPAN);
    assert_eq!(unrouted.attr_i64("http.response.status_code"), Some(404));
    assert_eq!(unrouted.attr_str("http.route"), None);
    assert_eq!(unrouted.attr_str("skiff.component"), None);
    assert_eq!(unrouted.status_code, "STATUS_CODE_UNSET");
    let moved = find(&spans, |s| s.name == "GET /moved").unwrap();
    assert!(moved.is_root());
    assert_eq!(moved.attr_str("http.route"), Some("/moved"));
    assert_eq!(moved.attr_i64("http.response.status_code"), Some(301));
    assert_eq!(moved.attr_str("skiff.component"), None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_errors_and_unsampled_traces_are_carried_not_exported() -> Result<()> {
    let traced = Traced::start()?;
    let (otlp, downstream, server) = (&traced.otlp, &traced.downstream, &traced.server);

    // A trap: 500, the span an error, the trap logged in it — and the log
    // line names the trace and span.
    let caller = format!("00-{TRACE}-{CALLER_SPAN}-01");
    get_with(&server.url("/trap"), Some(&caller))
        .await?
        .assert_status(500);
    let spans = otlp.wait_for(ARRIVAL, |spans| spans.iter().any(|s| s.name == "GET /trap"))?;
    let trap = find(&spans, |s| s.name == "GET /trap").unwrap();
    let log = server.stderr().wait_for("guest failed", BOUND)?;
    let stamp = format!("trace_id={TRACE} span_id={}", trap.span_id);
    let line = log.lines().find(|l| l.contains("guest failed")).unwrap();
    assert!(line.contains(&stamp), "{line}");
    // So are the guest's own output lines written in the request.
    let line = log
        .lines()
        .find(|l| l.starts_with("[trap stderr]") && l.contains("panicked on purpose"))
        .unwrap();
    assert!(line.contains(&stamp), "{line}");
    assert_eq!(trap.status_code, "STATUS_CODE_ERROR");
    assert_eq!(trap.attr_i64("http.response.status_code"), Some(500));
    assert_eq!(trap.attr_str("error.type"), Some("500"));
    assert!(
        trap.events.iter().any(|e| e.name.contains("guest failed")),
        "{:?}",
        trap.events
    );

    // A denied outbound request: its span names the error code.
    let resp = get(&server.url("/front?url=http://example.com/")).await?;
    assert!(resp.text().contains("HttpRequestDenied"), "{}", resp.text());
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans
            .iter()
            .any(|s| s.attr_str("error.type") == Some("HttpRequestDenied"))
    })?;
    let denied = find(&spans, |s| {
        s.attr_str("error.type") == Some("HttpRequestDenied")
    })
    .unwrap();
    assert_eq!(denied.kind, "SPAN_KIND_CLIENT");
    assert_eq!(denied.status_code, "STATUS_CODE_ERROR");

    // A caller that does not sample: nothing exported, but its trace (and
    // decision) still travels on.
    let unsampled_trace = "0af7651916cd43dd8448eb211c80319c";
    let caller = format!("00-{unsampled_trace}-b7ad6b7169203331-00");
    get_with(
        &server.url(&format!("/front?url={}", downstream.url())),
        Some(&caller),
    )
    .await?
    .assert_status(200);
    let carried = downstream.seen.lock().unwrap().clone();
    assert_eq!(carried.len(), 1);
    assert!(
        carried[0].starts_with(&format!("00-{unsampled_trace}-")),
        "{carried:?}"
    );
    assert!(carried[0].ends_with("-00"), "{carried:?}");
    assert!(
        !carried[0].contains("b7ad6b7169203331"),
        "a span of Skiff's is the parent"
    );
    // Spans export in order: once a later request's span is in, the
    // unsampled one would have been too.
    get(&server.url("/hello")).await?.assert_status(200);
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans.iter().any(|s| s.name == "GET /hello")
    })?;
    assert!(
        spans.iter().all(|s| s.trace_id != unsampled_trace),
        "an unsampled trace was exported"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_by_json_grpc_and_gzip_with_headers() -> Result<()> {
    let app = app()?;
    let cache = tempdir()?;
    for (protocol, gzip) in [
        ("http/json", false),
        ("grpc", false),
        ("grpc", true),
        ("http/protobuf", true),
    ] {
        let otlp = OtlpReceiver::start()?;
        let endpoint = match protocol {
            "grpc" => otlp.grpc_endpoint(),
            _ => otlp.http_endpoint(),
        };
        let compression = if gzip { "gzip" } else { "none" };
        let server = Server::start_with(app.path(), cache.path(), |cmd| {
            cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
                .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
                .env("OTEL_EXPORTER_OTLP_COMPRESSION", compression)
                .env(
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "x-api-key=s%3Dcret,x-team=web",
                )
                .env("OTEL_SERVICE_NAME", "checkout")
                .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
                .env("OTEL_BSP_SCHEDULE_DELAY", "100")
                .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
                .env("OTEL_METRIC_EXPORT_INTERVAL", "200");
        })?;
        get(&server.url("/hello")).await?.assert_status(200);
        get(&server.url("/trap")).await?.assert_status(500);
        // The three signals arrive by the protocol, each at its own path.
        let metrics = otlp
            .wait_for_metrics(ARRIVAL, |metrics| responses(metrics, "hello", "2xx") >= 1)
            .with_context(|| format!("metrics by {protocol}, {compression}"))?;
        let histogram = metric(&metrics, "skiff.instantiation.duration").unwrap();
        assert_eq!(histogram.resource_str("service.name"), Some("checkout"));
        assert_eq!(histogram.unit, "s");
        let logs = otlp
            .wait_for_logs(ARRIVAL, |logs| {
                logs.iter()
                    .any(|l| l.body_str().is_some_and(|b| b.contains("guest failed")))
            })
            .with_context(|| format!("logs by {protocol}, {compression}"))?;
        let failed = logs
            .iter()
            .find(|l| l.body_str().is_some_and(|b| b.contains("guest failed")))
            .unwrap();
        assert_eq!(failed.resource_str("deployment.environment"), Some("test"));
        for signal in ["traces", "metrics", "logs"] {
            let exports = otlp.exports()?;
            let export = exports
                .iter()
                .find(|e| e.signal == signal)
                .with_context(|| format!("no {signal} export by {protocol}"))?;
            assert_eq!(export.protocol, protocol, "{signal}");
            assert_eq!(export.error, None, "{signal} by {protocol}");
            assert_eq!(
                export.headers.get("x-api-key").map(String::as_str),
                Some("s=cret"),
                "{signal}"
            );
            if protocol != "grpc" {
                assert_eq!(export.path, format!("/v1/{signal}"));
                assert_eq!(export.content_encoding, if gzip { "gzip" } else { "" });
            }
        }
        let spans = otlp
            .wait_for(ARRIVAL, |spans| {
                spans.iter().any(|s| s.name == "GET /hello")
            })
            .with_context(|| format!("{protocol}, {compression}"))?;
        let hello = find(&spans, |s| s.name == "GET /hello").unwrap();
        assert_eq!(
            hello.resource_str("service.name"),
            Some("checkout"),
            "{protocol}"
        );
        assert_eq!(hello.resource_str("deployment.environment"), Some("test"));
        let exports = otlp.exports()?;
        let export = exports.iter().find(|e| !e.spans.is_empty()).unwrap();
        assert_eq!(export.protocol, protocol);
        assert_eq!(export.error, None);
        assert_eq!(
            export.headers.get("x-api-key").map(String::as_str),
            Some("s=cret")
        );
        assert_eq!(
            export.headers.get("x-team").map(String::as_str),
            Some("web")
        );
        if protocol != "grpc" {
            assert_eq!(export.path, "/v1/traces");
            assert_eq!(export.content_encoding, if gzip { "gzip" } else { "" });
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_exports_are_retried_and_the_queue_is_sent_at_shutdown() -> Result<()> {
    let otlp = OtlpReceiver::start_failing_first(1)?;
    let app = app()?;
    let cache = tempdir()?;
    // Exports would wait a minute: only the flush at shutdown sends them.
    let mut server = serve(
        &app,
        cache.path(),
        &otlp,
        &[("OTEL_BSP_SCHEDULE_DELAY", "60000")],
    )?;
    get(&server.url("/hello")).await?.assert_status(200);
    assert!(otlp.spans()?.is_empty());
    server.signal("TERM")?;
    let status = server.wait_exit(BOUND)?;
    ensure!(
        status.success(),
        "skiff up ended {status}: {}",
        server.full_stderr()
    );
    // The first export was refused (503), the retry accepted — all before exit.
    let exports: Vec<_> = otlp
        .exports()?
        .into_iter()
        .filter(|e| e.signal == "traces")
        .collect();
    assert_eq!(exports.len(), 2, "{exports:?}");
    assert!(exports[0].rejected);
    assert!(!exports[1].rejected);
    assert!(exports[1].spans.iter().any(|s| s.name == "GET /hello"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_that_is_down_costs_a_warning_and_bad_variables_are_refused() -> Result<()> {
    let app = app()?;
    let cache = tempdir()?;
    // Nothing listens on this port.
    let port = skiff_test_support::free_port()?;
    let server = Server::start_with(app.path(), cache.path(), |cmd| {
        cmd.env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "300")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100");
    })?;
    for _ in 0..3 {
        get(&server.url("/hello")).await?.assert_status(200);
    }
    server.stderr().wait_for("span(s) not exported to", BOUND)?;
    get(&server.url("/hello")).await?.assert_status(200);

    for (var, value) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign"),
    ] {
        let out = up_fails(app.path(), cache.path(), |cmd| {
            cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
                .env(var, value);
        })?
        .stderr;
        assert!(out.contains("invalid OpenTelemetry configuration"), "{out}");
        assert!(out.contains(var) && out.contains(value), "{out}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_carry_the_trace_to_their_handlers_and_triggers_start_traces() -> Result<()> {
    let otlp = OtlpReceiver::start()?;
    let redis = RedisServer::start()?;
    let mqtt = MosquittoServer::start()?;
    let url = redis.url();
    let mqtt_url = mqtt.url();
    let app = AppDir::with_manifest(&format!(
        "[application.trigger.redis]\naddress = \"{url}\"\n\
         [application.trigger.mqtt]\naddress = \"{mqtt_url}\"\n\
         [[trigger.mqtt]]\ntopic = \"sensors/+\"\nqos = \"1\"\ncomponent = \"sensor\"\n\
         [component.sensor]\nsource = {sensor}\n\
         environment = {{ REPLY_ADDRESS = \"{mqtt_url}\", REPLY_TOPIC = \"replies\" }}\n\
         allowed_outbound_hosts = [\"{mqtt_url}\"]\n\
         [[trigger.http]]\nroute = \"/pub\"\ncomponent = \"pub\"\n\
         [component.pub]\nsource = {messaging}\nkey_value_stores = [\"default\"]\n\
         message_brokers = [\"default\"]\n\
         [[trigger.messaging]]\nsubject = \"orders\"\ncomponent = \"worker\"\n\
         [component.worker]\nsource = {messaging}\nkey_value_stores = [\"default\"]\n\
         message_brokers = [\"default\"]\n\
         [[trigger.redis]]\nchannel = \"events\"\ncomponent = \"handler\"\n\
         [component.handler]\nsource = {handler}\n\
         environment = {{ REDIS_ADDRESS = \"{url}\" }}\nallowed_outbound_hosts = [\"{url}\"]\n\
         [[trigger.cron]]\ncron_expression = \"* * * * * *\"\ncomponent = \"tick\"\n\
         [component.tick]\nsource = {cron}\n",
        messaging = toml_path(MESSAGING_WASI_COMPONENT),
        handler = toml_path(TRIGGER_REDIS_COMPONENT),
        cron = toml_path(TRIGGER_CRON_COMPONENT),
        sensor = toml_path(TRIGGER_MQTT_COMPONENT),
    ))?;
    let cache = tempdir()?;
    let server = serve(&app, cache.path(), &otlp, &[])?;
    server
        .stderr()
        .wait_for("messaging trigger subscribed to `orders`", BOUND)?;

    // A guest sends a message; the trigger's handler continues its trace.
    let resp = get(&server.url("/pub?send=orders&body=hello")).await?;
    assert_eq!(resp.text().trim(), "sent");
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans.iter().any(|s| s.name == "process orders")
    })?;
    let process = find(&spans, |s| s.name == "process orders").unwrap();
    assert_eq!(process.kind, "SPAN_KIND_CONSUMER");
    assert_eq!(process.attr_str("messaging.system"), Some("embedded"));
    assert_eq!(
        process.attr_str("messaging.destination.name"),
        Some("orders")
    );
    assert_eq!(process.attr_str("skiff.component"), Some("worker"));
    let send = find(&spans, |s| s.span_id == process.parent_span_id)
        .context("the handler's span has the send's as parent")?;
    assert_eq!(send.name, "skiff_messaging.send");
    assert_eq!(send.kind, "SPAN_KIND_PRODUCER");
    let request = find(&spans, |s| s.span_id == send.parent_span_id).unwrap();
    assert_eq!(request.name, "GET /pub");
    assert_eq!(process.trace_id, request.trace_id);
    // The handler's host calls are inside its span.
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans
            .iter()
            .any(|s| s.name.starts_with("skiff_kv.") && s.parent_span_id == process.span_id)
    })?;
    assert!(spans.iter().all(|s| s.status_code != "STATUS_CODE_ERROR"));

    // A Redis message starts a trace; the handler's outbound Redis is in it.
    crate::trigger_redis::wait_subscribed(&redis, "events", 1)?;
    redis.cli(&["PUBLISH", "events", "e1"])?;
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans.iter().any(|s| s.name == "process events")
            && spans.iter().any(|s| s.name.starts_with("skiff_redis."))
    })?;
    let event = find(&spans, |s| s.name == "process events").unwrap();
    assert!(event.is_root());
    assert_eq!(event.attr_str("messaging.system"), Some("redis"));
    assert!(
        find(&spans, |s| s.name.starts_with("skiff_redis.")
            && s.parent_span_id == event.span_id)
        .is_some(),
        "the handler's outbound Redis call is in the message's trace"
    );
    // And a failing handler's span is an error.
    redis.cli(&["PUBLISH", "events", "fail"])?;
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans
            .iter()
            .any(|s| s.name == "process events" && s.status_code == "STATUS_CODE_ERROR")
    })?;
    let failed = find(&spans, |s| {
        s.name == "process events" && s.status_code == "STATUS_CODE_ERROR"
    })
    .unwrap();
    assert!(
        failed.status_message.contains("returned an error"),
        "{failed:?}"
    );

    // So does an MQTT message, its handler's reply (outbound MQTT) in it.
    server
        .stderr()
        .wait_for("mqtt trigger subscribed to `sensors/+`", BOUND)?;
    mqtt.publish("sensors/a", "21.5", 1, None)?;
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans.iter().any(|s| s.name == "process sensors/a")
            && spans.iter().any(|s| s.name.starts_with("skiff_mqtt."))
    })?;
    let message = find(&spans, |s| s.name == "process sensors/a").unwrap();
    assert_eq!(message.kind, "SPAN_KIND_CONSUMER");
    assert_eq!(message.attr_str("messaging.system"), Some("mqtt"));
    assert_eq!(message.attr_str("skiff.component"), Some("sensor"));
    assert!(
        find(&spans, |s| s.name.starts_with("skiff_mqtt.")
            && s.trace_id == message.trace_id)
        .is_some(),
        "the handler's outbound MQTT is in the message's trace"
    );

    // Each cron run is a trace of its own.
    let spans = otlp.wait_for(ARRIVAL, |spans| {
        spans.iter().any(|s| s.name == "cron * * * * * *")
    })?;
    let tick = find(&spans, |s| s.name == "cron * * * * * *").unwrap();
    assert_eq!(tick.kind, "SPAN_KIND_CONSUMER");
    assert!(tick.is_root());
    assert_eq!(tick.attr_str("skiff.component"), Some("tick"));
    assert!(tick.attr_i64("skiff.cron.timestamp").is_some());
    Ok(())
}

/// The metric named `name`, from the latest export that has it.
fn metric<'a>(metrics: &'a [ReceivedMetric], name: &str) -> Option<&'a ReceivedMetric> {
    metrics.iter().rev().find(|m| m.name == name)
}

/// `skiff.http.responses` of `component` in status class `class`, in the
/// latest export.
fn responses(metrics: &[ReceivedMetric], component: &str, class: &str) -> i64 {
    metric(metrics, "skiff.http.responses")
        .and_then(|m| {
            m.points.iter().find(|p| {
                p.attr_str("skiff.component") == Some(component)
                    && p.attr_str("skiff.http.status_class") == Some(class)
            })
        })
        .and_then(|p| p.value_i64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_exported_cumulative_or_as_deltas_and_when_the_server_stops() -> Result<()> {
    let app = app()?;
    let cache = tempdir()?;

    // Cumulative (the default): totals since start, on a fixed start time.
    let otlp = OtlpReceiver::start()?;
    let server = serve(
        &app,
        cache.path(),
        &otlp,
        &[("OTEL_METRIC_EXPORT_INTERVAL", "200")],
    )?;
    for _ in 0..3 {
        get(&server.url("/hello")).await?.assert_status(200);
    }
    get(&server.url("/trap")).await?.assert_status(500);
    get(&server.url("/nowhere")).await?.assert_status(404);
    get(&server.url("/moved")).await?.assert_status(301);
    let metrics = otlp.wait_for_metrics(ARRIVAL, |metrics| {
        responses(metrics, "hello", "2xx") >= 3
            && responses(metrics, "trap", "5xx") >= 1
            && metric(metrics, "http.server.request.duration")
                .is_some_and(|m| m.points.iter().map(|p| p.count).sum::<u64>() >= 6)
    })?;
    let counter = metric(&metrics, "skiff.http.responses").unwrap();
    assert_eq!(counter.kind, "sum");
    assert!(counter.monotonic);
    assert_eq!(counter.temporality, "AGGREGATION_TEMPORALITY_CUMULATIVE");
    assert_eq!(counter.resource_str("service.name"), Some("test"));
    assert_eq!(counter.resource_str("service.version"), Some("1.2.3"));
    assert_eq!(responses(&metrics, "hello", "2xx"), 3);
    assert_eq!(responses(&metrics, "hello", "5xx"), 0);
    let instantiation = metric(&metrics, "skiff.instantiation.duration").unwrap();
    assert_eq!(instantiation.kind, "histogram");
    let hello = instantiation
        .points
        .iter()
        .find(|p| p.attr_str("skiff.component") == Some("hello"))
        .unwrap();
    // Spares are made ahead: at least the three requests' instances.
    assert!(hello.count >= 3, "{hello:?}");
    assert_eq!(hello.bucket_counts.len(), hello.explicit_bounds.len() + 1);
    assert!(hello.sum.is_some_and(|s| s > 0.0), "{hello:?}");
    assert!(hello.start_time_unix_nano > 0 && hello.start_time_unix_nano < hello.time_unix_nano);
    let head = metric(&metrics, "skiff.http.response_head.duration").unwrap();
    let hello_head = head
        .points
        .iter()
        .find(|p| p.attr_str("skiff.component") == Some("hello"))
        .unwrap();
    assert_eq!(hello_head.count, 3);
    let unrouted = metric(&metrics, "skiff.http.unrouted_requests").unwrap();
    assert_eq!(unrouted.points[0].value_i64(), Some(1));
    let idle = metric(&metrics, "skiff.outbound_http.connections.idle").unwrap();
    assert_eq!(idle.kind, "gauge");
    // OpenTelemetry's own HTTP server metric, a series per method, status,
    // route and component; the host's own answers (404, static) included.
    let durations = metric(&metrics, "http.server.request.duration").unwrap();
    assert_eq!(durations.kind, "histogram");
    assert_eq!(durations.unit, "s");
    assert_eq!(durations.temporality, "AGGREGATION_TEMPORALITY_CUMULATIVE");
    let series = |status: i64| {
        let found: Vec<_> = durations
            .points
            .iter()
            .filter(|p| p.attr_i64("http.response.status_code") == Some(status))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one series of status {status}: {durations:?}"
        );
        found[0]
    };
    let ok = series(200);
    assert_eq!(ok.count, 3);
    assert!(ok.sum.is_some_and(|s| s > 0.0), "{ok:?}");
    assert_eq!(ok.attr_str("http.request.method"), Some("GET"));
    assert_eq!(ok.attr_str("http.route"), Some("/hello"));
    assert_eq!(ok.attr_str("skiff.component"), Some("hello"));
    assert_eq!(ok.attr_str("url.scheme"), Some("http"));
    assert_eq!(ok.attr_str("network.protocol.version"), Some("1.1"));
    assert_eq!(ok.attr_str("error.type"), None);
    let failed = series(500);
    assert_eq!(failed.attr_str("error.type"), Some("500"));
    assert_eq!(failed.attr_str("skiff.component"), Some("trap"));
    let unrouted = series(404);
    assert_eq!(unrouted.count, 1);
    assert_eq!(unrouted.attr_str("http.route"), None);
    assert_eq!(unrouted.attr_str("skiff.component"), None);
    let moved = series(301);
    assert_eq!(moved.attr_str("http.route"), Some("/moved"));
    assert_eq!(moved.attr_str("skiff.component"), None);
    drop(server);

    // Deltas: each export counts what happened since the one before.
    let otlp = OtlpReceiver::start()?;
    let server = serve(
        &app,
        cache.path(),
        &otlp,
        &[
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
        ],
    )?;
    for _ in 0..2 {
        get(&server.url("/hello")).await?.assert_status(200);
    }
    // Some export counts the two; one after it counts none.
    let delta_2xx = |m: &ReceivedMetric| {
        m.points
            .iter()
            .find(|p| {
                p.attr_str("skiff.component") == Some("hello")
                    && p.attr_str("skiff.http.status_class") == Some("2xx")
            })
            .and_then(|p| p.value_i64())
    };
    let metrics = otlp.wait_for_metrics(ARRIVAL, |metrics| {
        let counts: Vec<i64> = metrics
            .iter()
            .filter(|m| m.name == "skiff.http.responses")
            .filter_map(delta_2xx)
            .collect();
        counts
            .iter()
            .position(|&n| n > 0)
            .is_some_and(|at| counts[at..].contains(&0))
    })?;
    let counts: Vec<(i64, u64, u64)> = metrics
        .iter()
        .filter(|m| m.name == "skiff.http.responses")
        .map(|m| {
            assert_eq!(m.temporality, "AGGREGATION_TEMPORALITY_DELTA");
            let p = m.points.iter().find(|p| {
                p.attr_str("skiff.component") == Some("hello")
                    && p.attr_str("skiff.http.status_class") == Some("2xx")
            });
            let p = p.unwrap();
            (
                p.value_i64().unwrap(),
                p.start_time_unix_nano,
                p.time_unix_nano,
            )
        })
        .collect();
    assert_eq!(
        counts.iter().map(|c| c.0).sum::<i64>(),
        2,
        "the deltas add up to the requests: {counts:?}"
    );
    // Each window starts where the one before ended.
    for pair in counts.windows(2) {
        assert_eq!(pair[1].1, pair[0].2, "{counts:?}");
    }
    drop(server);

    // At SIGTERM the last figures go out, though the interval is a minute.
    let otlp = OtlpReceiver::start()?;
    let mut server = serve(
        &app,
        cache.path(),
        &otlp,
        &[("OTEL_METRIC_EXPORT_INTERVAL", "60000")],
    )?;
    get(&server.url("/hello")).await?.assert_status(200);
    assert!(otlp.metrics()?.is_empty());
    server.signal("TERM")?;
    let status = server.wait_exit(BOUND)?;
    ensure!(status.success(), "skiff up ended {status}");
    let metrics = otlp.metrics()?;
    assert_eq!(responses(&metrics, "hello", "2xx"), 1, "{metrics:?}");
    Ok(())
}

fn find_log<'a>(logs: &'a [ReceivedLog], text: &str) -> Option<&'a ReceivedLog> {
    logs.iter()
        .find(|l| l.body_str().is_some_and(|b| b.contains(text)))
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_carry_skiffs_lines_and_the_guests_output_in_their_trace() -> Result<()> {
    let otlp = OtlpReceiver::start()?;
    let app = app()?;
    let cache = tempdir()?;
    let server = serve(
        &app,
        cache.path(),
        &otlp,
        &[("OTEL_BLRP_SCHEDULE_DELAY", "100")],
    )?;
    let caller = format!("00-{TRACE}-{CALLER_SPAN}-01");
    get_with(&server.url("/trap"), Some(&caller))
        .await?
        .assert_status(500);
    let spans = otlp.wait_for(ARRIVAL, |spans| spans.iter().any(|s| s.name == "GET /trap"))?;
    let trap = find(&spans, |s| s.name == "GET /trap").unwrap();
    let logs = otlp.wait_for_logs(ARRIVAL, |logs| {
        find_log(logs, "guest failed").is_some() && find_log(logs, "panicked on purpose").is_some()
    })?;
    // Skiff's own error line, in the request's trace and span.
    let failed = find_log(&logs, "guest failed").unwrap();
    assert_eq!(failed.severity_number, 17, "{failed:?}");
    assert_eq!(failed.severity_text, "ERROR");
    assert_eq!(failed.trace_id, TRACE);
    assert_eq!(failed.span_id, trap.span_id);
    assert_eq!(failed.flags & 1, 1, "sampled");
    assert!(failed.scope_name.starts_with("skiff"), "{failed:?}");
    assert_eq!(failed.resource_str("service.name"), Some("test"));
    assert!(failed.time_unix_nano > 0);
    // The guest's panic message, a line of its stderr.
    let panic = find_log(&logs, "panicked on purpose").unwrap();
    assert_eq!(panic.attr_str("skiff.component"), Some("trap"));
    assert_eq!(panic.attr_str("log.iostream"), Some("stderr"));
    assert_eq!(panic.severity_text, "WARN");
    assert_eq!(panic.trace_id, TRACE);
    assert_eq!(panic.span_id, trap.span_id);
    // The start-up line, outside any request: no trace. (Records are
    // queued in order, so it came before the request's.)
    let start = find_log(&logs, "OpenTelemetry: exporting traces to").unwrap();
    assert_eq!(start.trace_id, "", "{start:?}");
    assert_eq!(start.span_id, "");
    assert_eq!(start.severity_text, "INFO");
    drop(server);

    // Each signal has its own switch: logs alone, with traces off, carry
    // no trace ids; and with logs and metrics off, only traces are sent.
    let otlp = OtlpReceiver::start()?;
    let server = serve(
        &app,
        cache.path(),
        &otlp,
        &[
            ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    )?;
    get_with(&server.url("/trap"), Some(&caller))
        .await?
        .assert_status(500);
    let logs = otlp.wait_for_logs(ARRIVAL, |logs| find_log(logs, "guest failed").is_some())?;
    assert_eq!(find_log(&logs, "guest failed").unwrap().trace_id, "");
    drop(server);
    assert!(
        otlp.exports()?.iter().all(|e| e.signal == "logs"),
        "{:?}",
        otlp.exports()?
    );

    // With a verbose log, what the exporters' threads log (their HTTP/2
    // client's debug lines, by gRPC) is not exported: each export would
    // make more.
    let otlp = OtlpReceiver::start()?;
    let grpc = otlp.grpc_endpoint();
    let server = serve(
        &app,
        cache.path(),
        &otlp,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
            ("SKIFF_LOG", "debug"),
        ],
    )?;
    // The start-up lines make a first export; what its client logged
    // would be queued before the trap's lines, so in the export after.
    otlp.wait_for_logs(ARRIVAL, |logs| !logs.is_empty())?;
    get(&server.url("/trap")).await?.assert_status(500);
    let logs = otlp.wait_for_logs(ARRIVAL, |logs| find_log(logs, "guest failed").is_some())?;
    assert!(
        logs.iter().any(|l| l.severity_text == "DEBUG"),
        "the debug lines are exported"
    );
    assert!(
        logs.iter().any(|l| l.attr_str("thread.name").is_some()),
        "{logs:?}"
    );
    let exporters: Vec<_> = logs
        .iter()
        .filter(|l| {
            l.attr_str("thread.name")
                .is_some_and(|t| t.starts_with("skiff-otlp"))
        })
        .collect();
    assert!(exporters.is_empty(), "{exporters:?}");
    drop(server);

    let otlp = OtlpReceiver::start()?;
    let mut server = serve(
        &app,
        cache.path(),
        &otlp,
        &[
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    )?;
    get(&server.url("/trap")).await?.assert_status(500);
    otlp.wait_for(ARRIVAL, |spans| spans.iter().any(|s| s.name == "GET /trap"))?;
    server.signal("TERM")?;
    server.wait_exit(BOUND)?;
    assert!(
        otlp.exports()?.iter().all(|e| e.signal == "traces"),
        "{:?}",
        otlp.exports()?
    );
    Ok(())
}
