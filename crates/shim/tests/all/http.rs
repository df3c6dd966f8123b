//! A wasi:http component served from a container, then stopped with `ctr task kill`.

use anyhow::Result;
use test_programs_artifacts::{HTTP_ECHO_COMPONENT, HTTP_HELLO_COMPONENT, HTTP_SLEEP_COMPONENT};

use crate::containerd::{Containerd, describe, free_port, http, unique_id, wait_bounded};
use crate::image::Image;

#[test]
fn http_component_serves_on_the_host_network_and_stops_cleanly() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-http-hello")
        .file_from("/hello.wasm", HTTP_HELLO_COMPONENT)?
        .entrypoint(&["/hello.wasm"]);
    containerd.import_image(&image)?;
    let port = free_port()?;
    let id = unique_id("hello");
    let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
    let (child, id, (status, body)) = containerd.serve(
        &["--net-host", "--env", &listen],
        image.reference(),
        &id,
        port,
        "/",
    )?;
    assert_eq!((status, body.as_str()), (200, "Hello from Skiff!\n"));
    let (status, _) = http(port, "GET", "/any/path", b"")?;
    assert_eq!(status, 200);

    let out = containerd.stop_cleanly(child, &id)?;
    let all = describe(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("Serving http://127.0.0.1:{port}")),
        "{all}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stopped"),
        "{all}"
    );
    assert!(
        http(port, "GET", "/", b"").is_err(),
        "still serving after the task exited"
    );
    Ok(())
}

/// A lone component is served as `skiff up app.wasm` serves it: named after
/// its file, with the image's and the container's environment as its own
/// (the container's wins), and nothing of the shim's.
#[test]
fn lone_component_is_named_after_its_file_and_gets_the_container_env() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-http-echo-env")
        .file_from("/echo.wasm", HTTP_ECHO_COMPONENT)?
        .entrypoint(&["/echo.wasm"])
        .env("FROM_IMAGE=image")
        .env("OVERRIDDEN=image");
    containerd.import_image(&image)?;
    let port = free_port()?;
    let id = unique_id("echo-env");
    let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
    let (child, id, (status, body)) = containerd.serve(
        &[
            "--net-host",
            "--env",
            &listen,
            "--env",
            "GREETING=hello from the container",
            "--env",
            "OVERRIDDEN=container",
        ],
        image.reference(),
        &id,
        port,
        "/",
    )?;
    let out = containerd.stop_cleanly(child, &id)?;
    assert_eq!(status, 200, "{body}\n{}", describe(&out));
    let echoed: serde_json::Value = serde_json::from_str(&body)?;
    let env = &echoed["env"];
    assert_eq!(env["GREETING"], "hello from the container", "{body}");
    assert_eq!(env["FROM_IMAGE"], "image", "{body}");
    assert_eq!(env["OVERRIDDEN"], "container", "{body}");
    // The shim's own environment (containerd's, which has PATH and the
    // test's variables) is not the guest's.
    assert!(env.get("CARGO_PKG_NAME").is_none(), "{body}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("component `echo` loaded"),
        "{}",
        describe(&out)
    );
    Ok(())
}

/// The container's `OTEL_*` variables turn on traces, as for `skiff up`:
/// a request's span reaches the collector, continuing the caller's trace,
/// and spans still queued go out when the task is stopped.
#[test]
fn otel_variables_export_traces_metrics_and_logs_from_the_container() -> Result<()> {
    use skiff_test_support::otlp_receiver::OtlpReceiver;
    let otlp = OtlpReceiver::start()?;
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-http-traced")
        .file_from("/hello.wasm", HTTP_HELLO_COMPONENT)?
        .entrypoint(&["/hello.wasm"]);
    containerd.import_image(&image)?;
    let port = free_port()?;
    let id = unique_id("traced");
    let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
    let endpoint = format!("OTEL_EXPORTER_OTLP_ENDPOINT={}", otlp.http_endpoint());
    let (child, id, (status, _)) = containerd.serve(
        &[
            "--net-host",
            "--env",
            &listen,
            "--env",
            &endpoint,
            "--env",
            "OTEL_SERVICE_NAME=hello-pod",
            // Only the stop sends them.
            "--env",
            "OTEL_BSP_SCHEDULE_DELAY=600000",
            "--env",
            "OTEL_BLRP_SCHEDULE_DELAY=600000",
            "--env",
            "OTEL_METRIC_EXPORT_INTERVAL=600000",
        ],
        image.reference(),
        &id,
        port,
        "/",
    )?;
    assert_eq!(status, 200);
    let out = containerd.stop_cleanly(child, &id)?;
    let spans = otlp
        .wait_for(std::time::Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.kind == "SPAN_KIND_SERVER")
        })
        .map_err(|e| anyhow::anyhow!("{e:#}\n{}", describe(&out)))?;
    let server = spans.iter().find(|s| s.kind == "SPAN_KIND_SERVER").unwrap();
    assert_eq!(server.name, "GET /...");
    assert_eq!(server.resource_str("service.name"), Some("hello-pod"));
    assert_eq!(server.attr_i64("http.response.status_code"), Some(200));
    // The metrics' last figures and the queued log lines go out too.
    let component = server.attr_str("skiff.component").unwrap();
    let metrics = otlp.wait_for_metrics(std::time::Duration::from_secs(10), |metrics| {
        metrics.iter().any(|m| m.name == "skiff.http.responses")
    })?;
    let responses = metrics
        .iter()
        .find(|m| m.name == "skiff.http.responses")
        .unwrap();
    assert_eq!(responses.resource_str("service.name"), Some("hello-pod"));
    let ok = responses
        .point(|p| {
            p.attr_str("skiff.component") == Some(component)
                && p.attr_str("skiff.http.status_class") == Some("2xx")
        })
        .unwrap();
    assert_eq!(ok.value_i64(), Some(1));
    let logs = otlp.wait_for_logs(std::time::Duration::from_secs(10), |logs| !logs.is_empty())?;
    assert!(
        logs.iter()
            .all(|l| l.resource_str("service.name") == Some("hello-pod")),
        "{logs:?}"
    );
    Ok(())
}

