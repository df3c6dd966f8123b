//! The request handling `sql_pg2`, `sql_pg3` and `sql_pg4` share: each is a
//! WASI 0.2 handler on one of spin-sdk's Postgres modules (`pg`, `pg3`, `pg4`),
//! whose `Connection`s and `RowSet`s have the same shape. Each guest includes
//! this module (`#[path]`); it takes the interface's names (`Connection`,
//! `P`, `PgError`…) and the guest's own value mappings (`to_param`,
//! `from_value`, `type_name`, `error_text`) from the including guest.

use super::*;

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

/// Answers one request (see the including guest's docs).
pub(crate) fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let path = request.path_with_query().unwrap_or_default();
    let Some(address) = query_param(&path, "db") else {
        return respond_text(out, 400, "expected ?db=<address>");
    };
    let op = query_param(&path, "op").unwrap_or_else(|| "query".into());
    let params = match sql::params(&path).and_then(|ps| ps.into_iter().map(to_param).collect()) {
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
