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

fn pid(conn: &Connection) -> Result<String, PgError> {
    let rows = conn.query("SELECT pg_backend_pid()", &[])?;
    Ok(format!("{:?}", rows.rows.first().and_then(|r| r.first())))
}

fn run(address: &str, op: &str, body: &str, params: Vec<P>) -> Result<Option<String>, PgError> {
    let conn = Connection::open(address)?;
    Ok(match op {
        "query" => Some(json(&conn.query(body, &params)?)),
        "execute" => Some(format!("{{\"affected\":{}}}", conn.execute(body, &params)?)),
        "script" => {
            for statement in sql::statements(body) {
                conn.execute(&statement, &[])?;
            }
            Some("ok".into())
        }
        "reuse" => {
            let other = Connection::open(address)?;
            let same = pid(&conn)? == pid(&other)?;
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
