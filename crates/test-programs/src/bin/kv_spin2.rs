//! Exercises `fermyon:spin/key-value@2.0.0` through Spin's Rust SDK
//! (`spin_sdk::key_value`, spin-sdk 5.2) from the query string.
//!
//! `?store=S&op=OP&…`, all answered `200 text/plain`:
//! - `get&key=K` → `some:<value>` or `none`
//! - `set&key=K` (body is the value), `delete&key=K` → `ok`
//! - `exists&key=K` → `true` / `false`
//! - `list` → the keys as a sorted JSON array
//! - `open&n=N` → opens the store N times, holding every handle → `ok`
//!
//! An interface error answers `error: <variant>` (`no-such-store`,
//! `access-denied`, `store-table-full`, `other: <message>`); an op the
//! interface lacks (`incr`, `cas`, batches) or a malformed request gets `400`.

use spin_sdk::key_value::{Error, Store};
use test_programs::http::{read_body, respond_text};
use test_programs::{push_json_string, query_param};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

fn error_text(err: Error) -> String {
    match err {
        Error::StoreTableFull => "error: store-table-full".into(),
        Error::NoSuchStore => "error: no-such-store".into(),
        Error::AccessDenied => "error: access-denied".into(),
        Error::Other(message) => format!("error: other: {message}"),
    }
}

/// `Ok(Some(text))`, `Ok(None)` for an op this interface lacks, or the error.
fn run(path: &str, body: Vec<u8>, label: &str, op: &str) -> Result<Option<String>, Error> {
    let key = query_param(path, "key").unwrap_or_default();
    let store = Store::open(label)?;
    let text = match op {
        "get" => match store.get(&key)? {
            Some(value) => format!("some:{}", String::from_utf8_lossy(&value)),
            None => "none".into(),
        },
        "set" => {
            store.set(&key, &body)?;
            "ok".into()
        }
        "delete" => {
            store.delete(&key)?;
            "ok".into()
        }
        "exists" => store.exists(&key)?.to_string(),
        "list" => {
            let mut keys = store.get_keys()?;
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
                held.push(Store::open(label)?);
            }
            "ok".into()
        }
        _ => return Ok(None),
    };
    Ok(Some(text))
}

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (Some(label), Some(op)) = (query_param(&path, "store"), query_param(&path, "op"))
        else {
            return respond_text(out, 400, "expected ?store=<label>&op=<op>");
        };
        let body = read_body(&request);
        match run(&path, body, &label, &op) {
            Ok(Some(text)) => respond_text(out, 200, &text),
            Ok(None) => respond_text(out, 400, &format!("op `{op}` is not in this interface")),
            Err(err) => respond_text(out, 200, &error_text(err)),
        }
    }
}

fn main() {}
