//! Values between the interface's `rdbms-types` and MySQL's.

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::{Column, Value};

use crate::bindings::spin2::fermyon::spin::rdbms_types as types;
use crate::error::{Error, Result};

/// MySQL's character-set number of binary strings (`BINARY`, `VARBINARY`,
/// `BLOB`s).
const BINARY_CHARSET: u16 = 63;

/// A parameter as the value sent to the server.
pub(crate) fn to_mysql(value: types::ParameterValue) -> Value {
    use types::ParameterValue as P;
    match value {
        P::Boolean(b) => Value::Int(b.into()),
        P::Int8(i) => Value::Int(i.into()),
        P::Int16(i) => Value::Int(i.into()),
        P::Int32(i) => Value::Int(i.into()),
        P::Int64(i) => Value::Int(i),
        P::Uint8(i) => Value::UInt(i.into()),
        P::Uint16(i) => Value::UInt(i.into()),
        P::Uint32(i) => Value::UInt(i.into()),
        P::Uint64(i) => Value::UInt(i),
        P::Floating32(f) => Value::Float(f),
        P::Floating64(f) => Value::Double(f),
        P::Str(s) => Value::Bytes(s.into_bytes()),
        P::Binary(b) => Value::Bytes(b),
        P::DbNull => Value::NULL,
    }
}

/// How values of `column` are read.
pub(crate) fn data_type(column: &Column) -> types::DbDataType {
    use types::DbDataType as T;
    let unsigned = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = column.character_set() == BINARY_CHARSET;
    match column.column_type() {
        ColumnType::MYSQL_TYPE_TINY if unsigned => T::Uint8,
        ColumnType::MYSQL_TYPE_TINY => T::Int8,
        ColumnType::MYSQL_TYPE_SHORT | ColumnType::MYSQL_TYPE_YEAR if unsigned => T::Uint16,
        ColumnType::MYSQL_TYPE_SHORT | ColumnType::MYSQL_TYPE_YEAR => T::Int16,
        ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG if unsigned => T::Uint32,
        ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG => T::Int32,
        ColumnType::MYSQL_TYPE_LONGLONG if unsigned => T::Uint64,
        ColumnType::MYSQL_TYPE_LONGLONG => T::Int64,
        ColumnType::MYSQL_TYPE_FLOAT => T::Floating32,
        ColumnType::MYSQL_TYPE_DOUBLE => T::Floating64,
        ColumnType::MYSQL_TYPE_BIT if column.column_length() == 1 => T::Boolean,
        ColumnType::MYSQL_TYPE_BIT | ColumnType::MYSQL_TYPE_GEOMETRY => T::Binary,
        ColumnType::MYSQL_TYPE_DECIMAL
        | ColumnType::MYSQL_TYPE_NEWDECIMAL
        | ColumnType::MYSQL_TYPE_DATE
        | ColumnType::MYSQL_TYPE_NEWDATE
        | ColumnType::MYSQL_TYPE_TIME
        | ColumnType::MYSQL_TYPE_TIME2
        | ColumnType::MYSQL_TYPE_DATETIME
        | ColumnType::MYSQL_TYPE_DATETIME2
        | ColumnType::MYSQL_TYPE_TIMESTAMP
        | ColumnType::MYSQL_TYPE_TIMESTAMP2
        | ColumnType::MYSQL_TYPE_JSON
        | ColumnType::MYSQL_TYPE_ENUM
        | ColumnType::MYSQL_TYPE_SET => T::Str,
        ColumnType::MYSQL_TYPE_VARCHAR
        | ColumnType::MYSQL_TYPE_VAR_STRING
        | ColumnType::MYSQL_TYPE_STRING
        | ColumnType::MYSQL_TYPE_TINY_BLOB
        | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
        | ColumnType::MYSQL_TYPE_LONG_BLOB
        | ColumnType::MYSQL_TYPE_BLOB
            if binary =>
        {
            T::Binary
        }
        ColumnType::MYSQL_TYPE_VARCHAR
        | ColumnType::MYSQL_TYPE_VAR_STRING
        | ColumnType::MYSQL_TYPE_STRING
        | ColumnType::MYSQL_TYPE_TINY_BLOB
        | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
        | ColumnType::MYSQL_TYPE_LONG_BLOB
        | ColumnType::MYSQL_TYPE_BLOB => T::Str,
        _ => T::Other,
    }
}

