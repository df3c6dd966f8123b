//! Runs SQL through `spin:postgres/postgres@3.0.0`, using Spin's Rust SDK
//! (`spin_sdk::pg3`, spin-sdk 5.2).
//!
//! `POST /?db=ADDRESS&op=OP&p=TYPE:VALUE&…` with the SQL in the body (the
//! request format and JSON of [`test_programs::sql`]), answered `200`:
//! - `op=query` (the default) → `{"columns":[…],"types":[…],"rows":[[…]…]}`,
//!   with the interface's `db-data-type` names (`int32`, `other`…);
//! - `op=execute` → `{"affected":N}`;
//! - `op=script`: statements separated by `;` at line ends, each `execute`d
//!   on one connection, no parameters → `ok`;
//! - `op=reuse`: opens `ADDRESS` twice and asks each connection for its
//!   server process → `same` or `different`.
//!
//! An interface error answers `error: <variant>: <message>`. Parameters of
//! types this interface lacks (unsigned integers, and everything after
//! `timestamp` in the table of [`test_programs::sql`]) get `400`.

use spin_sdk::pg3::{
    Connection, DbDataType as T, DbValue as D, ParameterValue as P, PgError, RowSet,
};
use test_programs::http::{read_body, respond_text};
use test_programs::query_param;
use test_programs::sql::{self, Value};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

fn to_param(value: Value) -> Result<P, String> {
    Ok(match value {
        Value::Null => P::DbNull,
        Value::Bool(b) => P::Boolean(b),
        Value::I8(i) => P::Int8(i),
        Value::I16(i) => P::Int16(i),
        Value::I32(i) => P::Int32(i),
        Value::I64(i) => P::Int64(i),
        Value::F32(f) => P::Floating32(f),
        Value::F64(f) => P::Floating64(f),
        Value::Text(s) => P::Str(s),
        Value::Blob(b) => P::Binary(b),
        Value::Date(d) => P::Date(d),
        Value::Time(t) => P::Time(t),
        Value::DateTime(dt) => P::Datetime(dt),
        Value::Timestamp(t) => P::Timestamp(t),
        other => return Err(format!("{other:?} is not a value of this interface")),
    })
}

fn from_value(value: &D) -> Value {
    match value {
        D::Boolean(b) => Value::Bool(*b),
        D::Int8(i) => Value::I8(*i),
        D::Int16(i) => Value::I16(*i),
        D::Int32(i) => Value::I32(*i),
        D::Int64(i) => Value::I64(*i),
        D::Floating32(f) => Value::F32(*f),
        D::Floating64(f) => Value::F64(*f),
        D::Str(s) => Value::Text(s.clone()),
        D::Binary(b) => Value::Blob(b.clone()),
        D::Date(d) => Value::Date(*d),
        D::Time(t) => Value::Time(*t),
        D::Datetime(dt) => Value::DateTime(*dt),
        D::Timestamp(t) => Value::Timestamp(*t),
        D::DbNull => Value::Null,
        D::Unsupported => Value::Unsupported(None),
    }
}

fn type_name(ty: &T) -> String {
    match ty {
        T::Boolean => "boolean",
        T::Int8 => "int8",
        T::Int16 => "int16",
        T::Int32 => "int32",
        T::Int64 => "int64",
        T::Floating32 => "floating32",
        T::Floating64 => "floating64",
        T::Str => "str",
        T::Binary => "binary",
        T::Date => "date",
        T::Time => "time",
        T::Datetime => "datetime",
        T::Timestamp => "timestamp",
        T::Other => "other",
    }
    .to_string()
}

fn error_text(err: PgError) -> String {
    match err {
        PgError::ConnectionFailed(m) => format!("error: connection-failed: {m}"),
        PgError::BadParameter(m) => format!("error: bad-parameter: {m}"),
        PgError::QueryFailed(m) => format!("error: query-failed: {m}"),
        PgError::ValueConversionFailed(m) => format!("error: value-conversion-failed: {m}"),
        PgError::Other(m) => format!("error: other: {m}"),
    }
}

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
