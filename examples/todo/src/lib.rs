//! A to-do list API: a `wasi:http` component keeping its items in the SQLite
//! database `default` (through `fermyon:spin/sqlite@2.0.0`, via Spin's SDK).
//!
//! - `GET /todos` → the items as JSON: `[{"id":1,"title":"…","done":false},…]`
//! - `POST /todos` (the body is the title) → `201` and the new item
//! - `POST /todos/:id/done` → the item, now done
//! - `DELETE /todos/:id` → `204`
//!
//! An unknown id is `404`. The table comes from `migrations.sql`, which
//! `skiff up --sqlite @migrations.sql` runs before serving.

use std::io::{Read as _, Write as _};

use spin_sdk::sqlite::{Connection, Error, QueryResult, Value};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// A response: status, content type and body.
type Reply = (u16, &'static str, String);

fn handle(method: Method, path: &str, body: Vec<u8>) -> Result<Reply, Error> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let db = || Connection::open_default();
    Ok(match (method, segments.as_slice()) {
        (Method::Get, ["todos"]) => {
            let todos = db()?.execute("SELECT id, title, done FROM todos ORDER BY id", &[])?;
            (200, JSON, to_json(&todos))
        }
        (Method::Post, ["todos"]) => {
            let title = String::from_utf8_lossy(&body).trim().to_string();
            if title.is_empty() {
                return Ok((400, TEXT, "The body must be the title.\n".into()));
            }
            let todo = db()?.execute(
                "INSERT INTO todos (title) VALUES (?) RETURNING id, title, done",
                &[Value::Text(title)],
            )?;
            (201, JSON, one(&todo))
        }
        (Method::Post, ["todos", id, "done"]) => match id.parse::<i64>() {
            Ok(id) => found(db()?.execute(
                "UPDATE todos SET done = 1 WHERE id = ? RETURNING id, title, done",
                &[Value::Integer(id)],
            )?),
            Err(_) => not_found(),
        },
        (Method::Delete, ["todos", id]) => match id.parse::<i64>() {
            Ok(id) => match found(db()?.execute(
                "DELETE FROM todos WHERE id = ? RETURNING id, title, done",
                &[Value::Integer(id)],
            )?) {
                (200, ..) => (204, TEXT, String::new()),
                missing => missing,
            },
            Err(_) => not_found(),
        },
        _ => (
            404,
            TEXT,
            "Try GET or POST /todos, POST /todos/:id/done, DELETE /todos/:id.\n".into(),
        ),
    })
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain";

/// `200` and the one item of `result`, or `404` when it has none.
fn found(result: QueryResult) -> Reply {
    if result.rows.is_empty() {
        not_found()
    } else {
        (200, JSON, one(&result))
    }
}

fn not_found() -> Reply {
    (404, TEXT, "No such to-do.\n".into())
}

/// The rows of `id, title, done` as a JSON array.
fn to_json(result: &QueryResult) -> String {
    let items: Vec<String> = result.rows().map(|row| item(&row)).collect();
    format!("[{}]", items.join(","))
}

/// The first row as a JSON object.
fn one(result: &QueryResult) -> String {
    result
        .rows()
        .next()
        .map(|row| item(&row))
        .unwrap_or_default()
}

fn item(row: &spin_sdk::sqlite::Row<'_>) -> String {
    let id = row.get::<i64>("id").unwrap_or_default();
    let title = row.get::<&str>("title").unwrap_or_default();
    let done = row.get::<bool>("done").unwrap_or_default();
    format!(
        r#"{{"id":{id},"title":{},"done":{done}}}"#,
        json_string(title)
    )
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn describe(err: Error) -> String {
    match err {
        Error::NoSuchDatabase => "no such database".into(),
        Error::AccessDenied => "access denied".into(),
        Error::InvalidConnection => "invalid connection".into(),
        Error::DatabaseFull => "database full".into(),
        Error::Io(message) => message,
    }
}

struct Todo;

impl Guest for Todo {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_default();
        let path = path_with_query.split('?').next().unwrap_or_default();
        let body = read_body(&request);
        let (status, content_type, body) = match handle(request.method(), path, body) {
            Ok(reply) => reply,
            Err(err) => (
                500,
                TEXT,
                format!("SQLite database `default`: {}\n", describe(err)),
            ),
        };
        respond(out, status, content_type, &body);
    }
}

wasip2::http::proxy::export!(Todo);

/// The whole request body.
fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Ok(body) = request.consume() {
        if let Ok(mut stream) = body.stream() {
            stream.read_to_end(&mut bytes).expect("read the body");
        }
        // The stream must be dropped before the body is finished.
        drop(IncomingBody::finish(body));
    }
    bytes
}

fn respond(out: ResponseOutparam, status: u16, content_type: &str, text: &str) {
    let headers = Fields::from_list(&[("content-type".to_string(), content_type.into())])
        .expect("valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let body = response.body().expect("body is taken once");
    ResponseOutparam::set(out, Ok(response));

    let mut stream = body.write().expect("stream is taken once");
    stream.write_all(text.as_bytes()).expect("write the body");
    stream.flush().expect("flush the body");
    // The stream must be dropped before the body is finished.
    drop(stream);
    OutgoingBody::finish(body, None).expect("finish the body");
}
