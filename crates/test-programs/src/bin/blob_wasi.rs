//! Exercises `wasi:blobstore@0.2.0-draft` (raw wit-bindgen bindings of the
//! vendored `wit/deps/wasi-blobstore@0.2.0-draft`, whose bodies travel on
//! `wasi:io@0.2.0` streams) from the query string, the way wasmCloud
//! components call it.
//!
//! `?op=OP&c=CONTAINER&o=OBJECT&…` (names percent-encoded), answered
//! `200` (a malformed request gets `400`):
//! - `create`, `get_container` → the container's `name()`
//! - `exists` → `true` / `false`; `delete_container` → `ok`
//! - `info` → `{"name":…,"created_at":…}`
//! - `put` (the request body is the value) → `ok`; `&order=` says when
//!   `write-data` is called: `body_first` (the default: write the body, drop
//!   the stream, `write-data`, `finish`) or `data_first` (`write-data`, then
//!   the body, then `finish`); `&finish=no` drops the value instead
//! - `get[&start=S&end=E][&via=stream]` → the bytes (`get-data`, then
//!   `incoming-value-consume-sync`, or `-async` and the stream read to its end)
//! - `size[&start=S&end=E]` → the incoming value's `size()`
//! - `list[&page=N]` → the names as a JSON array, read `N` at a time (default
//!   100); `skip&n=N` → `{"skipped":…,"rest":[…]}`
//! - `has` → `true` / `false`; `object_info` →
//!   `{"name":…,"container":…,"size":…,"created_at":…}`
//! - `delete`, `delete_many&names=a,b`, `clear` → `ok`
//! - `copy` / `move` `&to_c=C2&to_o=O2` → `ok`
//! - `write_body_twice` → what the second `outgoing-value-write-body` returns
//!
//! A failed call answers `error: <the interface's error string>`; a failed
//! stream write `error: stream: <its error>`.

use test_programs::http::{read_body, respond, respond_text};
use test_programs::{push_json_string, query_param};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

mod bindings {
    wit_bindgen::generate!({
        world: "wasi:blobstore/imports",
        path: [
            "../../wit/deps/wasi-io@0.2.0",
            "../../wit/deps/wasi-blobstore@0.2.0-draft",
        ],
        generate_all,
    });
}

use bindings::wasi::blobstore::{blobstore, container::Container, types};
use bindings::wasi::io::streams::{OutputStream, StreamError};

/// A parsed request.
struct Request {
    path: String,
    body: Vec<u8>,
}

impl Request {
    fn param(&self, name: &str) -> Option<String> {
        query_param(&self.path, name)
    }

    fn required(&self, name: &str) -> Result<String, Outcome> {
        self.param(name)
            .ok_or_else(|| Outcome::BadRequest(format!("expected &{name}=")))
    }

    fn number(&self, name: &str) -> Result<Option<u64>, Outcome> {
        match self.param(name) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| Outcome::BadRequest(format!("&{name}= is not a number"))),
        }
    }
}

enum Outcome {
    Text(String),
    Bytes(Vec<u8>),
    BadRequest(String),
}

impl From<String> for Outcome {
    /// An interface error.
    fn from(error: String) -> Self {
        Outcome::Text(format!("error: {error}"))
    }
}

fn json_names(names: &[String]) -> String {
    let mut json = String::from("[");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        push_json_string(&mut json, name);
    }
    json.push(']');
    json
}

/// Writes all of `data` to `stream`, as much at a time as it permits.
fn write_all(stream: &OutputStream, mut data: &[u8]) -> Result<(), Outcome> {
    let failed = |err: StreamError| {
        Outcome::Text(match err {
            StreamError::LastOperationFailed(e) => {
                format!("error: stream: {}", e.to_debug_string())
            }
            StreamError::Closed => "error: stream: closed".to_string(),
        })
    };
    while !data.is_empty() {
        let permit = stream.check_write().map_err(failed)?;
        let n = usize::try_from(permit)
            .unwrap_or(usize::MAX)
            .min(data.len());
        stream.write(&data[..n]).map_err(failed)?;
        data = &data[n..];
    }
    stream.flush().map_err(failed)
}

fn put(req: &Request, container: &Container, object: &str) -> Result<Outcome, Outcome> {
    let value = types::OutgoingValue::new_outgoing_value();
    let data_first = match req.param("order").as_deref() {
        None | Some("body_first") => false,
        Some("data_first") => true,
        Some(other) => return Err(Outcome::BadRequest(format!("unknown order `{other}`"))),
    };
    if data_first {
        container.write_data(object, &value)?;
    }
    {
        let stream = value
            .outgoing_value_write_body()
            .map_err(|()| "outgoing-value-write-body failed".to_string())?;
        write_all(&stream, &req.body)?;
    }
    if !data_first {
        container.write_data(object, &value)?;
    }
    if req.param("finish").as_deref() == Some("no") {
        drop(value);
    } else {
        types::OutgoingValue::finish(value)?;
    }
    Ok(Outcome::Text("ok".into()))
}

