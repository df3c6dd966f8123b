//! Runs SQL through `spin:sqlite/sqlite@3.0.0`, using Spin's Rust SDK
//! (`spin_sdk::sqlite3`, spin-sdk 5.2).
//!
//! `POST /?db=LABEL&op=OP&p=TYPE:VALUE&…` with the SQL in the body (the
//! request format and JSON of [`test_programs::sql`]), answered `200`:
//! - `op=execute` (the default): one statement with the `p` parameters →
//!   `{"columns":[…],"rows":[[…]…]}`;
//! - `op=script`: statements separated by `;` at line ends, run in order on
//!   one connection, no parameters → the last one's rows;
//! - `op=stats`: like `script`, then → `{"changes":N,"last_insert_rowid":N}`
//!   of the connection.
//!
//! An interface error answers `error: <variant>` (`no-such-database`,
//! `access-denied`, `invalid-connection`, `database-full`, `io: <message>`);
//! a parameter type this interface lacks (only `i8`…`i64`, `f32`, `f64`,
//! `text`, `blob` and `null` map onto its values) or a malformed request
//! gets `400`.

use spin_sdk::sqlite3::{Connection, Error, QueryResult, Value as V};
use test_programs::http::{read_body, respond_text};
use test_programs::query_param;
use test_programs::sql::{self, Value};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

/// `stats`: the statements, then the connection's change counters.
fn more_ops(conn: &Connection, op: &str, body: &str) -> Result<Option<String>, Error> {
    if op != "stats" {
        return Ok(None);
    }
    for statement in sql::statements(body) {
        conn.execute(&statement, &[])?;
    }
    Ok(Some(format!(
        "{{\"changes\":{},\"last_insert_rowid\":{}}}",
        conn.changes(),
        conn.last_insert_rowid()
    )))
}

#[path = "../sqlite_values.rs"]
mod sqlite_values;
use sqlite_values::{error_text, from_value, to_param};

#[path = "../sqlite_sdk_guest.rs"]
mod sqlite_sdk_guest;

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        sqlite_sdk_guest::handle(request, out)
    }
}

fn main() {}
