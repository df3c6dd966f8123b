//! Exercises `wasi:keyvalue/{store,atomics,batch}` (raw wit-bindgen bindings
//! of the vendored `wit/deps/wasi-keyvalue@0.2.0-draft` and `@0.2.0-draft2`)
//! from the query string; `&v=draft2` picks draft2 (default: draft).
//!
//! `?store=S&op=OP&…`, all answered `200 text/plain`:
//! - `get&key=K` → `some:<value>` or `none`
//! - `set&key=K` (body is the value), `delete&key=K` → `ok`
//! - `exists&key=K` → `true` / `false`
//! - `list` → the keys as a sorted JSON array (all pages)
//! - `incr&key=K&by=N` → the new value
//! - `cas&key=K[&old=V]&new=W` (draft2; no `old`: expect absent) → `swapped`
//!   or `conflict`
//! - `get_many&keys=a,b` → JSON array of values (`null` when absent)
//! - `set_many&keys=a,b` (body is every value), `delete_many&keys=a,b` → `ok`
//! - `open&n=N` → opens the store N times, holding every handle → `ok`
//!
//! An interface error answers `error: <variant>` (`no-such-store`,
//! `access-denied`, `other: <message>`); a malformed request gets `400`.

use test_programs::http::{read_body, respond_text};
use test_programs::{push_json_opt_string, push_json_string, query_param};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:kv-wasi;
            world guest {
                import wasi:keyvalue/store@0.2.0-draft;
                import wasi:keyvalue/atomics@0.2.0-draft;
                import wasi:keyvalue/batch@0.2.0-draft;
                import wasi:keyvalue/store@0.2.0-draft2;
                import wasi:keyvalue/atomics@0.2.0-draft2;
                import wasi:keyvalue/batch@0.2.0-draft2;
            }
        ",
        path: [
            "../../wit/deps/wasi-keyvalue@0.2.0-draft",
            "../../wit/deps/wasi-keyvalue@0.2.0-draft2",
        ],
        generate_all,
    });
}

/// A parsed request.
struct Request {
    store: String,
    op: String,
    key: String,
    keys: Vec<String>,
    body: Vec<u8>,
    path: String,
}

impl Request {
    fn param(&self, name: &str) -> Option<String> {
        query_param(&self.path, name)
    }
}

enum Outcome {
    Text(String),
    BadRequest(String),
}

fn json_values(values: &[Option<Vec<u8>>]) -> String {
    let mut json = String::from("[");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let text = value
            .as_ref()
            .map(|v| String::from_utf8_lossy(v).into_owned());
        push_json_opt_string(&mut json, text.as_deref());
    }
    json.push(']');
    json
}

