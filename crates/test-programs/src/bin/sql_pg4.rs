//! Runs SQL through `spin:postgres/postgres@4.0.0`, using Spin's Rust SDK
//! (`spin_sdk::pg4`, spin-sdk 5.2); a host serving `@4.2.0` satisfies it.
//!
//! `POST /?db=ADDRESS&op=OP&p=TYPE:VALUE&…` with the SQL in the body (the
//! request format and JSON of [`test_programs::sql`]), answered `200`:
//! - `op=query` (the default) → `{"columns":[…],"types":[…],"rows":[[…]…]}`,
//!   with the interface's `db-data-type` names (`int32`, `other(inet)`…);
//! - `op=execute` → `{"affected":N}`;
//! - `op=script`: statements separated by `;` at line ends, each `execute`d
//!   on one connection, no parameters → `ok`;
//! - `op=reuse`: opens `ADDRESS` twice and asks each connection for its
//!   server process → `same` or `different`.
//!
//! An interface error answers `error: <variant>: <message>`; a query failure
//! the server explains is `error: query-failed: db-error: <SQLSTATE>: <message>`.
//! Every parameter type maps onto this interface except unsigned integers
//! (`400`).

use spin_sdk::pg4::{
    Connection, DbDataType as T, DbValue as D, Interval, ParameterValue as P, PgError, QueryError,
    RangeBoundKind, RowSet,
};
use test_programs::http::{read_body, respond_text};
use test_programs::query_param;
use test_programs::sql::{self, Bound, Value};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

#[path = "../pg4_values.rs"]
mod pg4_values;
use pg4_values::{error_text, from_value, to_param, type_name};

/// The shared handler's names for this interface's error and the SQL
/// naming the server process of a connection.
type DbError = PgError;
const CONNECTION_ID: &str = "SELECT pg_backend_pid()";

#[path = "../rdbms_sdk_guest.rs"]
mod rdbms_sdk_guest;

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        rdbms_sdk_guest::handle(request, out)
    }
}

fn main() {}
