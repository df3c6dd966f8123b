//! PostgreSQL's binary wire forms of the types `postgres-types` leaves to
//! others: `numeric` (as exact decimal text, any precision), ranges,
//! `interval`, `uuid`, `json`/`jsonb`, and raw bytes of anything else.

use std::error::Error as StdError;
use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::value::{Bound, Interval};

/// The error type of `FromSql`/`ToSql`.
pub(crate) type BoxError = Box<dyn StdError + Sync + Send>;

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

/// A `numeric` as decimal text: exact, at any precision and scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Numeric(pub String);

/// Reads big-endian integers off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BoxError> {
        if self.0.len() < n {
            return Err("truncated value".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16, BoxError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into()?))
    }
    fn u16(&mut self) -> Result<u16, BoxError> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into()?))
    }
    fn i32(&mut self) -> Result<i32, BoxError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into()?))
    }
    fn i64(&mut self) -> Result<i64, BoxError> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into()?))
    }
}

/// Decodes the binary `numeric` form to decimal text.
pub(crate) fn numeric_to_text(raw: &[u8]) -> Result<String, BoxError> {
    let mut r = Reader(raw);
    let ndigits = usize::try_from(r.i16()?).map_err(|_| "negative digit count")?;
    let weight = i32::from(r.i16()?);
    let sign = r.u16()?;
    let dscale = usize::from(r.u16()?);
    let digits = (0..ndigits)
        .map(|_| r.i16())
        .collect::<Result<Vec<_>, _>>()?;
    match sign {
        NUMERIC_NAN => return Ok("NaN".into()),
        NUMERIC_PINF => return Ok("Infinity".into()),
        NUMERIC_NINF => return Ok("-Infinity".into()),
        NUMERIC_POS | NUMERIC_NEG => {}
        other => return Err(format!("invalid numeric sign 0x{other:04x}").into()),
    }
    // Digit `i` is worth 10000^(weight - i).
    let digit = |i: i32| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == NUMERIC_NEG && !digits.iter().all(|d| *d == 0) {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            let _ = match i {
                0 => write!(text, "{}", digit(i)),
                _ => write!(text, "{:04}", digit(i)),
            };
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit(i));
            i += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

/// Encodes decimal text (`-12.50`, `1e-3`, `NaN`, `Infinity`) in the binary
/// `numeric` form.
pub(crate) fn text_to_numeric(text: &str, out: &mut BytesMut) -> Result<(), String> {
    let bad = || format!("`{text}` is not a decimal number");
    let t = text.trim();
    let special = match t.to_ascii_lowercase().as_str() {
        "nan" => Some(NUMERIC_NAN),
        "infinity" | "+infinity" | "inf" | "+inf" => Some(NUMERIC_PINF),
        "-infinity" | "-inf" => Some(NUMERIC_NINF),
        _ => None,
    };
    if let Some(sign) = special {
        put_numeric(out, 0, sign, 0, &[]);
        return Ok(());
    }
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(at) => (&t[..at], t[at + 1..].parse::<i64>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return Err(bad());
    }
    // Shift the decimal point by the exponent.
    let digits = format!("{int}{frac}");
    let point = i64::try_from(int.len()).map_err(|_| bad())? + exponent;
    let len = i64::try_from(digits.len()).map_err(|_| bad())?;
    let zeros = |n: i64| "0".repeat(usize::try_from(n).unwrap_or(0));
    let (int, frac) = if point <= 0 {
        (String::new(), format!("{}{digits}", zeros(-point)))
    } else if point >= len {
        (format!("{digits}{}", zeros(point - len)), String::new())
    } else {
        let at = usize::try_from(point).map_err(|_| bad())?;
        (digits[..at].to_string(), digits[at..].to_string())
    };
    let dscale = u16::try_from(frac.len())
        .ok()
        .filter(|s| *s <= 0x3FFF)
        .ok_or_else(|| format!("`{text}` has too many decimal places"))?;
    let int = int.trim_start_matches('0');
    let int = format!("{}{int}", "0".repeat((4 - int.len() % 4) % 4));
    let frac = format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4));
    let group = |s: &str| s.parse::<i16>().expect("four decimal digits");
    let mut groups: Vec<i16> = int
        .as_bytes()
        .chunks(4)
        .chain(frac.as_bytes().chunks(4))
        .map(|c| group(std::str::from_utf8(c).expect("ASCII digits")))
        .collect();
    let mut weight = i32::try_from(int.len() / 4).map_err(|_| bad())? - 1;
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= i32::try_from(leading).map_err(|_| bad())?;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let weight = i16::try_from(weight).map_err(|_| format!("`{text}` is out of range"))?;
    let sign = if negative && !groups.is_empty() {
        NUMERIC_NEG
    } else {
        NUMERIC_POS
    };
    if groups.len() > i16::MAX as usize {
        return Err(format!("`{text}` has too many digits"));
    }
    put_numeric(out, weight, sign, dscale, &groups);
    Ok(())
}

