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

type WitBound<V> = Option<(V, RangeBoundKind)>;

fn to_bound<V>(bound: Bound<V>) -> WitBound<V> {
    bound.map(|(v, inclusive)| {
        let kind = if inclusive {
            RangeBoundKind::Inclusive
        } else {
            RangeBoundKind::Exclusive
        };
        (v, kind)
    })
}

fn from_bound<V: Clone>(bound: &WitBound<V>) -> Bound<V> {
    bound
        .as_ref()
        .map(|(v, kind)| (v.clone(), matches!(kind, RangeBoundKind::Inclusive)))
}

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
        Value::Uuid(u) => P::Uuid(u),
        Value::Jsonb(j) => P::Jsonb(j),
        Value::Decimal(d) => P::Decimal(d),
        Value::RangeI32(lo, hi) => P::RangeInt32((to_bound(lo), to_bound(hi))),
        Value::RangeI64(lo, hi) => P::RangeInt64((to_bound(lo), to_bound(hi))),
        Value::RangeDecimal(lo, hi) => P::RangeDecimal((to_bound(lo), to_bound(hi))),
        Value::ArrayI32(a) => P::ArrayInt32(a),
        Value::ArrayI64(a) => P::ArrayInt64(a),
        Value::ArrayDecimal(a) => P::ArrayDecimal(a),
        Value::ArrayStr(a) => P::ArrayStr(a),
        Value::Interval {
            micros,
            days,
            months,
        } => P::Interval(Interval {
            micros,
            days,
            months,
        }),
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
        D::Uuid(u) => Value::Uuid(u.clone()),
        D::Jsonb(j) => Value::Jsonb(j.clone()),
        D::Decimal(d) => Value::Decimal(d.clone()),
        D::RangeInt32((lo, hi)) => Value::RangeI32(from_bound(lo), from_bound(hi)),
        D::RangeInt64((lo, hi)) => Value::RangeI64(from_bound(lo), from_bound(hi)),
        D::RangeDecimal((lo, hi)) => Value::RangeDecimal(from_bound(lo), from_bound(hi)),
        D::ArrayInt32(a) => Value::ArrayI32(a.clone()),
        D::ArrayInt64(a) => Value::ArrayI64(a.clone()),
        D::ArrayDecimal(a) => Value::ArrayDecimal(a.clone()),
        D::ArrayStr(a) => Value::ArrayStr(a.clone()),
        D::Interval(i) => Value::Interval {
            micros: i.micros,
            days: i.days,
            months: i.months,
        },
        D::DbNull => Value::Null,
        D::Unsupported(raw) => Value::Unsupported(Some(raw.clone())),
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
        T::Uuid => "uuid",
        T::Jsonb => "jsonb",
        T::Decimal => "decimal",
        T::RangeInt32 => "range-int32",
        T::RangeInt64 => "range-int64",
        T::RangeDecimal => "range-decimal",
        T::ArrayInt32 => "array-int32",
        T::ArrayInt64 => "array-int64",
        T::ArrayDecimal => "array-decimal",
        T::ArrayStr => "array-str",
        T::Interval => "interval",
        T::Other(name) => return format!("other({name})"),
    }
    .to_string()
}

fn error_text(err: PgError) -> String {
    match err {
        PgError::ConnectionFailed(m) => format!("error: connection-failed: {m}"),
        PgError::BadParameter(m) => format!("error: bad-parameter: {m}"),
        PgError::QueryFailed(QueryError::Text(m)) => format!("error: query-failed: {m}"),
        PgError::QueryFailed(QueryError::DbError(e)) => {
            format!("error: query-failed: db-error: {}: {}", e.code, e.message)
        }
        PgError::ValueConversionFailed(m) => format!("error: value-conversion-failed: {m}"),
        PgError::Other(m) => format!("error: other: {m}"),
    }
}

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