#[test]
fn in_flight_request_finishes_after_kill() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-http-sleep")
        .file_from("/sleep.wasm", HTTP_SLEEP_COMPONENT)?
        .entrypoint(&["/sleep.wasm"]);
    containerd.import_image(&image)?;
    let port = free_port()?;
    let id = unique_id("sleep");
    let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
    let (child, id, (status, _)) = containerd.serve(
        &["--net-host", "--env", &listen],
        image.reference(),
        &id,
        port,
        "/?ms=1",
    )?;
    assert_eq!(status, 200);
    let slow = std::thread::spawn(move || http(port, "GET", "/?ms=1500", b""));
    // Give the request time to reach the guest before the stop signal.
    std::thread::sleep(std::time::Duration::from_millis(300));
    containerd.kill_task(&id)?;
    let answer = slow.join().expect("client thread")?;
    assert_eq!(answer, (200, "slept 1500".to_string()));
    let out = wait_bounded(child, "ctr run")?;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    Ok(())
}

#[test]
fn cache_volume_lets_a_second_container_compile_nothing() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-http-cached")
        .file_from("/hello.wasm", HTTP_HELLO_COMPONENT)?
        .entrypoint(&["/hello.wasm"]);
    containerd.import_image(&image)?;
    let cache = tempfile::tempdir()?;
    let mount = format!(
        "type=bind,src={},dst=/skiff-cache,options=rbind:rw",
        cache.path().display()
    );
    let mut logs = Vec::new();
    for round in ["first", "second"] {
        let port = free_port()?;
        let id = unique_id(round);
        let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
        let (child, id, (status, _)) = containerd.serve(
            &[
                "--net-host",
                "--mount",
                &mount,
                "--env",
                "SKIFF_CACHE_DIR=/skiff-cache",
                "--env",
                &listen,
            ],
            image.reference(),
            &id,
            port,
            "/",
        )?;
        assert_eq!(status, 200);
        let out = containerd.stop_cleanly(child, &id)?;
        logs.push(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    assert!(
        logs[0].contains("component `hello` loaded compiled"),
        "first container:\n{}",
        logs[0]
    );
    assert!(
        logs[1].contains("component `hello` loaded from AOT cache"),
        "second container:\n{}",
        logs[1]
    );
    Ok(())
}

#[test]
fn metrics_listener_counts_what_the_app_served() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-http-metrics")
        .file_from("/hello.wasm", HTTP_HELLO_COMPONENT)?
        .entrypoint(&["/hello.wasm"]);
    containerd.import_image(&image)?;
    let (port, metrics_port) = (free_port()?, free_port()?);
    let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
    let metrics = format!("SKIFF_METRICS=127.0.0.1:{metrics_port}");
    let (child, id, (status, _)) = containerd.serve(
        &["--net-host", "--env", &listen, "--env", &metrics],
        image.reference(),
        &unique_id("metrics"),
        port,
        "/",
    )?;
    assert_eq!(status, 200);
    assert_eq!(http(port, "GET", "/again", b"")?.0, 200);
    let (status, text) = http(metrics_port, "GET", "/metrics", b"")?;
    assert_eq!(status, 200, "{text}");
    // Every request the app answered is counted, and each was instantiated.
    let total = |name: &str, filter: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(filter))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    };
    let answered = total("skiff_http_responses_total{", "class=\"2xx\"");
    assert!(answered >= 2.0, "2xx responses: {answered}\n{text}");
    assert_eq!(
        total("skiff_instantiation_seconds_count{", ""),
        answered,
        "{text}"
    );
    assert!(
        http(port, "GET", "/metrics", b"")?
            .1
            .contains("Hello from Skiff!"),
        "the app's own port serves the app, not the metrics"
    );

    containerd.stop_cleanly(child, &id)?;
    Ok(())
}

#[test]
fn bad_metrics_address_fails_the_task_naming_the_variable() -> Result<()> {
    let containerd = Containerd::start()?;
    let image = Image::new("skiff-http-bad-metrics")
        .file_from("/hello.wasm", HTTP_HELLO_COMPONENT)?
        .entrypoint(&["/hello.wasm"]);
    containerd.import_image(&image)?;
    let out = containerd.run(
        &["--net-host", "--env", "SKIFF_METRICS=port-9090"],
        image.reference(),
        &unique_id("bad-metrics"),
        &[],
    )?;
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("SKIFF_METRICS=`port-9090` is not an address like `0.0.0.0:9090`"),
        "{all}"
    );
    Ok(())
}
