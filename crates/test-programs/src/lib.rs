//! Helpers shared by Skiff's test guests.
//!
//! Every guest is a bin in `src/bin/<suite>_<name>.rs`; this library holds the
//! small pieces several of them need: a hand-written JSON string writer,
//! query-string parsing, the `error: {kind:?}: {err}` format used to report
//! I/O errors, and the busy-loop / memory-hog bodies used by the limit tests.
//! The [`http`] module (only on `wasm32-wasip2`) wraps the `wasi:http` calls
//! every HTTP guest makes.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub mod http;

/// Appends `s` to `out` as a JSON string literal, quotes included.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `s` as a JSON string, or `null` when it is `None`.
pub fn push_json_opt_string(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_json_string(out, s),
        None => out.push_str("null"),
    }
}

/// The message every guest prints for a failed I/O operation:
/// `error: {kind:?}: {err}`, so host tests can match on the error kind.
pub fn io_error_message(err: &io::Error) -> String {
    format!("error: {:?}: {err}", err.kind())
}

/// The value of query parameter `key` in `path_with_query` (for example
/// `/x?ms=10`), percent-decoded, or `None` when absent.
pub fn query_param(path_with_query: &str, key: &str) -> Option<String> {
    let (_, query) = path_with_query.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

/// Decodes `%XX` escapes and `+` (as a space); invalid escapes are kept as-is.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match hex_pair(bytes[i + 1], bytes[i + 2]) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    Some(digit(hi)? << 4 | digit(lo)?)
}

/// The names of the entries of `dir`, sorted.
pub fn sorted_dir_names(dir: impl AsRef<Path>) -> io::Result<Vec<String>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// Spins forever without doing anything observable; only an epoch deadline,
/// fuel limit or timeout on the host can stop it.
pub fn spin_forever() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates 1 MiB chunks forever, writing to every page of each and keeping
/// them all alive, until the host's memory limit stops the guest.
pub fn exhaust_memory() -> ! {
    const CHUNK: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for byte in chunk.iter_mut().step_by(4096) {
            *byte = 1;
        }
        chunks.push(std::hint::black_box(chunk));
        std::hint::black_box(&chunks);
    }
}

/// Helpers for the `sql_*` guests (SQLite and PostgreSQL, every interface
/// generation): one request format and one JSON answer for all of them, so a
/// host test can run the same suite through each.
///
/// Parameters come as repeated `p=TYPE:VALUE` query parameters, in order
/// (the whole `p` value is percent-decoded once, as usual):
///
/// | `p=` | value |
/// |---|---|
/// | `null` | SQL NULL |
/// | `bool:true` | a boolean |
/// | `i8:-5`, `i16:…`, `i32:…`, `i64:…`, `u8:…` … `u64:…` | integers |
/// | `f32:1.5`, `f64:…` | floats (`NaN`, `inf`, `-inf` too) |
/// | `text:anything` | text: everything after the first `:` |
/// | `blob:00ff` | bytes, in hex |
/// | `date:2024-02-29`, `time:13:14:15[.NNNNNNNNN]`, `datetime:2024-02-29T13:14:15[.NNNNNNNNN]` | date/time |
/// | `timestamp:1700000000` | seconds since the Unix epoch |
/// | `uuid:…`, `jsonb:{"a":1}`, `decimal:12.50` | text forms |
/// | `int4range:[1,5)`, `int8range:(,10]`, `numrange:[1.5,)` | ranges; an empty side is unbounded |
/// | `int4[]:1,~,3`, `int8[]:…`, `numeric[]:…`, `text[]:a,~,b%2Cc` | arrays: `,`-separated, `~` is NULL, each item percent-decoded again |
/// | `interval:MICROS,DAYS,MONTHS` | an interval |
///
/// Cells are written as JSON: NULL `null`, booleans, integers and floats as
/// JSON numbers (floats always with a `.` or exponent; non-finite ones as the
/// strings `"NaN"`, `"inf"`, `"-inf"`), text as strings, and every other type
/// as a one-key object tagged with the parameter type name and holding the
/// same text as the parameter form: `{"blob":"00ff"}`, `{"date":"2024-02-29"}`,
/// `{"int4range":"[1,5)"}`, `{"int4[]":[1,null,3]}`, `{"interval":[1,2,3]}`,
/// `{"timestamp":1700000000}`; a value the interface cannot represent is
/// `{"unsupported":"<hex>"}` (or `{"unsupported":null}`).
pub mod sql {
    use std::fmt::Write as _;