fn put_numeric(out: &mut BytesMut, weight: i16, sign: u16, dscale: u16, groups: &[i16]) {
    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(sign);
    out.put_u16(dscale);
    for g in groups {
        out.put_i16(*g);
    }
}

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        numeric_to_text(raw).map(Numeric)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        text_to_numeric(&self.0, out)?;
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
    to_sql_checked!();
}

const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;

/// A decoded range; `None` for the empty range.
pub(crate) type Range<T> = Option<(Bound<T>, Bound<T>)>;

/// Decodes a range whose elements `element` decodes.
pub(crate) fn read_range<'a, T>(
    raw: &'a [u8],
    element: impl Fn(&'a [u8]) -> Result<T, BoxError>,
) -> Result<Range<T>, BoxError> {
    let mut r = Reader(raw);
    let flags = r.take(1)?[0];
    if flags & RANGE_EMPTY != 0 {
        return Ok(None);
    }
    let mut side = |inf: u8, inc: u8| -> Result<Bound<T>, BoxError> {
        if flags & inf != 0 {
            return Ok(None);
        }
        let len = usize::try_from(r.i32()?).map_err(|_| "null range bound")?;
        Ok(Some((element(r.take(len)?)?, flags & inc != 0)))
    };
    let lower = side(RANGE_LB_INF, RANGE_LB_INC)?;
    let upper = side(RANGE_UB_INF, RANGE_UB_INC)?;
    Ok(Some((lower, upper)))
}

/// Encodes a range whose elements `element` encodes.
pub(crate) fn write_range<T>(
    lower: &Bound<T>,
    upper: &Bound<T>,
    out: &mut BytesMut,
    element: impl Fn(&T, &mut BytesMut) -> Result<(), String>,
) -> Result<(), String> {
    let mut flags = 0;
    match lower {
        None => flags |= RANGE_LB_INF,
        Some((_, true)) => flags |= RANGE_LB_INC,
        Some((_, false)) => {}
    }
    match upper {
        None => flags |= RANGE_UB_INF,
        Some((_, true)) => flags |= RANGE_UB_INC,
        Some((_, false)) => {}
    }
    out.put_u8(flags);
    for (value, _) in [lower, upper].into_iter().flatten() {
        let mut bytes = BytesMut::new();
        element(value, &mut bytes)?;
        out.put_i32(i32::try_from(bytes.len()).map_err(|_| "range bound too large")?);
        out.put_slice(&bytes);
    }
    Ok(())
}

/// The element type of a range type.
pub(crate) fn range_element(ty: &Type) -> Option<&Type> {
    match ty.kind() {
        Kind::Range(element) => Some(element),
        _ => None,
    }
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let mut r = Reader(raw);
        Ok(Interval {
            micros: r.i64()?,
            days: r.i32()?,
            months: r.i32()?,
        })
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// Writes an `interval`.
pub(crate) fn write_interval(interval: &Interval, out: &mut BytesMut) {
    out.put_i64(interval.micros);
    out.put_i32(interval.days);
    out.put_i32(interval.months);
}

/// A `uuid` as hyphenated lower-case text.
pub(crate) struct Uuid(pub String);

impl<'a> FromSql<'a> for Uuid {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err("a uuid is 16 bytes".into());
        }
        let mut text = String::with_capacity(36);
        for (i, b) in raw.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                text.push('-');
            }
            let _ = write!(text, "{b:02x}");
        }
        Ok(Uuid(text))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
}

/// Parses a UUID written as 32 hex digits, hyphens anywhere, optionally in
/// braces.
pub(crate) fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    let bad = || format!("`{text}` is not a UUID");
    let t = text.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(t);
    let hex: Vec<u8> = t.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return Err(bad());
    }
    let mut bytes = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        bytes[i] = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(bytes)
}

/// `json` or `jsonb` as JSON text.
pub(crate) struct Json(pub Vec<u8>);

impl<'a> FromSql<'a> for Json {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        if *ty == Type::JSONB {
            match raw.split_first() {
                Some((1, text)) => Ok(Json(text.to_vec())),
                _ => Err("unsupported jsonb version".into()),
            }
        } else {
            Ok(Json(raw.to_vec()))
        }
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }
}

/// The raw wire bytes of a value of any type.
pub(crate) struct Raw(pub Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}
