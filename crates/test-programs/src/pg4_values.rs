//! The value, type and error mappings of `spin:postgres/postgres@4.x` shared by
//! `sql_pg4` (spin-sdk's `pg4`) and `sql_pg42` (raw bindings of `@4.2.0`):
//! both guests name the interface's types alike (`P`, `D`, `T`, `PgError`…),
//! so each includes this module (`#[path]`) and it takes those names from the
//! including guest.

use super::*;

pub(crate) type WitBound<V> = Option<(V, RangeBoundKind)>;

pub(crate) fn to_bound<V>(bound: Bound<V>) -> WitBound<V> {
    bound.map(|(v, inclusive)| {
        let kind = if inclusive {
            RangeBoundKind::Inclusive
        } else {
            RangeBoundKind::Exclusive
        };
        (v, kind)
    })
}

pub(crate) fn from_bound<V: Clone>(bound: &WitBound<V>) -> Bound<V> {
    bound
        .as_ref()
        .map(|(v, kind)| (v.clone(), matches!(kind, RangeBoundKind::Inclusive)))
}

pub(crate) fn to_param(value: Value) -> Result<P, String> {
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

pub(crate) fn from_value(value: &D) -> Value {
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

pub(crate) fn type_name(ty: &T) -> String {
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

pub(crate) fn error_text(err: PgError) -> String {
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
