//! Runs SQL through `fermyon:spin/mysql@2.0.0`, using Spin's Rust SDK
//! (`spin_sdk::mysql`, spin-sdk 5.2).
//!
//! `POST /?db=ADDRESS&op=OP&p=TYPE:VALUE&…` with the SQL in the body (the
//! request format and JSON of [`test_programs::sql`]), answered `200`:
//! - `op=query` (the default) → `{"columns":[…],"types":[…],"rows":[[…]…]}`,
//!   with the interface's `db-data-type` names (`int32`, `other`…);
//! - `op=execute` → `ok`;
//! - `op=script`: statements separated by `;` at line ends, each `execute`d
//!   on one connection, no parameters → `ok`;
//! - `op=two`: opens `ADDRESS` twice and asks each connection for its id →
//!   `same` or `different` (two open connections are never one).
//!
//! An interface error answers `error: <variant>: <message>`. Parameters of
//! types this interface lacks (everything after `blob` in the table of
//! [`test_programs::sql`]) get `400`.

use spin_sdk::mysql::{Connection, MysqlError, ParameterValue as P, RowSet};
use test_programs::http::{read_body, respond_text};
use test_programs::query_param;
use test_programs::sql::{self, Value};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

#[path = "../rdbms2.rs"]
mod rdbms2;

use rdbms2::{error_text, from_value, to_param, type_name};

fn json(result: &RowSet) -> String {
    let columns: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
    let types: Vec<String> = result
        .columns
        .iter()
        .map(|c| type_name(&c.data_type))
        .collect();
    let rows: Vec<Vec<Value>> = result
        .rows
        .iter()
        .map(|row| row.iter().map(from_value).collect())
        .collect();
    sql::rows_json(&columns, Some(&types), &rows)
}

fn connection_id(conn: &Connection) -> Result<String, MysqlError> {
    let rows = conn.query("SELECT CONNECTION_ID()", &[])?;
    Ok(format!("{:?}", rows.rows.first().and_then(|r| r.first())))
}

fn run(address: &str, op: &str, body: &str, params: Vec<P>) -> Result<Option<String>, MysqlError> {
    let conn = Connection::open(address)?;
    Ok(match op {
        "query" => Some(json(&conn.query(body, &params)?)),
        "execute" => {
            conn.execute(body, &params)?;
            Some("ok".into())
        }
        "script" => {
            for statement in sql::statements(body) {
                conn.execute(&statement, &[])?;
            }
            Some("ok".into())
        }
        "two" => {
            let other = Connection::open(address)?;
            let same = connection_id(&conn)? == connection_id(&other)?;
            Some(if same { "same" } else { "different" }.into())
        }
        _ => None,
    })
}

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let Some(address) = query_param(&path, "db") else {
            return respond_text(out, 400, "expected ?db=<address>");
        };
        let op = query_param(&path, "op").unwrap_or_else(|| "query".into());
        let params = match sql::params(&path).and_then(|ps| ps.into_iter().map(to_param).collect())
        {
            Ok(params) => params,
            Err(message) => return respond_text(out, 400, &message),
        };
        let body = String::from_utf8_lossy(&read_body(&request)).into_owned();
        match run(&address, &op, &body, params) {
            Ok(Some(text)) => respond_text(out, 200, &text),
            Ok(None) => respond_text(out, 400, &format!("unknown op `{op}`")),
            Err(err) => respond_text(out, 200, &error_text(err)),
        }
    }
}

fn main() {}
