//! The request handling `sql_pg2`, `sql_pg3`, `sql_pg4` and `mysql_spin2`
//! share: each is a WASI 0.2 handler on one of spin-sdk's SQL modules (`pg`,
//! `pg3`, `pg4`, `mysql`), whose `Connection`s and `RowSet`s have the same
//! shape. Each guest includes this module (`#[path]`); it takes the
//! interface's names (`Connection`, `P`, `DbError`…), the guest's own value
//! mappings (`to_param`, `from_value`, `type_name`, `error_text`) and the SQL
//! that names the server's connection (`CONNECTION_ID`) from the including
//! guest.

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

/// What `execute` answers: PostgreSQL's interfaces count the rows changed,
/// MySQL's returns nothing.
trait Executed {
    fn text(self) -> String;
}

impl Executed for u64 {
    fn text(self) -> String {
        format!("{{\"affected\":{self}}}")
    }
}

impl Executed for () {
    fn text(self) -> String {
        "ok".into()
    }
}

fn connection_id(conn: &Connection) -> Result<String, DbError> {
    let rows = conn.query(CONNECTION_ID, &[])?;
    Ok(format!("{:?}", rows.rows.first().and_then(|r| r.first())))
}

fn run(address: &str, op: &str, body: &str, params: Vec<P>) -> Result<Option<String>, DbError> {
    let conn = Connection::open(address)?;
    Ok(match op {
        "query" => Some(json(&conn.query(body, &params)?)),
        "execute" => Some(conn.execute(body, &params)?.text()),
        "script" => {
            for statement in sql::statements(body) {
                conn.execute(&statement, &[])?;
            }
            Some("ok".into())
        }
        "reuse" => {
            let other = Connection::open(address)?;
            let same = connection_id(&conn)? == connection_id(&other)?;
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