fn json_keys(mut keys: Vec<String>) -> String {
    keys.sort();
    keys.dedup();
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

/// The operations common to both drafts, for the generated module `$kv`.
/// `$cursor_arg` (the stored cursor as an argument) and `$get_value` (a
/// `get-many` entry's value) bridge their small differences.
macro_rules! common_ops {
    ($name:ident, $kv:path, |$cursor:ident| $cursor_arg:expr, |$entry:ident| $get_value:expr) => {
        fn $name(req: &Request) -> Result<Outcome, String> {
            use $kv as kv;
            let error = |err: kv::store::Error| match err {
                kv::store::Error::NoSuchStore => "error: no-such-store".to_string(),
                kv::store::Error::AccessDenied => "error: access-denied".to_string(),
                kv::store::Error::Other(message) => format!("error: other: {message}"),
            };
            let bucket = kv::store::open(&req.store).map_err(error)?;
            let text = match req.op.as_str() {
                "get" => match bucket.get(&req.key).map_err(error)? {
                    Some(value) => format!("some:{}", String::from_utf8_lossy(&value)),
                    None => "none".into(),
                },
                "set" => {
                    bucket.set(&req.key, &req.body).map_err(error)?;
                    "ok".into()
                }
                "delete" => {
                    bucket.delete(&req.key).map_err(error)?;
                    "ok".into()
                }
                "exists" => bucket.exists(&req.key).map_err(error)?.to_string(),
                "list" => {
                    let mut keys = Vec::new();
                    let mut $cursor = None;
                    loop {
                        let page = bucket.list_keys($cursor_arg).map_err(error)?;
                        keys.extend(page.keys);
                        match page.cursor {
                            Some(next) => $cursor = Some(next),
                            None => break,
                        }
                    }
                    json_keys(keys)
                }
                "get_many" => {
                    let entries = kv::batch::get_many(&bucket, &req.keys).map_err(error)?;
                    let values: Vec<Option<Vec<u8>>> =
                        entries.into_iter().map(|$entry| $get_value).collect();
                    json_values(&values)
                }
                "set_many" => {
                    let pairs: Vec<(String, Vec<u8>)> = req
                        .keys
                        .iter()
                        .map(|k| (k.clone(), req.body.clone()))
                        .collect();
                    kv::batch::set_many(&bucket, &pairs).map_err(error)?;
                    "ok".into()
                }
                "delete_many" => {
                    kv::batch::delete_many(&bucket, &req.keys).map_err(error)?;
                    "ok".into()
                }
                "open" => {
                    let n: usize = req.param("n").and_then(|n| n.parse().ok()).unwrap_or(1);
                    let mut held = vec![bucket];
                    for _ in 1..n {
                        held.push(kv::store::open(&req.store).map_err(error)?);
                    }
                    "ok".into()
                }
                _ => return Ok(Outcome::BadRequest(format!("unknown op `{}`", req.op))),
            };
            Ok(Outcome::Text(text))
        }
    };
}

common_ops!(
    draft_common,
    bindings::wasi::keyvalue0_2_0_draft,
    |cursor| cursor,
    |entry| entry.map(|(_, value)| value)
);
common_ops!(
    draft2_common,
    bindings::wasi::keyvalue0_2_0_draft2,
    |cursor| cursor.as_deref(),
    |entry| entry.1
);

fn draft(req: &Request) -> Result<Outcome, String> {
    use bindings::wasi::keyvalue0_2_0_draft as kv;
    if req.op != "incr" {
        return draft_common(req);
    }
    let Some(by) = req.param("by").and_then(|by| by.parse::<u64>().ok()) else {
        return Ok(Outcome::BadRequest("expected &by=<u64>".into()));
    };
    let other = |err| match err {
        kv::store::Error::NoSuchStore => "error: no-such-store".to_string(),
        kv::store::Error::AccessDenied => "error: access-denied".to_string(),
        kv::store::Error::Other(message) => format!("error: other: {message}"),
    };
    let bucket = kv::store::open(&req.store).map_err(other)?;
    let value = kv::atomics::increment(&bucket, &req.key, by).map_err(other)?;
    Ok(Outcome::Text(value.to_string()))
}

fn draft2(req: &Request) -> Result<Outcome, String> {
    use bindings::wasi::keyvalue0_2_0_draft2 as kv;
    let other = |err| match err {
        kv::store::Error::NoSuchStore => "error: no-such-store".to_string(),
        kv::store::Error::AccessDenied => "error: access-denied".to_string(),
        kv::store::Error::Other(message) => format!("error: other: {message}"),
    };
    match req.op.as_str() {
        "incr" => {
            let Some(by) = req.param("by").and_then(|by| by.parse::<i64>().ok()) else {
                return Ok(Outcome::BadRequest("expected &by=<s64>".into()));
            };
            let bucket = kv::store::open(&req.store).map_err(other)?;
            let value = kv::atomics::increment(&bucket, &req.key, by).map_err(other)?;
            Ok(Outcome::Text(value.to_string()))
        }
        "cas" => {
            let Some(new) = req.param("new") else {
                return Ok(Outcome::BadRequest("expected &new=<value>".into()));
            };
            let old = req.param("old").map(String::into_bytes);
            let bucket = kv::store::open(&req.store).map_err(other)?;
            let cas = kv::atomics::Cas::new(&bucket, &req.key).map_err(other)?;
            if cas.current().map_err(other)? != old {
                return Ok(Outcome::Text("conflict".into()));
            }
            Ok(Outcome::Text(
                match kv::atomics::swap(cas, new.as_bytes()) {
                    Ok(()) => "swapped".into(),
                    Err(kv::atomics::CasError::CasFailed(_)) => "conflict".into(),
                    Err(kv::atomics::CasError::StoreError(err)) => other(err),
                },
            ))
        }
        _ => draft2_common(req),
    }
}

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (Some(store), Some(op)) = (query_param(&path, "store"), query_param(&path, "op"))
        else {
            return respond_text(out, 400, "expected ?store=<label>&op=<op>");
        };
        let req = Request {
            store,
            op,
            key: query_param(&path, "key").unwrap_or_default(),
            keys: query_param(&path, "keys")
                .map(|keys| keys.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            body: read_body(&request),
            path,
        };
        let result = match req.param("v").as_deref() {
            None | Some("draft") => draft(&req),
            Some("draft2") => draft2(&req),
            Some(other) => Ok(Outcome::BadRequest(format!("unknown version `{other}`"))),
        };
        match result {
            Ok(Outcome::Text(text)) => respond_text(out, 200, &text),
            Ok(Outcome::BadRequest(message)) => respond_text(out, 400, &message),
            Err(error) => respond_text(out, 200, &error),
        }
    }
}

fn main() {}