    use super::{percent_decode, push_json_string};

    /// A range bound: the value and whether it is inclusive; `None` is
    /// unbounded.
    pub type Bound<T> = Option<(T, bool)>;

    /// A parameter or cell value, a superset of every SQL interface's.
    #[derive(Debug, Clone, PartialEq)]
    #[allow(missing_docs, reason = "the variants are named after the types")]
    pub enum Value {
        Null,
        Bool(bool),
        I8(i8),
        I16(i16),
        I32(i32),
        I64(i64),
        U8(u8),
        U16(u16),
        U32(u32),
        U64(u64),
        F32(f32),
        F64(f64),
        Text(String),
        Blob(Vec<u8>),
        Date((i32, u8, u8)),
        Time((u8, u8, u8, u32)),
        DateTime((i32, u8, u8, u8, u8, u8, u32)),
        Timestamp(i64),
        Uuid(String),
        Jsonb(Vec<u8>),
        Decimal(String),
        RangeI32(Bound<i32>, Bound<i32>),
        RangeI64(Bound<i64>, Bound<i64>),
        RangeDecimal(Bound<String>, Bound<String>),
        ArrayI32(Vec<Option<i32>>),
        ArrayI64(Vec<Option<i64>>),
        ArrayDecimal(Vec<Option<String>>),
        ArrayStr(Vec<Option<String>>),
        Interval { micros: i64, days: i32, months: i32 },
        Unsupported(Option<Vec<u8>>),
    }

