//! `PgConnection` against a real server: every value type, parameter
//! conversion, errors.

use anyhow::Result;
use chrono::{NaiveDate, NaiveTime};
use skiff_outbound_networking::AllowedHosts;
use skiff_postgres::{ColumnType, Error, Interval, PgConnection, Value};

use crate::pg_server::PgServer;

/// Allows exactly `postgres://127.0.0.1:<port>`.
pub fn allow(server: &PgServer) -> AllowedHosts {
    AllowedHosts::parse(
        &[format!("postgres://127.0.0.1:{}", server.port())],
        &|_| None,
    )
    .expect("a valid entry")
}

/// A connection to a fresh database on the shared server.
async fn fresh() -> Result<PgConnection> {
    let server = PgServer::shared()?;
    let url = server.database().await?;
    Ok(PgConnection::connect(&url, &allow(server)).await?)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Every type of the newest interface, each in a column of its own type,
/// in and out through parameters.
#[tokio::test(flavor = "multi_thread")]
async fn every_value_type_round_trips() -> Result<()> {
    let db = fresh().await?;
    let time = NaiveTime::from_hms_micro_opt(13, 14, 15, 123_456).unwrap();
    let cases: Vec<(&str, Value, ColumnType)> = vec![
        ("boolean", Value::Bool(true), ColumnType::Boolean),
        ("\"char\"", Value::Int8(-5), ColumnType::Int8),
        ("smallint", Value::Int16(i16::MIN), ColumnType::Int16),
        ("integer", Value::Int32(i32::MAX), ColumnType::Int32),
        ("bigint", Value::Int64(i64::MIN), ColumnType::Int64),
        ("real", Value::Float32(1.5), ColumnType::Floating32),
        (
            "double precision",
            Value::Float64(-0.1),
            ColumnType::Floating64,
        ),
        (
            "double precision",
            Value::Float64(f64::INFINITY),
            ColumnType::Floating64,
        ),
        ("text", Value::Str("späße ✓ 'q'".into()), ColumnType::Str),
        ("varchar(10)", Value::Str("short".into()), ColumnType::Str),
        ("text", Value::Str(String::new()), ColumnType::Str),
        (
            "bytea",
            Value::Binary((0..=255).collect()),
            ColumnType::Binary,
        ),
        ("bytea", Value::Binary(Vec::new()), ColumnType::Binary),
        ("date", Value::Date(date(2024, 2, 29)), ColumnType::Date),
        ("date", Value::Date(date(-44, 3, 15)), ColumnType::Date),
        ("time", Value::Time(time), ColumnType::Time),
        (
            "timestamp",
            Value::DateTime(date(1999, 12, 31).and_time(time)),
            ColumnType::DateTime,
        ),
        (
            "timestamptz",
            Value::DateTime(date(2030, 1, 1).and_hms_opt(0, 0, 1).unwrap()),
            ColumnType::DateTime,
        ),
        (
            "uuid",
            Value::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            ColumnType::Uuid,
        ),
        (
            "jsonb",
            Value::Jsonb(br#"{"a": [1, true, null]}"#.to_vec()),
            ColumnType::Jsonb,
        ),
        (
            "json",
            Value::Jsonb(br#"{"kept":  "as written"}"#.to_vec()),
            ColumnType::Jsonb,
        ),
        (
            "numeric",
            Value::Decimal("-12345678901234567890.000000000001".into()),
            ColumnType::Decimal,
        ),
        (
            "numeric(10,2)",
            Value::Decimal("3.10".into()),
            ColumnType::Decimal,
        ),
        ("numeric", Value::Decimal("NaN".into()), ColumnType::Decimal),
        (
            "numeric",
            Value::Decimal("-Infinity".into()),
            ColumnType::Decimal,
        ),
        (
            "int4range",
            Value::RangeInt32(Some((1, true)), Some((10, false))),
            ColumnType::RangeInt32,
        ),
        (
            "int4range",
            Value::RangeInt32(None, Some((0, false))),
            ColumnType::RangeInt32,
        ),
        (
            "int8range",
            Value::RangeInt64(Some((i64::MIN, true)), None),
            ColumnType::RangeInt64,
        ),
        (
            "numrange",
            Value::RangeDecimal(Some(("1.5".into(), false)), Some(("2.25".into(), true))),
            ColumnType::RangeDecimal,
        ),
        (
            "integer[]",
            Value::ArrayInt32(vec![Some(1), None, Some(-3)]),
            ColumnType::ArrayInt32,
        ),
        (
            "bigint[]",
            Value::ArrayInt64(vec![]),
            ColumnType::ArrayInt64,
        ),
        (
            "numeric[]",
            Value::ArrayDecimal(vec![Some("0.001".into()), None]),
            ColumnType::ArrayDecimal,
        ),
        (
            "text[]",
            Value::ArrayStr(vec![Some("a,b".into()), None, Some("\"}".into())]),
            ColumnType::ArrayStr,
        ),
        (
            "interval",
            Value::Interval(Interval {
                micros: -1,
                days: 40,
                months: 14,
            }),
            ColumnType::Interval,
        ),
    ];
    for (i, (sql_type, value, column_type)) in cases.iter().enumerate() {
        let table = format!("t{i}");
        db.execute(&format!("CREATE TABLE {table} (v {sql_type})"), &[])
            .await?;
        let inserted = db
            .execute(
                &format!("INSERT INTO {table} VALUES ($1), ($2)"),
                &[value.clone(), Value::Null],
            )
            .await?;
        assert_eq!(inserted, 2);
        let set = db.query(&format!("SELECT v FROM {table}"), &[]).await?;
        assert_eq!(set.columns[0].name, "v");
        assert_eq!(&set.columns[0].column_type, column_type, "{sql_type}");
        assert_eq!(
            set.rows,
            [vec![value.clone()], vec![Value::Null]],
            "{sql_type}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn numeric_is_exact_at_any_precision() -> Result<()> {
    let db = fresh().await?;
    let values = [
        "0",
        "1",
        "-1",
        "10000",
        "9999",
        "100000000",
        "0.0001",
        "0.00001",
        "-0.5",
        "123456789.987654321",
        "1e-20",
        "-7.5E+3",
        "0.000",
        "100.0100",
        "3141592653589793238462643383279502884197169399375105820974944592307816406286",
    ];
    for value in values {
        let set = db
            .query(
                "SELECT $1::numeric, $1::numeric::text",
                &[Value::Decimal(value.into())],
            )
            .await?;
        let [decoded, text] = &set.rows[0][..] else {
            panic!("two columns")
        };
        let Value::Str(text) = text else {
            panic!("{text:?}")
        };
        assert_eq!(decoded, &Value::Decimal(text.clone()), "{value}");
    }
    let err = db
        .query("SELECT $1::numeric", &[Value::Decimal("12abc".into())])
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::BadParameter("parameter $1: `12abc` is not a decimal number".into())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_ranges_read_back_as_empty() -> Result<()> {
    let db = fresh().await?;
    let set = db
        .query("SELECT 'empty'::int4range, 'empty'::numrange", &[])
        .await?;
    let zero = |z| (Some((z, false)), Some((z, false)));
    let (lo, hi) = zero(0);
    assert_eq!(set.rows[0][0], Value::RangeInt32(lo, hi));
    let back = db
        .query("SELECT isempty($1::int4range)", &[set.rows[0][0].clone()])
        .await?;
    assert_eq!(back.rows, [vec![Value::Bool(true)]]);
    assert!(matches!(&set.rows[0][1], Value::RangeDecimal(Some((z, false)), _) if z == "0"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_convert_to_the_inferred_type() -> Result<()> {
    let db = fresh().await?;
    db.execute(
        "CREATE TABLE n (s smallint, i integer, b bigint, f real, d double precision, x numeric, t timestamptz, u uuid, j jsonb)",
        &[],
    )
    .await?;
    db.execute(
        "INSERT INTO n VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            Value::Int64(7),
            Value::Uint(8),
            Value::Int8(9),
            Value::Int32(10),
            Value::Float32(0.5),
            Value::Int64(-11),
            Value::Timestamp(0),
            Value::Str("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11".into()),
            Value::Str("[1, 2]".into()),
        ],
    )
    .await?;
    let set = db.query("SELECT * FROM n", &[]).await?;
    assert_eq!(
        set.rows[0],
        [
            Value::Int16(7),
            Value::Int32(8),
            Value::Int64(9),
            Value::Float32(10.0),
            Value::Float64(0.5),
            Value::Decimal("-11".into()),
            Value::DateTime(date(1970, 1, 1).and_hms_opt(0, 0, 0).unwrap()),
            Value::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            Value::Jsonb(b"[1, 2]".to_vec()),
        ]
    );
    // Timestamps also go into integer columns as seconds.
    let set = db
        .query("SELECT $1::bigint", &[Value::Timestamp(1_700_000_000)])
        .await?;
    assert_eq!(set.rows, [vec![Value::Int64(1_700_000_000)]]);

    let bad = |err: Error| match err {
        Error::BadParameter(message) => message,
        other => panic!("expected bad-parameter, got {other:?}"),
    };
    let err = db
        .execute("INSERT INTO n (s) VALUES ($1)", &[Value::Int64(70_000)])
        .await
        .unwrap_err();
    assert_eq!(
        bad(err),
        "parameter $1: 70000 is out of range for type int2"
    );
    let err = db
        .execute("INSERT INTO n (i) VALUES ($1)", &[Value::Str("12".into())])
        .await
        .unwrap_err();
    assert_eq!(
        bad(err),
        "parameter $1: a str value cannot be used for type int4"
    );
    let err = db
        .execute("INSERT INTO n (i, b) VALUES ($1, $2)", &[Value::Int32(1)])
        .await
        .unwrap_err();
    assert_eq!(
        bad(err),
        "the statement has 2 parameter(s) but 1 were given"
    );
    let err = db
        .execute(
            "INSERT INTO n (u) VALUES ($1)",
            &[Value::Uuid("nope".into())],
        )
        .await
        .unwrap_err();
    assert_eq!(bad(err), "parameter $1: `nope` is not a UUID");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_carry_their_fields() -> Result<()> {
    let db = fresh().await?;
    let err = db.query("SELEC 1", &[]).await.unwrap_err();
    let Error::QueryFailed {
        message,
        db_error: Some(db_error),
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(db_error.code, "42601");
    assert_eq!(db_error.severity, "ERROR");
    assert!(message.contains("syntax error"), "{message}");

    db.execute("CREATE TABLE u (id int CONSTRAINT u_pk PRIMARY KEY)", &[])
        .await?;
    db.execute("INSERT INTO u VALUES (1)", &[]).await?;
    let err = db
        .execute("INSERT INTO u VALUES (1)", &[])
        .await
        .unwrap_err();
    let Error::QueryFailed {
        db_error: Some(db_error),
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(db_error.code, "23505");
    assert_eq!(
        db_error.detail.as_deref(),
        Some("Key (id)=(1) already exists.")
    );
    assert!(
        db_error
            .extras
            .contains(&("constraint".into(), "u_pk".into()))
    );
    assert!(db_error.extras.contains(&("table".into(), "u".into())));
    // The connection is still usable.
    assert_eq!(db.execute("DELETE FROM u", &[]).await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn types_no_interface_has_are_unsupported_with_their_bytes() -> Result<()> {
    let db = fresh().await?;
    let set = db
        .query(
            "SELECT '10.0.0.1'::inet AS addr, ARRAY[true]::bool[] AS flags",
            &[],
        )
        .await?;
    assert_eq!(set.columns[0].column_type, ColumnType::Other("inet".into()));
    assert_eq!(
        set.columns[1].column_type,
        ColumnType::Other("_bool".into())
    );
    assert!(matches!(&set.rows[0][0], Value::Unsupported(raw) if !raw.is_empty()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_addresses_work_too() -> Result<()> {
    let server = PgServer::shared()?;
    let url = server.database().await?;
    let db = url.rsplit('/').next().unwrap();
    let address = format!(
        "host=127.0.0.1 port={} user=postgres dbname={db}",
        server.port()
    );
    let conn = PgConnection::connect(&address, &allow(server)).await?;
    let set = conn.query("SELECT current_database()", &[]).await?;
    assert_eq!(set.rows, [vec![Value::Str(db.to_string())]]);
    assert_eq!(conn.peer(), server.address());
    Ok(())
}
