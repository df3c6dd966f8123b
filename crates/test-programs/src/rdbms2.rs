//! Values and errors of Spin 2's `fermyon:spin/rdbms-types`, which
//! `fermyon:spin/postgres@2.0.0` and `fermyon:spin/mysql@2.0.0` share (so
//! spin-sdk 5.2's `pg` and `mysql` modules have the same types): the
//! mappings the `sql_pg2` and `mysql_spin2` guests share. Each includes this
//! module (`#[path]`).

use spin_sdk::pg::{DbDataType as T, DbValue as D, ParameterValue as P, PgError};
use test_programs::sql::Value;

pub(crate) fn to_param(value: Value) -> Result<P, String> {
    Ok(match value {
        Value::Null => P::DbNull,
        Value::Bool(b) => P::Boolean(b),
        Value::I8(i) => P::Int8(i),
        Value::I16(i) => P::Int16(i),
        Value::I32(i) => P::Int32(i),
        Value::I64(i) => P::Int64(i),
        Value::U8(i) => P::Uint8(i),
        Value::U16(i) => P::Uint16(i),
        Value::U32(i) => P::Uint32(i),
        Value::U64(i) => P::Uint64(i),
        Value::F32(f) => P::Floating32(f),
        Value::F64(f) => P::Floating64(f),
        Value::Text(s) => P::Str(s),
        Value::Blob(b) => P::Binary(b),
        other => return Err(format!("{other:?} is not a value of this interface")),
    })
}

pub(crate) fn from_value(value: &D) -> Value {
    match value {
        D::Boolean(b) => Value::Bool(*b),
        D::Int8(i) => Value::I8(*i),
        D::Int16(i) => Value::I16(*i),
        D::Int32(i) => Value::I32(*i),
        D::Int64(i) => Value::I64(*i),
        D::Uint8(i) => Value::U8(*i),
        D::Uint16(i) => Value::U16(*i),
        D::Uint32(i) => Value::U32(*i),
        D::Uint64(i) => Value::U64(*i),
        D::Floating32(f) => Value::F32(*f),
        D::Floating64(f) => Value::F64(*f),
        D::Str(s) => Value::Text(s.clone()),
        D::Binary(b) => Value::Blob(b.clone()),
        D::DbNull => Value::Null,
        D::Unsupported => Value::Unsupported(None),
    }
}

pub(crate) fn type_name(ty: &T) -> String {
    match ty {
        T::Boolean => "boolean",
        T::Int8 => "int8",
        T::Int16 => "int16",
        T::Int32 => "int32",
        T::Int64 => "int64",
        T::Uint8 => "uint8",
        T::Uint16 => "uint16",
        T::Uint32 => "uint32",
        T::Uint64 => "uint64",
        T::Floating32 => "floating32",
        T::Floating64 => "floating64",
        T::Str => "str",
        T::Binary => "binary",
        T::Other => "other",
    }
    .to_string()
}

pub(crate) fn error_text(err: PgError) -> String {
    match err {
        PgError::ConnectionFailed(m) => format!("error: connection-failed: {m}"),
        PgError::BadParameter(m) => format!("error: bad-parameter: {m}"),
        PgError::QueryFailed(m) => format!("error: query-failed: {m}"),
        PgError::ValueConversionFailed(m) => format!("error: value-conversion-failed: {m}"),
        PgError::Other(m) => format!("error: other: {m}"),
    }
}
