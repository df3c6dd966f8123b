//! The value and error mappings of Spin's SQLite interface (`V`, `Error`),
//! shared by `sql_sqlite2`, `sql_sqlite3` (spin-sdk) and `sql_sqlite31` (raw
//! bindings of `spin:sqlite@3.1.0`), which name its types alike. Each includes
//! this module (`#[path]`) and it takes those names from the including guest.

use super::*;

pub(crate) fn to_param(value: Value) -> Result<V, String> {
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

pub(crate) fn from_value(value: &V) -> Value {
    match value {
        V::Integer(i) => Value::I64(*i),
        V::Real(f) => Value::F64(*f),
        V::Text(s) => Value::Text(s.clone()),
        V::Blob(b) => Value::Blob(b.clone()),
        V::Null => Value::Null,
    }
}

pub(crate) fn error_text(err: Error) -> String {
    match err {
        Error::NoSuchDatabase => "error: no-such-database".into(),
        Error::AccessDenied => "error: access-denied".into(),
        Error::InvalidConnection => "error: invalid-connection".into(),
        Error::DatabaseFull => "error: database-full".into(),
        Error::Io(message) => format!("error: io: {message}"),
    }
}
