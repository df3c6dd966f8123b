//! Runs SQL through `fermyon:spin/sqlite@2.0.0`, using Spin's Rust SDK
//! (`spin_sdk::sqlite`, spin-sdk 5.2).
//!
//! `POST /?db=LABEL&op=OP&p=TYPE:VALUE&…` with the SQL in the body (the
//! request format and JSON of [`test_programs::sql`]), answered `200`:
//! - `op=execute` (the default): one statement with the `p` parameters →
//!   `{"columns":[…],"rows":[[…]…]}`;
//! - `op=script`: statements separated by `;` at line ends, run in order on
//!   one connection, no parameters → the last one's rows.
//!
//! An interface error answers `error: <variant>` (`no-such-database`,
//! `access-denied`, `invalid-connection`, `database-full`, `io: <message>`);
//! a parameter type this interface lacks (only `i8`…`i64`, `f32`, `f64`,
//! `text`, `blob` and `null` map onto its values) or a malformed request
//! gets `400`.

use spin_sdk::sqlite::{Connection, Error, QueryResult, Value as V};
use test_programs::http::{read_body, respond_text};
use test_programs::query_param;
use test_programs::sql::{self, Value};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

/// This interface has no ops beyond `execute` and `script`.
fn more_ops(_conn: &Connection, _op: &str, _body: &str) -> Result<Option<String>, Error> {
    Ok(None)
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
