//! Runs SQL through the `async func`s of `spin:postgres/postgres@4.2.0`
//! (`open-async`, `query-async` with its row stream, `execute-async`, and
//! `connection-builder.build-async`; raw wit-bindgen bindings of the vendored
//! `wit/deps/spin-postgres@4.2.0`), as spin-sdk 7 guests do.
//!
//! Those functions may only be called from an async task, so this guest is a
//! WASI 0.3 HTTP component exporting `wasi:http/handler@0.3.0`.
//!
//! Requests and answers are those of `sql_pg4` (`?db=ADDRESS&op=query|
//! execute|script|reuse&p=TYPE:VALUE&…`, the SQL in the body), plus
//! `&open=builder` to connect through a `connection-builder`, and
//! `&ca=PEM` to give the builder a CA root first.

use test_programs::query_param;
use test_programs::sql::{self, Bound, Value};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:sql-pg42;
            world guest {
                import spin:postgres/postgres@4.2.0;
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
            "../../wit/deps/spin-postgres@4.2.0",
        ],
        generate_all,
    });
}

use bindings::exports::wasi::http::handler::Guest;
use bindings::spin::postgres::postgres::{
    Column, Connection, ConnectionBuilder, DbDataType as T, DbValue as D, Error as PgError,
    Interval, ParameterValue as P, QueryError, RangeBoundKind,
};
use bindings::wasi::http::types::{ErrorCode, Fields, Request, Response};
use bindings::{wit_future, wit_stream};

#[path = "../pg4_values.rs"]
mod pg4_values;
use pg4_values::{error_text, from_value, to_param, type_name};

fn json(columns: &[Column], rows: &[Vec<D>]) -> String {
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let types: Vec<String> = columns.iter().map(|c| type_name(&c.data_type)).collect();
    let rows: Vec<Vec<Value>> = rows
        .iter()
        .map(|row| row.iter().map(from_value).collect())
        .collect();
    sql::rows_json(&names, Some(&types), &rows)
}

async fn query(conn: &Connection, statement: &str, params: Vec<P>) -> Result<String, PgError> {
    let (columns, rows, done) = conn.query_async(statement.to_string(), params).await?;
    let rows: Vec<Vec<D>> = rows.collect().await;
    done.await?;
    Ok(json(&columns, &rows))
}

async fn pid(conn: &Connection) -> Result<String, PgError> {
    query(conn, "SELECT pg_backend_pid()", Vec::new()).await
}

async fn open(path: &str, address: &str) -> Result<Connection, PgError> {
    if query_param(path, "open").as_deref() != Some("builder") {
        return Connection::open_async(address.to_string()).await;
    }
    let builder = ConnectionBuilder::new(address);
    if let Some(ca) = query_param(path, "ca") {
        builder.set_ca_root(&ca)?;
    }
    builder.build_async().await
}

async fn run(
    path: &str,
    address: &str,
    op: &str,
    body: &str,
    params: Vec<P>,
) -> Result<Option<String>, PgError> {
    let conn = open(path, address).await?;
    Ok(match op {
        "query" => Some(query(&conn, body, params).await?),
        "execute" => Some(format!(
            "{{\"affected\":{}}}",
            conn.execute_async(body.to_string(), params).await?
        )),
        "script" => {
            for statement in sql::statements(body) {
                conn.execute_async(statement, Vec::new()).await?;
            }
            Some("ok".into())
        }
        "reuse" => {
            let other = open(path, address).await?;
            let same = pid(&conn).await? == pid(&other).await?;
            Some(if same { "same" } else { "different" }.into())
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
        let Some(address) = query_param(&path, "db") else {
            return respond(400, "expected ?db=<address>".into());
        };
        let op = query_param(&path, "op").unwrap_or_else(|| "query".into());
        let params = match sql::params(&path).and_then(|ps| ps.into_iter().map(to_param).collect())
        {
            Ok(params) => params,
            Err(message) => return respond(400, message),
        };
        let (_done_tx, done_rx) = wit_future::new(|| Ok(()));
        let (body, _trailers) = Request::consume_body(request, done_rx);
        let body = String::from_utf8_lossy(&body.collect().await).into_owned();
        match run(&path, &address, &op, &body, params).await {
            Ok(Some(text)) => respond(200, text),
            Ok(None) => respond(400, format!("unknown op `{op}`")),
            Err(err) => respond(200, error_text(err)),
        }
    }
}

fn main() {}
