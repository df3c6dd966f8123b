//! Results: each column's PostgreSQL type decides its [`ColumnType`] and how
//! its values are read.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};

use crate::error::{Error, Result};
use crate::value::{Bound, Column, ColumnType, RowSet, Value};
use crate::wire::{self, BoxError, Json, Numeric, Raw, Uuid};

/// The interfaces' name for a PostgreSQL type.
pub(crate) fn column_type(ty: &Type) -> ColumnType {
    match *ty {
        Type::BOOL => ColumnType::Boolean,
        Type::CHAR => ColumnType::Int8,
        Type::INT2 => ColumnType::Int16,
        Type::INT4 => ColumnType::Int32,
        Type::INT8 => ColumnType::Int64,
        Type::FLOAT4 => ColumnType::Floating32,
        Type::FLOAT8 => ColumnType::Floating64,
        Type::BYTEA => ColumnType::Binary,
        Type::DATE => ColumnType::Date,
        Type::TIME => ColumnType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => ColumnType::DateTime,
        Type::UUID => ColumnType::Uuid,
        Type::JSON | Type::JSONB => ColumnType::Jsonb,
        Type::NUMERIC => ColumnType::Decimal,
        Type::INT4_RANGE => ColumnType::RangeInt32,
        Type::INT8_RANGE => ColumnType::RangeInt64,
        Type::NUM_RANGE => ColumnType::RangeDecimal,
        Type::INT4_ARRAY => ColumnType::ArrayInt32,
        Type::INT8_ARRAY => ColumnType::ArrayInt64,
        Type::NUMERIC_ARRAY => ColumnType::ArrayDecimal,
        Type::INTERVAL => ColumnType::Interval,
        _ if <String as FromSql>::accepts(ty) => ColumnType::Str,
        _ if <Vec<Option<String>> as FromSql>::accepts(ty) => ColumnType::ArrayStr,
        _ => ColumnType::Other(ty.name().to_string()),
    }
}

/// Reads every row.
pub(crate) fn row_set(columns: &[tokio_postgres::Column], rows: &[Row]) -> Result<RowSet> {
    let types: Vec<ColumnType> = columns.iter().map(|c| column_type(c.type_())).collect();
    let rows = rows
        .iter()
        .map(|row| {
            (0..types.len())
                .map(|i| cell(row, i, &types[i]))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let columns = columns
        .iter()
        .zip(types)
        .map(|(c, column_type)| Column {
            name: c.name().to_string(),
            column_type,
        })
        .collect();
    Ok(RowSet { columns, rows })
}

/// Reads column `i` of `row`.
fn cell(row: &Row, i: usize, ty: &ColumnType) -> Result<Value> {
    let column = &row.columns()[i];
    let get = |err: tokio_postgres::Error| {
        Error::ValueConversionFailed(format!(
            "could not read column `{}` of type {}: {}",
            column.name(),
            column.type_().name(),
            crate::error::error_chain(&err)
        ))
    };
    macro_rules! read {
        ($t:ty, $wrap:expr) => {
            match row.try_get::<_, Option<$t>>(i).map_err(get)? {
                Some(v) => $wrap(v),
                None => Value::Null,
            }
        };
    }
    Ok(match ty {
        ColumnType::Boolean => read!(bool, Value::Bool),
        ColumnType::Int8 => read!(i8, Value::Int8),
        ColumnType::Int16 => read!(i16, Value::Int16),
        ColumnType::Int32 => read!(i32, Value::Int32),
        ColumnType::Int64 => read!(i64, Value::Int64),
        ColumnType::Floating32 => read!(f32, Value::Float32),
        ColumnType::Floating64 => read!(f64, Value::Float64),
        ColumnType::Str => read!(String, Value::Str),
        ColumnType::Binary => read!(Vec<u8>, Value::Binary),
        ColumnType::Date => read!(NaiveDate, Value::Date),
        ColumnType::Time => read!(NaiveTime, Value::Time),
        ColumnType::DateTime if *column.type_() == Type::TIMESTAMPTZ => {
            read!(DateTime<Utc>, |v: DateTime<Utc>| Value::DateTime(
                v.naive_utc()
            ))
        }
        ColumnType::DateTime => read!(NaiveDateTime, Value::DateTime),
        ColumnType::Uuid => read!(Uuid, |v: Uuid| Value::Uuid(v.0)),
        ColumnType::Jsonb => read!(Json, |v: Json| Value::Jsonb(v.0)),
        ColumnType::Decimal => read!(Numeric, |v: Numeric| Value::Decimal(v.0)),
        ColumnType::RangeInt32 => read!(IntRange<i32>, |r: IntRange<i32>| {
            let (lo, hi) = empty_as(r.0, 0);
            Value::RangeInt32(lo, hi)
        }),
        ColumnType::RangeInt64 => read!(IntRange<i64>, |r: IntRange<i64>| {
            let (lo, hi) = empty_as(r.0, 0);
            Value::RangeInt64(lo, hi)
        }),
        ColumnType::RangeDecimal => read!(NumRange, |r: NumRange| {
            let (lo, hi) = empty_as(r.0, "0".to_string());
            Value::RangeDecimal(lo, hi)
        }),
        ColumnType::ArrayInt32 => read!(Vec<Option<i32>>, Value::ArrayInt32),
        ColumnType::ArrayInt64 => read!(Vec<Option<i64>>, Value::ArrayInt64),
        ColumnType::ArrayDecimal => read!(Vec<Option<Numeric>>, |v: Vec<Option<Numeric>>| {
            Value::ArrayDecimal(v.into_iter().map(|n| n.map(|n| n.0)).collect())
        }),
        ColumnType::ArrayStr => read!(Vec<Option<String>>, Value::ArrayStr),
        ColumnType::Interval => read!(crate::value::Interval, Value::Interval),
        ColumnType::Other(_) => read!(Raw, |r: Raw| Value::Unsupported(r.0)),
    })
}

/// The interfaces cannot say "empty": an empty range is written as the
/// equivalent `(zero, zero)` (both bounds exclusive), which PostgreSQL reads
/// back as `empty`.
fn empty_as<T: Clone>(range: wire::Range<T>, zero: T) -> (Bound<T>, Bound<T>) {
    range.unwrap_or_else(|| (Some((zero.clone(), false)), Some((zero, false))))
}

/// An `int4range` or `int8range`.
struct IntRange<T>(wire::Range<T>);

impl<'a, T: FromSql<'a>> FromSql<'a> for IntRange<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        let element = wire::range_element(ty).ok_or("not a range")?.clone();
        wire::read_range(raw, |raw| T::from_sql(&element, raw)).map(IntRange)
    }
    fn accepts(ty: &Type) -> bool {
        wire::range_element(ty).is_some_and(T::accepts)
    }
}

/// A `numrange`.
struct NumRange(wire::Range<String>);

impl<'a> FromSql<'a> for NumRange {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        wire::read_range(raw, wire::numeric_to_text).map(NumRange)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUM_RANGE
    }
}