    /// Every value of query parameter `key`, percent-decoded, in order.
    pub fn query_params(path_with_query: &str, key: &str) -> Vec<String> {
        let Some((_, query)) = path_with_query.split_once('?') else {
            return Vec::new();
        };
        query
            .split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k) == key).then(|| percent_decode(v))
            })
            .collect()
    }

    /// The `p=` parameters of a request, parsed.
    pub fn params(path_with_query: &str) -> Result<Vec<Value>, String> {
        query_params(path_with_query, "p")
            .iter()
            .map(|p| parse(p))
            .collect()
    }

    /// The statements of a script body: separated by `;` at the end of a line.
    pub fn statements(body: &str) -> Vec<String> {
        body.split(";\n")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    fn num<T: std::str::FromStr>(text: &str) -> Result<T, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a valid number"))
    }

    /// Parses one `TYPE:VALUE` parameter.
    pub fn parse(param: &str) -> Result<Value, String> {
        if param == "null" {
            return Ok(Value::Null);
        }
        let (ty, v) = param
            .split_once(':')
            .ok_or_else(|| format!("parameter `{param}` is not TYPE:VALUE"))?;
        Ok(match ty {
            "bool" => Value::Bool(num(v)?),
            "i8" => Value::I8(num(v)?),
            "i16" => Value::I16(num(v)?),
            "i32" => Value::I32(num(v)?),
            "i64" => Value::I64(num(v)?),
            "u8" => Value::U8(num(v)?),
            "u16" => Value::U16(num(v)?),
            "u32" => Value::U32(num(v)?),
            "u64" => Value::U64(num(v)?),
            "f32" => Value::F32(num(v)?),
            "f64" => Value::F64(num(v)?),
            "text" => Value::Text(v.to_string()),
            "blob" => Value::Blob(unhex(v)?),
            "date" => Value::Date(parse_date(v)?),
            "time" => Value::Time(parse_time(v)?),
            "datetime" => {
                let (date, time) = v
                    .split_once('T')
                    .ok_or_else(|| format!("`{v}` is not DATE`T`TIME"))?;
                let (y, mo, d) = parse_date(date)?;
                let (h, mi, s, ns) = parse_time(time)?;
                Value::DateTime((y, mo, d, h, mi, s, ns))
            }
            "timestamp" => Value::Timestamp(num(v)?),
            "uuid" => Value::Uuid(v.to_string()),
            "jsonb" => Value::Jsonb(v.as_bytes().to_vec()),
            "decimal" => Value::Decimal(v.to_string()),
            "int4range" => {
                let (lo, hi) = parse_range(v)?;
                Value::RangeI32(bound(lo, num)?, bound(hi, num)?)
            }
            "int8range" => {
                let (lo, hi) = parse_range(v)?;
                Value::RangeI64(bound(lo, num)?, bound(hi, num)?)
            }
            "numrange" => {
                let (lo, hi) = parse_range(v)?;
                let text = |s: &str| Ok::<_, String>(s.to_string());
                Value::RangeDecimal(bound(lo, text)?, bound(hi, text)?)
            }
            "int4[]" => Value::ArrayI32(parse_array(v, num)?),
            "int8[]" => Value::ArrayI64(parse_array(v, num)?),
            "numeric[]" => Value::ArrayDecimal(parse_array(v, |s| Ok(s.to_string()))?),
            "text[]" => Value::ArrayStr(parse_array(v, |s| Ok(s.to_string()))?),
            "interval" => {
                let parts: Vec<&str> = v.split(',').collect();
                let [micros, days, months] = parts[..] else {
                    return Err(format!("`{v}` is not MICROS,DAYS,MONTHS"));
                };
                Value::Interval {
                    micros: num(micros)?,
                    days: num(days)?,
                    months: num(months)?,
                }
            }
            other => return Err(format!("unknown parameter type `{other}`")),
        })
    }

    fn unhex(text: &str) -> Result<Vec<u8>, String> {
        if text.len() % 2 != 0 {
            return Err(format!("`{text}` is not hex"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| format!("`{text}` is not hex"))
            })
            .collect()
    }

    fn parse_date(text: &str) -> Result<(i32, u8, u8), String> {
        let parts: Vec<&str> = text.rsplitn(3, '-').collect();
        let [d, m, y] = parts[..] else {
            return Err(format!("`{text}` is not YYYY-MM-DD"));
        };
        Ok((num(y)?, num(m)?, num(d)?))
    }

    fn parse_time(text: &str) -> Result<(u8, u8, u8, u32), String> {
        let (hms, frac) = text.split_once('.').unwrap_or((text, ""));
        let parts: Vec<&str> = hms.split(':').collect();
        let [h, m, s] = parts[..] else {
            return Err(format!("`{text}` is not HH:MM:SS[.NNNNNNNNN]"));
        };
        let ns = if frac.is_empty() {
            0
        } else {
            num::<u32>(&format!("{frac:0<9}")[..9])?
        };
        Ok((num(h)?, num(m)?, num(s)?, ns))
    }

    /// `[lo,hi)` → the two sides, each `None` when empty, with inclusivity.
    fn parse_range(text: &str) -> Result<(Option<(&str, bool)>, Option<(&str, bool)>), String> {
        let bad = || format!("`{text}` is not a range like [1,5)");
        let lo_inc = match text.chars().next() {
            Some('[') => true,
            Some('(') => false,
            _ => return Err(bad()),
        };
        let hi_inc = match text.chars().last() {
            Some(']') => true,
            Some(')') => false,
            _ => return Err(bad()),
        };
        let inner = text.get(1..text.len() - 1).ok_or_else(bad)?;
        let (lo, hi) = inner.split_once(',').ok_or_else(bad)?;
        Ok((side(lo, lo_inc), side(hi, hi_inc)))
    }

    fn side(text: &str, inclusive: bool) -> Option<(&str, bool)> {
        (!text.is_empty()).then_some((text, inclusive))
    }

    fn bound<T>(
        side: Option<(&str, bool)>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Bound<T>, String> {
        side.map(|(s, inc)| Ok((parse(s)?, inc))).transpose()
    }

    fn parse_array<T>(
        text: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<Option<T>>, String> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        text.split(',')
            .map(|item| match item {
                "~" => Ok(None),
                item => parse(&percent_decode(item)).map(Some),
            })
            .collect()
    }

    fn push_float(out: &mut String, text: String, finite: bool) {
        if finite {
            out.push_str(&text);
        } else {
            push_json_string(out, &text);
        }
    }

    fn push_range<T>(
        out: &mut String,
        tag: &str,
        lo: &Bound<T>,
        hi: &Bound<T>,
        fmt: impl Fn(&T) -> String,
    ) {
        let mut text = String::new();
        match lo {
            Some((v, inc)) => {
                text.push(if *inc { '[' } else { '(' });
                text.push_str(&fmt(v));
            }
            None => text.push('('),
        }
        text.push(',');
        match hi {
            Some((v, inc)) => {
                text.push_str(&fmt(v));
                text.push(if *inc { ']' } else { ')' });
            }
            None => text.push(')'),
        }
        tagged(out, tag, |out| push_json_string(out, &text));
    }

    fn tagged(out: &mut String, tag: &str, inner: impl FnOnce(&mut String)) {
        out.push('{');
        push_json_string(out, tag);
        out.push(':');
        inner(out);
        out.push('}');
    }

    fn push_array<T>(
        out: &mut String,
        tag: &str,
        items: &[Option<T>],
        item: impl Fn(&mut String, &T),
    ) {
        tagged(out, tag, |out| {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match v {
                    Some(v) => item(out, v),
                    None => out.push_str("null"),
                }
            }
            out.push(']');
        });
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    fn date_text((y, m, d): (i32, u8, u8)) -> String {
        format!("{y:04}-{m:02}-{d:02}")
    }

    fn time_text((h, m, s, ns): (u8, u8, u8, u32)) -> String {
        match ns {
            0 => format!("{h:02}:{m:02}:{s:02}"),
            ns => format!("{h:02}:{m:02}:{s:02}.{ns:09}"),
        }
    }

    /// Appends `value` as JSON (see the module docs).
    pub fn push_json(out: &mut String, value: &Value) {
        let mut num = |n: &dyn std::fmt::Display| {
            let _ = write!(out, "{n}");
        };
        match value {
            Value::I8(n) => return num(n),
            Value::I16(n) => return num(n),
            Value::I32(n) => return num(n),
            Value::I64(n) => return num(n),
            Value::U8(n) => return num(n),
            Value::U16(n) => return num(n),
            Value::U32(n) => return num(n),
            Value::U64(n) => return num(n),
            _ => {}
        }
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::F32(f) => push_float(out, format!("{f:?}"), f.is_finite()),
            Value::F64(f) => push_float(out, format!("{f:?}"), f.is_finite()),
            Value::Text(s) => push_json_string(out, s),
            Value::Blob(b) => tagged(out, "blob", |out| push_json_string(out, &hex(b))),
            Value::Date(d) => tagged(out, "date", |out| push_json_string(out, &date_text(*d))),
            Value::Time(t) => tagged(out, "time", |out| push_json_string(out, &time_text(*t))),
            Value::DateTime((y, mo, d, h, mi, s, ns)) => tagged(out, "datetime", |out| {
                let text = format!(
                    "{}T{}",
                    date_text((*y, *mo, *d)),
                    time_text((*h, *mi, *s, *ns))
                );
                push_json_string(out, &text)
            }),
            Value::Timestamp(t) => tagged(out, "timestamp", |out| {
                let _ = write!(out, "{t}");
            }),
            Value::Uuid(u) => tagged(out, "uuid", |out| push_json_string(out, u)),
            Value::Jsonb(j) => tagged(out, "jsonb", |out| {
                push_json_string(out, &String::from_utf8_lossy(j))
            }),
            Value::Decimal(d) => tagged(out, "decimal", |out| push_json_string(out, d)),
            Value::RangeI32(lo, hi) => push_range(out, "int4range", lo, hi, i32::to_string),
            Value::RangeI64(lo, hi) => push_range(out, "int8range", lo, hi, i64::to_string),
            Value::RangeDecimal(lo, hi) => push_range(out, "numrange", lo, hi, String::clone),
            Value::ArrayI32(a) => push_array(out, "int4[]", a, |out, v| {
                let _ = write!(out, "{v}");
            }),
            Value::ArrayI64(a) => push_array(out, "int8[]", a, |out, v| {
                let _ = write!(out, "{v}");
            }),
            Value::ArrayDecimal(a) => {
                push_array(out, "numeric[]", a, |out, v| push_json_string(out, v))
            }
            Value::ArrayStr(a) => push_array(out, "text[]", a, |out, v| push_json_string(out, v)),
            Value::Interval {
                micros,
                days,
                months,
            } => tagged(out, "interval", |out| {
                let _ = write!(out, "[{micros},{days},{months}]");
            }),
            Value::Unsupported(raw) => tagged(out, "unsupported", |out| match raw {
                Some(raw) => push_json_string(out, &hex(raw)),
                None => out.push_str("null"),
            }),
            _ => unreachable!("integers are written above"),
        }
    }

    /// `{"columns":[…],"rows":[[…],…]}`, plus `"types":[…]` when given.
    pub fn rows_json(columns: &[String], types: Option<&[String]>, rows: &[Vec<Value>]) -> String {
        let mut out = String::from("{\"columns\":[");
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_string(&mut out, c);
        }
        out.push(']');
        if let Some(types) = types {
            out.push_str(",\"types\":[");
            for (i, t) in types.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(&mut out, t);
            }
            out.push(']');
        }
        out.push_str(",\"rows\":[");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                push_json(&mut out, v);
            }
            out.push(']');
        }
        out.push_str("]}");
        out
    }
}
