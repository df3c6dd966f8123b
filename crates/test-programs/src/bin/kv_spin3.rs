//! Exercises `spin:key-value/key-value@3.0.0` (raw wit-bindgen bindings of the
//! vendored `wit/deps/spin-key-value@3.0.0`) from the query string.
//!
//! That interface is made of `async func`s, which a guest may only call from
//! an async task: from a WASI 0.2 `incoming-handler` (a synchronous export)
//! wasmtime traps with "cannot block a synchronous task before returning".
//! So this guest is a WASI 0.3 HTTP component: it exports
//! `wasi:http/handler@0.3.0` (the vendored `wit/deps/wasi-http@0.3.0`, what
//! wasmtime 48 serves), as Spin 3 apps built with spin-sdk 7 do.
//!
//! `?store=S&op=OP&…`, all answered `200 text/plain`:
//! - `get&key=K` → `some:<value>` or `none`
//! - `set&key=K` (body is the value), `delete&key=K` → `ok`
//! - `exists&key=K` → `true` / `false`
//! - `list` → the keys (streamed by `get-keys`) as a sorted JSON array
//! - `open&n=N` → opens the store N times, holding every handle → `ok`
//!
//! An interface error answers `error: <variant>` (`no-such-store`,
//! `access-denied`, `store-table-full`, `other: <message>`); an op the
//! interface lacks or a malformed request gets `400`.

use test_programs::{push_json_string, query_param};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:kv-spin3;
            world guest {
                import spin:key-value/key-value@3.0.0;
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
            "../../wit/deps/spin-key-value@3.0.0",
        ],
        generate_all,
    });
}

use bindings::exports::wasi::http::handler::Guest;
use bindings::spin::key_value::key_value::{Error, Store};
use bindings::wasi::http::types::{ErrorCode, Fields, Request, Response};
use bindings::{wit_future, wit_stream};

fn error_text(err: Error) -> String {
    match err {
        Error::StoreTableFull => "error: store-table-full".into(),
        Error::NoSuchStore => "error: no-such-store".into(),
        Error::AccessDenied => "error: access-denied".into(),
        Error::Other(message) => format!("error: other: {message}"),
    }
}

/// `Ok(Some(text))`, `Ok(None)` for an op this interface lacks, or the error.
async fn run(path: &str, body: Vec<u8>, label: &str, op: &str) -> Result<Option<String>, Error> {
    let key = query_param(path, "key").unwrap_or_default();
    let store = Store::open(label.to_string()).await?;
    let text = match op {
        "get" => match store.get(key).await? {
            Some(value) => format!("some:{}", String::from_utf8_lossy(&value)),
            None => "none".into(),
        },
        "set" => {
            store.set(key, body).await?;
            "ok".into()
        }
        "delete" => {
            store.delete(key).await?;
            "ok".into()
        }
        "exists" => store.exists(key).await?.to_string(),
        "list" => {
            let (keys, result) = store.get_keys().await;
            let mut keys = keys.collect().await;
            result.await?;
            keys.sort();
            let mut json = String::from("[");
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                push_json_string(&mut json, key);
            }
            json.push(']');
            json
        }
        "open" => {
            let n: usize = query_param(path, "n")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let mut held = vec![store];
            for _ in 1..n {
                held.push(Store::open(label.to_string()).await?);
            }
            "ok".into()
        }
        _ => return Ok(None),
    };
    Ok(Some(text))
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
        let (Some(label), Some(op)) = (query_param(&path, "store"), query_param(&path, "op"))
        else {
            return respond(400, "expected ?store=<label>&op=<op>".into());
        };
        let (_done_tx, done_rx) = wit_future::new(|| Ok(()));
        let (body, _trailers) = Request::consume_body(request, done_rx);
        let body = body.collect().await;
        match run(&path, body, &label, &op).await {
            Ok(Some(text)) => respond(200, text),
            Ok(None) => respond(400, format!("op `{op}` is not in this interface")),
            Err(err) => respond(200, error_text(err)),
        }
    }
}

fn main() {}