/// A value of `column` (read as `ty`, its [`data_type`]) for the guest. The
/// server sends text for statements without parameters and typed values for
/// prepared ones; both read the same.
pub(crate) fn from_mysql(
    value: Value,
    column: &Column,
    ty: types::DbDataType,
) -> Result<types::DbValue> {
    use types::DbDataType as T;
    use types::DbValue as D;
    if value == Value::NULL {
        return Ok(D::DbNull);
    }
    let name = column.name_str();
    let fail = |what: &str| {
        Error::ValueConversionFailed(format!(
            "column `{name}` ({:?}): {what}",
            column.column_type()
        ))
    };
    Ok(match ty {
        T::Boolean => match value {
            Value::Bytes(b) => D::Boolean(b.iter().any(|byte| *byte != 0)),
            Value::Int(i) => D::Boolean(i != 0),
            Value::UInt(u) => D::Boolean(u != 0),
            _ => return Err(fail("not a bit")),
        },
        T::Int8 => D::Int8(
            signed(value)
                .and_then(|i| i8::try_from(i).ok())
                .ok_or_else(|| fail("not an 8-bit integer"))?,
        ),
        T::Int16 => D::Int16(
            signed(value)
                .and_then(|i| i16::try_from(i).ok())
                .ok_or_else(|| fail("not a 16-bit integer"))?,
        ),
        T::Int32 => D::Int32(
            signed(value)
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| fail("not a 32-bit integer"))?,
        ),
        T::Int64 => D::Int64(signed(value).ok_or_else(|| fail("not a 64-bit integer"))?),
        T::Uint8 => D::Uint8(
            unsigned(value)
                .and_then(|i| u8::try_from(i).ok())
                .ok_or_else(|| fail("not an unsigned 8-bit integer"))?,
        ),
        T::Uint16 => D::Uint16(
            unsigned(value)
                .and_then(|i| u16::try_from(i).ok())
                .ok_or_else(|| fail("not an unsigned 16-bit integer"))?,
        ),
        T::Uint32 => D::Uint32(
            unsigned(value)
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| fail("not an unsigned 32-bit integer"))?,
        ),
        T::Uint64 => {
            D::Uint64(unsigned(value).ok_or_else(|| fail("not an unsigned 64-bit integer"))?)
        }
        T::Floating32 => match value {
            Value::Float(f) => D::Floating32(f),
            Value::Double(f) => D::Floating32(f as f32),
            Value::Bytes(b) => D::Floating32(parse(&b).ok_or_else(|| fail("not a float"))?),
            _ => return Err(fail("not a float")),
        },
        T::Floating64 => match value {
            Value::Float(f) => D::Floating64(f.into()),
            Value::Double(f) => D::Floating64(f),
            Value::Bytes(b) => D::Floating64(parse(&b).ok_or_else(|| fail("not a double"))?),
            _ => return Err(fail("not a double")),
        },
        T::Binary => match value {
            Value::Bytes(b) => D::Binary(b),
            _ => return Err(fail("not bytes")),
        },
        T::Str => match value {
            Value::Bytes(b) => {
                D::Str(String::from_utf8(b).map_err(|_| fail("the text is not valid UTF-8"))?)
            }
            Value::Date(y, mo, d, h, mi, s, us) => {
                D::Str(date_text(column, (y, mo, d, h, mi, s, us)))
            }
            Value::Time(negative, days, h, mi, s, us) => {
                D::Str(time_text(column, negative, days, h, mi, s, us))
            }
            Value::Int(i) => D::Str(i.to_string()),
            Value::UInt(u) => D::Str(u.to_string()),
            Value::Float(f) => D::Str(f.to_string()),
            Value::Double(f) => D::Str(f.to_string()),
            Value::NULL => D::DbNull,
        },
        T::Other => D::Unsupported,
    })
}

/// A signed integer, typed or as text.
fn signed(value: Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(i),
        Value::UInt(u) => i64::try_from(u).ok(),
        Value::Bytes(b) => parse(&b),
        _ => None,
    }
}

/// An unsigned integer, typed or as text.
fn unsigned(value: Value) -> Option<u64> {
    match value {
        Value::UInt(u) => Some(u),
        Value::Int(i) => u64::try_from(i).ok(),
        Value::Bytes(b) => parse(&b),
        _ => None,
    }
}

fn parse<T: std::str::FromStr>(text: &[u8]) -> Option<T> {
    std::str::from_utf8(text).ok()?.trim().parse().ok()
}

/// The fraction of a second as MySQL prints it for `column`: as many digits
/// as the column's precision (none for precision 0).
fn fraction(column: &Column, micros: u32) -> String {
    let digits = usize::from(column.decimals().min(6));
    if digits == 0 {
        return String::new();
    }
    let text = format!("{micros:06}");
    format!(".{}", &text[..digits])
}

/// A typed date or date and time as MySQL prints it.
fn date_text(column: &Column, (y, mo, d, h, mi, s, us): (u16, u8, u8, u8, u8, u8, u32)) -> String {
    match column.column_type() {
        ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE => {
            format!("{y:04}-{mo:02}-{d:02}")
        }
        _ => format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
            fraction(column, us)
        ),
    }
}

/// A typed `TIME` as MySQL prints it (`-838:59:59` … `838:59:59`).
fn time_text(column: &Column, negative: bool, days: u32, h: u8, mi: u8, s: u8, us: u32) -> String {
    let hours = days * 24 + u32::from(h);
    let sign = if negative { "-" } else { "" };
    format!("{sign}{hours:02}:{mi:02}:{s:02}{}", fraction(column, us))
}
