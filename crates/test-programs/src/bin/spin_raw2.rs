//! A Spin app written without Spin's SDK: raw wit-bindgen bindings of the
//! vendored `wit/deps/fermyon-spin@2.0.0` (`key-value`, `sqlite`, `variables`),
//! exporting `wasi:http/incoming-handler` as the `fermyon:spin/http-trigger`
//! world does.
//!
//! All answered `200 text/plain` (the last path segment picks the capability):
//! - `/kv?store=S&key=K&value=V` → sets `K` to `V` in store `S`, reads it back →
//!   `some:V`
//! - `/kv?store=S&key=K` → reads `K` → `some:V` or `none`
//! - `/sqlite?db=D&n=N` → `SELECT ? + 1` with the integer `N` → the result
//! - `/var?name=N` → component variable `N`'s value
//!
//! An interface error answers `error: <variant>` (e.g. `access-denied`,
//! `undefined`); anything else gets `400`.

use test_programs::http::respond_text;
use test_programs::query_param;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:spin-raw2;
            world guest {
                import fermyon:spin/key-value@2.0.0;
                import fermyon:spin/sqlite@2.0.0;
                import fermyon:spin/variables@2.0.0;
            }
        ",
        path: "../../wit/deps/fermyon-spin@2.0.0",
        generate_all,
    });
}

use bindings::fermyon::spin::{key_value, sqlite, variables};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let param = |name: &str| query_param(&path, name);
        // The last path segment picks the capability, wherever the app mounts it.
        let route = path.split('?').next().unwrap_or_default();
        let last = route.rsplit('/').next().unwrap_or_default();
        let answer = match (last, param("store"), param("db"), param("name")) {
            ("kv", Some(store), _, _) => match param("key") {
                Some(key) => kv(&store, &key, param("value")),
                None => return respond_text(out, 400, "missing key\n"),
            },
            ("sqlite", _, Some(db), _) => match param("n").and_then(|n| n.parse().ok()) {
                Some(n) => sql(&db, n),
                None => return respond_text(out, 400, "missing n\n"),
            },
            ("var", _, _, Some(name)) => match variables::get(&name) {
                Ok(value) => value,
                Err(e) => format!("error: {}", vars_error(&e)),
            },
            _ => return respond_text(out, 400, "unknown request\n"),
        };
        respond_text(out, 200, &answer);
    }
}

fn kv(store: &str, key: &str, value: Option<String>) -> String {
    let run = || -> Result<String, key_value::Error> {
        let store = key_value::Store::open(store)?;
        if let Some(value) = value {
            store.set(key, value.as_bytes())?;
        }
        Ok(match store.get(key)? {
            Some(bytes) => format!("some:{}", String::from_utf8_lossy(&bytes)),
            None => "none".to_string(),
        })
    };
    run().unwrap_or_else(|e| {
        format!(
            "error: {}",
            match e {
                key_value::Error::StoreTableFull => "store-table-full".to_string(),
                key_value::Error::NoSuchStore => "no-such-store".to_string(),
                key_value::Error::AccessDenied => "access-denied".to_string(),
                key_value::Error::Other(m) => format!("other: {m}"),
            }
        )
    })
}

fn sql(db: &str, n: i64) -> String {
    let run = || -> Result<String, sqlite::Error> {
        let conn = sqlite::Connection::open(db)?;
        let result = conn.execute("SELECT ? + 1 AS next", &[sqlite::Value::Integer(n)])?;
        let cell = result.rows.first().and_then(|r| r.values.first());
        Ok(match (result.columns.first(), cell) {
            (Some(column), Some(sqlite::Value::Integer(v))) => format!("{column}={v}"),
            other => format!("unexpected {other:?}"),
        })
    };
    run().unwrap_or_else(|e| {
        format!(
            "error: {}",
            match e {
                sqlite::Error::NoSuchDatabase => "no-such-database".to_string(),
                sqlite::Error::AccessDenied => "access-denied".to_string(),
                sqlite::Error::InvalidConnection => "invalid-connection".to_string(),
                sqlite::Error::DatabaseFull => "database-full".to_string(),
                sqlite::Error::Io(m) => format!("io: {m}"),
            }
        )
    })
}

fn vars_error(e: &variables::Error) -> String {
    match e {
        variables::Error::InvalidName(m) => format!("invalid-name: {m}"),
        variables::Error::Undefined(m) => format!("undefined: {m}"),
        variables::Error::Provider(m) => format!("provider: {m}"),
        variables::Error::Other(m) => format!("other: {m}"),
    }
}

fn main() {}
