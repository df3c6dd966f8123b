//! Runs SQL through the `async func`s of `spin:sqlite/sqlite@3.1.0`
//! (`open-async`, `execute-async` with its row stream, `changes-async`,
//! `last-insert-rowid-async`; raw wit-bindgen bindings of the vendored
//! `wit/deps/spin-sqlite@3.1.0`), as spin-sdk 7 guests do.
//!
//! Those functions may only be called from an async task, so this guest is a
//! WASI 0.3 HTTP component exporting `wasi:http/handler@0.3.0`.
//!
//! Requests and answers are those of `sql_sqlite3`: `POST
//! /?db=LABEL&op=execute|script|stats&p=TYPE:VALUE&…` with the SQL in the
//! body (the format and JSON of [`test_programs::sql`]); an interface error
//! answers `200 error: <variant>`, a malformed request `400`.

use test_programs::query_param;
use test_programs::sql::{self, Value};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:sql-sqlite31;
            world guest {
                import spin:sqlite/sqlite@3.1.0;
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
            "../../wit/deps/spin-sqlite@3.1.0",
        ],
        generate_all,
    });
}

use bindings::exports::wasi::http::handler::Guest;
use bindings::spin::sqlite::sqlite::{Connection, Error, RowResult, Value as V};
use bindings::wasi::http::types::{ErrorCode, Fields, Request, Response};
use bindings::{wit_future, wit_stream};

#[path = "../sqlite_values.rs"]
mod sqlite_values;
use sqlite_values::{error_text, from_value, to_param};

/// Runs one statement, collecting its streamed rows.
async fn execute(conn: &Connection, statement: &str, params: Vec<V>) -> Result<String, Error> {
    let (columns, rows, done) = conn.execute_async(statement.to_string(), params).await?;
    let rows: Vec<RowResult> = rows.collect().await;
    done.await?;
    let rows: Vec<Vec<Value>> = rows
        .iter()
        .map(|row| row.values.iter().map(from_value).collect())
        .collect();
    Ok(sql::rows_json(&columns, None, &rows))
}

async fn run(label: &str, op: &str, body: &str, params: Vec<V>) -> Result<Option<String>, Error> {
    let conn = Connection::open_async(label.to_string()).await?;
    Ok(match op {
        "execute" => Some(execute(&conn, body, params).await?),
        "script" | "stats" => {
            let mut last = sql::rows_json(&[], None, &[]);
            for statement in sql::statements(body) {
                last = execute(&conn, &statement, Vec::new()).await?;
            }
            if op == "script" {
                Some(last)
            } else {
                Some(format!(
                    "{{\"changes\":{},\"last_insert_rowid\":{}}}",
                    conn.changes_async().await,
                    conn.last_insert_rowid_async().await
                ))
            }
        }
        _ => None,
    })
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
        let Some(label) = query_param(&path, "db") else {
            return respond(400, "expected ?db=<label>".into());
        };
        let op = query_param(&path, "op").unwrap_or_else(|| "execute".into());
        let params = match sql::params(&path).and_then(|ps| ps.into_iter().map(to_param).collect())
        {
            Ok(params) => params,
            Err(message) => return respond(400, message),
        };
        let (_done_tx, done_rx) = wit_future::new(|| Ok(()));
        let (body, _trailers) = Request::consume_body(request, done_rx);
        let body = String::from_utf8_lossy(&body.collect().await).into_owned();
        match run(&label, &op, &body, params).await {
            Ok(Some(text)) => respond(200, text),
            Ok(None) => respond(400, format!("unknown op `{op}`")),
            Err(err) => respond(200, error_text(err)),
        }
    }
}

fn main() {}
