//! Parameters: each [`Value`] is encoded for the type PostgreSQL inferred for
//! its placeholder, so guests need not match widths exactly.
//!
//! The rules are in the crate docs (“Values”).

use bytes::BytesMut;
use chrono::{DateTime, NaiveDateTime};
use tokio_postgres::types::{IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::value::{Bound, Value};
use crate::wire::{self, BoxError, Numeric};

/// A parameter already in its wire form.
#[derive(Debug)]
pub(crate) enum Encoded {
    /// SQL `NULL`.
    Null,
    /// The binary form for the placeholder's type.
    Bytes(BytesMut),
}

impl ToSql for Encoded {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Encoded::Null => Ok(IsNull::Yes),
            Encoded::Bytes(bytes) => {
                out.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// Encodes `value` for a placeholder of type `ty`; the error says why not.
pub(crate) fn encode(value: &Value, ty: &Type) -> Result<Encoded, String> {
    let mismatch = || {
        Err(format!(
            "a {} value cannot be used for type {}",
            value.kind(),
            ty.name()
        ))
    };
    match value {
        Value::Null => Ok(Encoded::Null),
        Value::Bool(b) => put(*b, ty).or_else(|_| mismatch()),
        Value::Int8(i) => integer(i128::from(*i), ty).unwrap_or_else(mismatch),
        Value::Int16(i) => integer(i128::from(*i), ty).unwrap_or_else(mismatch),
        Value::Int32(i) => integer(i128::from(*i), ty).unwrap_or_else(mismatch),
        Value::Int64(i) => integer(i128::from(*i), ty).unwrap_or_else(mismatch),
        Value::Uint(i) => integer(i128::from(*i), ty).unwrap_or_else(mismatch),
        Value::Float32(f) => float(f64::from(*f), ty).unwrap_or_else(mismatch),
        Value::Float64(f) => float(*f, ty).unwrap_or_else(mismatch),
        Value::Str(s) => text(s, ty).unwrap_or_else(mismatch),
        Value::Binary(b) => put(b.as_slice(), ty).or_else(|_| mismatch()),
        Value::Date(d) => put(*d, ty).or_else(|_| mismatch()),
        Value::Time(t) => put(*t, ty).or_else(|_| mismatch()),
        Value::DateTime(dt) => datetime(*dt, ty).unwrap_or_else(mismatch),
        Value::Timestamp(secs) => match *ty {
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                let dt = DateTime::from_timestamp(*secs, 0)
                    .ok_or_else(|| format!("timestamp {secs} is out of range"))?;
                datetime(dt.naive_utc(), ty).unwrap_or_else(mismatch)
            }
            _ => integer(i128::from(*secs), ty).unwrap_or_else(mismatch),
        },
        Value::Uuid(u) => match *ty {
            Type::UUID => bytes(wire::parse_uuid(u)?.as_slice()),
            _ if is_text(ty) => put(u.as_str(), ty),
            _ => mismatch(),
        },
        Value::Jsonb(j) if *ty == Type::JSON || *ty == Type::JSONB || is_text(ty) => {
            let text = std::str::from_utf8(j).map_err(|_| "JSON is not UTF-8".to_string())?;
            text_like(text, ty)
        }
        Value::Jsonb(_) => mismatch(),
        Value::Decimal(d) => decimal(d, ty).unwrap_or_else(mismatch),
        Value::RangeInt32(lo, hi) => int_range(&widen(lo), &widen(hi), ty).unwrap_or_else(mismatch),
        Value::RangeInt64(lo, hi) => int_range(lo, hi, ty).unwrap_or_else(mismatch),
        Value::RangeDecimal(lo, hi) => match wire::range_element(ty) {
            Some(&Type::NUMERIC) => range(lo, hi, |d, out| wire::text_to_numeric(d, out)),
            _ => mismatch(),
        },
        Value::ArrayInt32(a) => {
            int_array(a.iter().map(|i| i.map(i64::from)), ty).unwrap_or_else(mismatch)
        }
        Value::ArrayInt64(a) => int_array(a.iter().copied(), ty).unwrap_or_else(mismatch),
        Value::ArrayDecimal(a) => {
            let numbers: Vec<Option<Numeric>> = a.iter().map(|d| d.clone().map(Numeric)).collect();
            put(numbers, ty).or_else(|_| mismatch())
        }
        Value::ArrayStr(a) => put(a.clone(), ty).or_else(|_| mismatch()),
        Value::Interval(i) if *ty == Type::INTERVAL => {
            let mut out = BytesMut::new();
            wire::write_interval(i, &mut out);
            Ok(Encoded::Bytes(out))
        }
        Value::Interval(_) | Value::Unsupported(_) => mismatch(),
    }
}

/// `value` through `postgres-types`, if it accepts `ty`.
fn put<T: ToSql>(value: T, ty: &Type) -> Result<Encoded, String> {
    if !T::accepts(ty) {
        return Err(format!("type {} not accepted", ty.name()));
    }
    let mut out = BytesMut::new();
    match value.to_sql(ty, &mut out).map_err(|err| err.to_string())? {
        IsNull::Yes => Ok(Encoded::Null),
        IsNull::No => Ok(Encoded::Bytes(out)),
    }
}

fn bytes(raw: &[u8]) -> Result<Encoded, String> {
    Ok(Encoded::Bytes(BytesMut::from(raw)))
}

/// Text types, including enums and extension types such as `citext`.
fn is_text(ty: &Type) -> bool {
    <&str as ToSql>::accepts(ty) || matches!(ty.kind(), Kind::Enum(_))
}

/// Text for a text, JSON or enum placeholder.
fn text_like(text: &str, ty: &Type) -> Result<Encoded, String> {
    match *ty {
        Type::JSONB => {
            let mut out = BytesMut::with_capacity(text.len() + 1);
            out.extend_from_slice(&[1]);
            out.extend_from_slice(text.as_bytes());
            Ok(Encoded::Bytes(out))
        }
        _ => bytes(text.as_bytes()),
    }
}

fn out_of_range(n: impl std::fmt::Display, ty: &Type) -> String {
    format!("{n} is out of range for type {}", ty.name())
}

/// `None` when integers do not go into `ty` at all.
fn integer(n: i128, ty: &Type) -> Option<Result<Encoded, String>> {
    let fit = |ok: Option<Encoded>| ok.ok_or_else(|| out_of_range(n, ty));
    Some(match *ty {
        Type::INT2 => fit(i16::try_from(n).ok().and_then(|v| put(v, ty).ok())),
        Type::INT4 => fit(i32::try_from(n).ok().and_then(|v| put(v, ty).ok())),
        Type::INT8 => fit(i64::try_from(n).ok().and_then(|v| put(v, ty).ok())),
        Type::CHAR => fit(i8::try_from(n).ok().and_then(|v| put(v, ty).ok())),
        Type::OID => fit(u32::try_from(n).ok().and_then(|v| put(v, ty).ok())),
        Type::FLOAT4 => put(n as f32, ty),
        Type::FLOAT8 => put(n as f64, ty),
        Type::NUMERIC => put(Numeric(n.to_string()), ty),
        _ => return None,
    })
}

fn float(f: f64, ty: &Type) -> Option<Result<Encoded, String>> {
    Some(match *ty {
        Type::FLOAT4 => put(f as f32, ty),
        Type::FLOAT8 => put(f, ty),
        Type::NUMERIC if f.is_nan() => put(Numeric("NaN".into()), ty),
        Type::NUMERIC if f.is_infinite() => put(Numeric(format!("{f}")), ty),
        Type::NUMERIC => put(Numeric(format!("{f:?}")), ty),
        _ => return None,
    })
}

fn text(s: &str, ty: &Type) -> Option<Result<Encoded, String>> {
    Some(match *ty {
        Type::JSON | Type::JSONB => text_like(s, ty),
        Type::UUID => wire::parse_uuid(s).and_then(|u| bytes(&u)),
        Type::NUMERIC => put(Numeric(s.to_string()), ty),
        _ if is_text(ty) => text_like(s, ty),
        _ => return None,
    })
}

fn decimal(d: &str, ty: &Type) -> Option<Result<Encoded, String>> {
    let not_a = |what: &str| format!("`{d}` is not {what}");
    Some(match *ty {
        Type::NUMERIC => put(Numeric(d.to_string()), ty),
        Type::FLOAT4 | Type::FLOAT8 => match d.trim().parse::<f64>() {
            Ok(f) => float(f, ty)?,
            Err(_) => Err(not_a("a number")),
        },
        Type::INT2 | Type::INT4 | Type::INT8 => match d.trim().parse::<i128>() {
            Ok(n) => integer(n, ty)?,
            Err(_) => Err(not_a("an integer")),
        },
        _ if is_text(ty) => text_like(d, ty),
        _ => return None,
    })
}

fn datetime(dt: NaiveDateTime, ty: &Type) -> Option<Result<Encoded, String>> {
    Some(match *ty {
        Type::TIMESTAMP => put(dt, ty),
        Type::TIMESTAMPTZ => put(dt.and_utc(), ty),
        _ => return None,
    })
}

fn widen(bound: &Bound<i32>) -> Bound<i64> {
    bound.map(|(v, inclusive)| (i64::from(v), inclusive))
}

fn range<T>(
    lower: &Bound<T>,
    upper: &Bound<T>,
    element: impl Fn(&T, &mut BytesMut) -> Result<(), String>,
) -> Result<Encoded, String> {
    let mut out = BytesMut::new();
    wire::write_range(lower, upper, &mut out, element)?;
    Ok(Encoded::Bytes(out))
}

fn int_range(lower: &Bound<i64>, upper: &Bound<i64>, ty: &Type) -> Option<Result<Encoded, String>> {
    let element = wire::range_element(ty)?.clone();
    if !matches!(element, Type::INT2 | Type::INT4 | Type::INT8) {
        return None;
    }
    Some(range(lower, upper, |n, out| {
        match integer(i128::from(*n), &element) {
            Some(Ok(Encoded::Bytes(bytes))) => {
                out.extend_from_slice(&bytes);
                Ok(())
            }
            Some(Err(err)) => Err(err),
            _ => Err(out_of_range(n, &element)),
        }
    }))
}

fn int_array(
    items: impl Iterator<Item = Option<i64>>,
    ty: &Type,
) -> Option<Result<Encoded, String>> {
    let items: Vec<Option<i64>> = items.collect();
    let narrow = |items: Vec<Option<i64>>, element: &Type| -> Result<Vec<Option<i32>>, String> {
        items
            .into_iter()
            .map(|i| {
                i.map(|v| i32::try_from(v).map_err(|_| out_of_range(v, element)))
                    .transpose()
            })
            .collect()
    };
    Some(match *ty {
        Type::INT8_ARRAY => put(items, ty),
        Type::INT4_ARRAY => narrow(items, &Type::INT4).and_then(|v| put(v, ty)),
        Type::INT2_ARRAY => narrow(items, &Type::INT2).and_then(|v| {
            let v: Result<Vec<Option<i16>>, String> = v
                .into_iter()
                .map(|i| {
                    i.map(|v| i16::try_from(v).map_err(|_| out_of_range(v, &Type::INT2)))
                        .transpose()
                })
                .collect();
            v.and_then(|v| put(v, ty))
        }),
        _ => return None,
    })
}
