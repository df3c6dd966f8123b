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

fn to_param(value: Value) -> Result<V, String> {
    Ok(match value {
        Value::Null => V::Null,
        Value::I8(i) => V::Integer(i.into()),
        Value::I16(i) => V::Integer(i.into()),
        Value::I32(i) => V::Integer(i.into()),
        Value::I64(i) => V::Integer(i),
        Value::F32(f) => V::Real(f.into()),
        Value::F64(f) => V::Real(f),
        Value::Text(s) => V::Text(s),
        Value::Blob(b) => V::Blob(b),
        other => return Err(format!("{other:?} is not a value of this interface")),
    })
}

fn from_value(value: &V) -> Value {
    match value {
        V::Integer(i) => Value::I64(*i),
        V::Real(f) => Value::F64(*f),
        V::Text(s) => Value::Text(s.clone()),
        V::Blob(b) => Value::Blob(b.clone()),
        V::Null => Value::Null,
    }
}

fn error_text(err: Error) -> String {
    match err {
        Error::NoSuchDatabase => "error: no-such-database".into(),
        Error::AccessDenied => "error: access-denied".into(),
        Error::InvalidConnection => "error: invalid-connection".into(),
        Error::DatabaseFull => "error: database-full".into(),
        Error::Io(message) => format!("error: io: {message}"),
    }
}

fn json(result: &QueryResult) -> String {
    let rows: Vec<Vec<Value>> = result
        .rows
        .iter()
        .map(|row| row.values.iter().map(from_value).collect())
        .collect();
    sql::rows_json(&result.columns, None, &rows)
}

fn run(label: &str, op: &str, body: &str, params: Vec<V>) -> Result<Option<String>, Error> {
    let conn = Connection::open(label)?;
    Ok(match op {
        "execute" => Some(json(&conn.execute(body, &params)?)),
        "script" => {
            let mut last = QueryResult {
                columns: Vec::new(),
                rows: Vec::new(),
            };
            for statement in sql::statements(body) {
                last = conn.execute(&statement, &[])?;
            }
            Some(json(&last))
        }
        _ => None,
    })
}

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let Some(label) = query_param(&path, "db") else {
            return respond_text(out, 400, "expected ?db=<label>");
        };
        let op = query_param(&path, "op").unwrap_or_else(|| "execute".into());
        let params = match sql::params(&path).and_then(|ps| ps.into_iter().map(to_param).collect())
        {
            Ok(params) => params,
            Err(message) => return respond_text(out, 400, &message),
        };
        let body = String::from_utf8_lossy(&read_body(&request)).into_owned();
        match run(&label, &op, &body, params) {
            Ok(Some(text)) => respond_text(out, 200, &text),
            Ok(None) => respond_text(out, 400, &format!("unknown op `{op}`")),
            Err(err) => respond_text(out, 200, &error_text(err)),
        }
    }
}

fn main() {}
