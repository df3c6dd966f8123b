//! Publishes through `spin:mqtt/mqtt@3.0.0` (raw wit-bindgen bindings of the
//! vendored `wit/deps/spin-mqtt@3.0.0`). Its functions are `async func`s,
//! so this guest is a WASI 0.3 HTTP component (`wasi:http/handler@0.3.0`).
//! Requests and answers are those of `mqtt_spin2`.

use test_programs::query_param;

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:mqtt-spin3;
            world guest {
                import spin:mqtt/mqtt@3.0.0;
                export wasi:http/handler@0.3.0;
            }
        ",
        path: [
            "../../wit/deps/wasi-clocks@0.3.0",
            "../../wit/deps/wasi-random@0.3.0",
            "../../wit/deps/wasi-filesystem@0.3.0",
            "../../wit/deps/wasi-sockets@0.3.0",
            "../../wit/deps/wasi-cli@0.3.0",
            "../../wit/deps/wasi-http@0.3.0",
            "../../wit/deps/spin-mqtt@3.0.0",
        ],
        generate_all,
    });
}

use bindings::exports::wasi::http::handler::Guest;
use bindings::spin::mqtt::mqtt::{Connection, Error, Qos};
use bindings::wasi::http::types::{ErrorCode, Fields, Request, Response};
use bindings::{wit_future, wit_stream};

fn error_text(err: Error) -> String {
    match err {
        Error::InvalidAddress => "error: invalid-address".into(),
        Error::TooManyConnections => "error: too-many-connections".into(),
        Error::ConnectionFailed(m) => format!("error: connection-failed: {m}"),
        Error::Other(m) => format!("error: other: {m}"),
    }
}

async fn run(path: &str, address: &str, body: Vec<u8>) -> Result<(), Error> {
    let qos = match query_param(path, "qos").as_deref() {
        Some("0") => Qos::AtMostOnce,
        Some("2") => Qos::ExactlyOnce,
        _ => Qos::AtLeastOnce,
    };
    let keep_alive = query_param(path, "keep_alive")
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let conn = Connection::open(
        address.to_string(),
        query_param(path, "user").unwrap_or_default(),
        query_param(path, "password").unwrap_or_default(),
        keep_alive,
    )
    .await?;
    let topic = query_param(path, "topic").unwrap_or_default();
    conn.publish(topic, body, qos).await
}

/// A `text/plain` response; the body is written after the handler returns.
fn respond(status: u16, text: String) -> Result<Response, ErrorCode> {
    let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())])
        .map_err(|_| ErrorCode::InternalError(Some("bad header".into())))?;
    let (mut contents_tx, contents_rx) = wit_stream::new();
    let (_trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(headers, Some(contents_rx), trailers_rx);
    response
        .set_status_code(status)
        .map_err(|()| ErrorCode::InternalError(Some("bad status".into())))?;
    wit_bindgen::spawn_local(async move {
        let rest = contents_tx.write_all(text.into_bytes()).await;
        assert!(
            rest.is_empty(),
            "the host stopped reading the response body"
        );
    });
    Ok(response)
}

struct Handler;

bindings::export!(Handler with_types_in bindings);

impl Guest for Handler {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let path = request.get_path_with_query().unwrap_or_default();
        let Some(address) = query_param(&path, "address") else {
            return respond(400, "expected ?address=<address>&topic=<topic>".into());
        };
        let (_done_tx, done_rx) = wit_future::new(|| Ok(()));
        let (body, _trailers) = Request::consume_body(request, done_rx);
        let body = body.collect().await;
        match run(&path, &address, body).await {
            Ok(()) => respond(200, "ok".into()),
            Err(err) => respond(200, error_text(err)),
        }
    }
}

fn main() {}
