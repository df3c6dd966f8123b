//! The values, column types and row sets every interface generation maps
//! onto: a superset of what `fermyon:spin/postgres@2.0.0`,
//! `spin:postgres/postgres@3.0.0` and `@4.x` can carry.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// One side of a range: the value and whether it is inclusive; `None` is
/// unbounded.
pub type Bound<T> = Option<(T, bool)>;

/// An `interval`: months, days and microseconds, kept apart as PostgreSQL
/// does (a month is not a fixed number of days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Microseconds.
    pub micros: i64,
    /// Days.
    pub days: i32,
    /// Months.
    pub months: i32,
}

/// A parameter or result value.
///
/// Parameters are converted to the type PostgreSQL infers for them, results
/// are read by column type ([`ColumnType`]); see the crate docs for the
/// rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// `boolean`.
    Bool(bool),
    /// `"char"` (the one-byte type).
    Int8(i8),
    /// `smallint`.
    Int16(i16),
    /// `integer`.
    Int32(i32),
    /// `bigint`.
    Int64(i64),
    /// An unsigned parameter (`fermyon:spin/postgres@2.0.0` only); stored in
    /// any integer column it fits.
    Uint(u64),
    /// `real`.
    Float32(f32),
    /// `double precision`.
    Float64(f64),
    /// `text`, `varchar`, `char(n)`, `name`.
    Str(String),
    /// `bytea`.
    Binary(Vec<u8>),
    /// `date`.
    Date(NaiveDate),
    /// `time`.
    Time(NaiveTime),
    /// `timestamp`, and `timestamptz` in UTC.
    DateTime(NaiveDateTime),
    /// Seconds since the Unix epoch (a parameter for `timestamp`,
    /// `timestamptz` or integer columns).
    Timestamp(i64),
    /// `uuid`, hyphenated lower-case text.
    Uuid(String),
    /// `jsonb` and `json`: the JSON text.
    Jsonb(Vec<u8>),
    /// `numeric`, as exact decimal text (`NaN`, `Infinity`, `-Infinity` too).
    Decimal(String),
    /// `int4range`.
    RangeInt32(Bound<i32>, Bound<i32>),
    /// `int8range`.
    RangeInt64(Bound<i64>, Bound<i64>),
    /// `numrange`.
    RangeDecimal(Bound<String>, Bound<String>),
    /// `integer[]` (one dimension).
    ArrayInt32(Vec<Option<i32>>),
    /// `bigint[]`.
    ArrayInt64(Vec<Option<i64>>),
    /// `numeric[]`.
    ArrayDecimal(Vec<Option<String>>),
    /// `text[]`, `varchar[]`.
    ArrayStr(Vec<Option<String>>),
    /// `interval`.
    Interval(Interval),
    /// A value of a type no interface has: its binary wire form.
    Unsupported(Vec<u8>),
}

impl Value {
    /// The value's kind in messages, e.g. `int64`.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int8(_) => "int8",
            Value::Int16(_) => "int16",
            Value::Int32(_) => "int32",
            Value::Int64(_) => "int64",
            Value::Uint(_) => "unsigned integer",
            Value::Float32(_) => "floating32",
            Value::Float64(_) => "floating64",
            Value::Str(_) => "str",
            Value::Binary(_) => "binary",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::DateTime(_) => "datetime",
            Value::Timestamp(_) => "timestamp",
            Value::Uuid(_) => "uuid",
            Value::Jsonb(_) => "jsonb",
            Value::Decimal(_) => "decimal",
            Value::RangeInt32(..) => "range-int32",
            Value::RangeInt64(..) => "range-int64",
            Value::RangeDecimal(..) => "range-decimal",
            Value::ArrayInt32(_) => "array-int32",
            Value::ArrayInt64(_) => "array-int64",
            Value::ArrayDecimal(_) => "array-decimal",
            Value::ArrayStr(_) => "array-str",
            Value::Interval(_) => "interval",
            Value::Unsupported(_) => "unsupported",
        }
    }
}

/// What a result column holds, as the interfaces name it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnType {
    /// `boolean`.
    Boolean,
    /// `"char"`.
    Int8,
    /// `smallint`.
    Int16,
    /// `integer`.
    Int32,
    /// `bigint`.
    Int64,
    /// `real`.
    Floating32,
    /// `double precision`.
    Floating64,
    /// `text`, `varchar`, `char(n)`, `name`.
    Str,
    /// `bytea`.
    Binary,
    /// `date`.
    Date,
    /// `time`.
    Time,
    /// `timestamp`, `timestamptz`.
    DateTime,
    /// `uuid`.
    Uuid,
    /// `jsonb`, `json`.
    Jsonb,
    /// `numeric`.
    Decimal,
    /// `int4range`.
    RangeInt32,
    /// `int8range`.
    RangeInt64,
    /// `numrange`.
    RangeDecimal,
    /// `integer[]`.
    ArrayInt32,
    /// `bigint[]`.
    ArrayInt64,
    /// `numeric[]`.
    ArrayDecimal,
    /// `text[]`, `varchar[]`.
    ArrayStr,
    /// `interval`.
    Interval,
    /// Any other type, by its PostgreSQL name (values are
    /// [`Value::Unsupported`]).
    Other(String),
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// What it holds.
    pub column_type: ColumnType,
}

/// The result of a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowSet {
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// The rows, one value per column.
    pub rows: Vec<Vec<Value>>,
}
