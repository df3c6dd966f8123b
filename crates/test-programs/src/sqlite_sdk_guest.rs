//! What `sql_sqlite2` and `sql_sqlite3` share: each is a WASI 0.2 handler on
//! one of spin-sdk's SQLite modules (`sqlite`, `sqlite3`), whose
//! `Connection`, `Value` (`V`), `QueryResult` and `Error` have the same shape.
//! Each guest includes this module (`#[path]`); it takes those names from the
//! including guest (and the value mappings from its `sqlite_values`), and the
//! guest's `more_ops` answers the ops beyond `execute` and `script`.

use super::*;

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
        _ => return more_ops(&conn, op, body),
    })
}

/// Answers one request (see the including guest's docs).
pub(crate) fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let path = request.path_with_query().unwrap_or_default();
    let Some(label) = query_param(&path, "db") else {
        return respond_text(out, 400, "expected ?db=<label>");
    };
    let op = query_param(&path, "op").unwrap_or_else(|| "execute".into());
    let params = match sql::params(&path).and_then(|ps| ps.into_iter().map(to_param).collect()) {
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