fn get(req: &Request, container: &Container, object: &str) -> Result<Outcome, Outcome> {
    let start = req.number("start")?.unwrap_or(0);
    let end = req.number("end")?.unwrap_or(u64::MAX);
    let value = container.get_data(object, start, end)?;
    if req.op() == "size" {
        return Ok(Outcome::Text(value.size().to_string()));
    }
    let bytes = match req.param("via").as_deref() {
        None | Some("list") => types::IncomingValue::incoming_value_consume_sync(value)?,
        Some("stream") => {
            let stream = types::IncomingValue::incoming_value_consume_async(value)?;
            let mut bytes = Vec::new();
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => bytes.extend(chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Ok(Outcome::Text(format!(
                            "error: stream: {}",
                            e.to_debug_string()
                        )));
                    }
                }
            }
            bytes
        }
        Some(other) => return Err(Outcome::BadRequest(format!("unknown via `{other}`"))),
    };
    Ok(Outcome::Bytes(bytes))
}

impl Request {
    fn op(&self) -> String {
        self.param("op").unwrap_or_default()
    }
}

/// The operations on a container's objects.
fn object_op(req: &Request, op: &str) -> Result<Outcome, Outcome> {
    let container = blobstore::get_container(&req.required("c")?)?;
    let text = match op {
        "put" => return put(req, &container, &req.required("o")?),
        "get" | "size" => return get(req, &container, &req.required("o")?),
        "list" | "skip" => {
            let page = req.number("page")?.unwrap_or(100);
            let names = container.list_objects()?;
            let mut prefix = String::new();
            if op == "skip" {
                let (skipped, _) = names.skip_stream_object_names(req.number("n")?.unwrap_or(0))?;
                prefix = format!("{{\"skipped\":{skipped},\"rest\":");
            }
            let mut all = Vec::new();
            loop {
                let (read, end) = names.read_stream_object_names(page)?;
                all.extend(read);
                if end {
                    break;
                }
            }
            let json = json_names(&all);
            match op {
                "skip" => format!("{prefix}{json}}}"),
                _ => json,
            }
        }
        "has" => container.has_object(&req.required("o")?)?.to_string(),
        "object_info" => {
            let info = container.object_info(&req.required("o")?)?;
            let mut json = String::from("{\"name\":");
            push_json_string(&mut json, &info.name);
            json.push_str(",\"container\":");
            push_json_string(&mut json, &info.container);
            json.push_str(&format!(
                ",\"size\":{},\"created_at\":{}}}",
                info.size, info.created_at
            ));
            json
        }
        "delete" => {
            container.delete_object(&req.required("o")?)?;
            "ok".into()
        }
        "delete_many" => {
            let names: Vec<String> = req
                .required("names")?
                .split(',')
                .map(str::to_string)
                .collect();
            container.delete_objects(&names)?;
            "ok".into()
        }
        "clear" => {
            container.clear()?;
            "ok".into()
        }
        _ => return Err(Outcome::BadRequest(format!("unknown op `{op}`"))),
    };
    Ok(Outcome::Text(text))
}

fn handle(req: &Request) -> Result<Outcome, Outcome> {
    let op = req.op();
    let text = match op.as_str() {
        "create" => blobstore::create_container(&req.required("c")?)?.name()?,
        "get_container" => blobstore::get_container(&req.required("c")?)?.name()?,
        "exists" => blobstore::container_exists(&req.required("c")?)?.to_string(),
        "delete_container" => {
            blobstore::delete_container(&req.required("c")?)?;
            "ok".into()
        }
        "info" => {
            let info = blobstore::get_container(&req.required("c")?)?.info()?;
            let mut json = String::from("{\"name\":");
            push_json_string(&mut json, &info.name);
            json.push_str(&format!(",\"created_at\":{}}}", info.created_at));
            json
        }
        "copy" | "move" => {
            let src = types::ObjectId {
                container: req.required("c")?,
                object: req.required("o")?,
            };
            let dest = types::ObjectId {
                container: req.required("to_c")?,
                object: req.required("to_o")?,
            };
            if op == "copy" {
                blobstore::copy_object(&src, &dest)?;
            } else {
                blobstore::move_object(&src, &dest)?;
            }
            "ok".into()
        }
        "write_body_twice" => {
            let value = types::OutgoingValue::new_outgoing_value();
            let first = value.outgoing_value_write_body();
            let second = value.outgoing_value_write_body();
            format!("first: {}, second: {}", first.is_ok(), second.is_ok())
        }
        _ => return object_op(req, &op),
    };
    Ok(Outcome::Text(text))
}

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let req = Request {
            body: read_body(&request),
            path,
        };
        match handle(&req) {
            Ok(Outcome::Text(text)) | Err(Outcome::Text(text)) => respond_text(out, 200, &text),
            Ok(Outcome::Bytes(bytes)) | Err(Outcome::Bytes(bytes)) => {
                respond(out, 200, "application/octet-stream", &bytes)
            }
            Ok(Outcome::BadRequest(message)) | Err(Outcome::BadRequest(message)) => {
                respond_text(out, 400, &message)
            }
        }
    }
}

fn main() {}
