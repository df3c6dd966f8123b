//! `spin:postgres/postgres@4.2.0` (and, through it, `@4.0.0` and `@4.1.0`).

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use super::{
    BuilderHandle, ConnectionHandle, HostError, Pg, PgView, connect, from_date, from_datetime,
    from_time, to_date, to_datetime, to_time,
};
use crate::bindings::spin4::spin::postgres::postgres as v4;
use crate::client::PgConnection;
use crate::error::Error;
use crate::value::{Bound, ColumnType, Interval, RowSet, Value};

const INTERFACE: &str = "spin:postgres/postgres@4.2.0";

type WitBound<T> = Option<(T, v4::RangeBoundKind)>;

fn to_bound<T>(bound: WitBound<T>) -> Bound<T> {
    bound.map(|(v, kind)| (v, matches!(kind, v4::RangeBoundKind::Inclusive)))
}

fn from_bound<T>(bound: Bound<T>) -> WitBound<T> {
    bound.map(|(v, inclusive)| {
        let kind = if inclusive {
            v4::RangeBoundKind::Inclusive
        } else {
            v4::RangeBoundKind::Exclusive
        };
        (v, kind)
    })
}

fn to_value(value: v4::ParameterValue) -> Result<Value, Error> {
    use v4::ParameterValue as P;
    Ok(match value {
        P::Boolean(b) => Value::Bool(b),
        P::Int8(i) => Value::Int8(i),
        P::Int16(i) => Value::Int16(i),
        P::Int32(i) => Value::Int32(i),
        P::Int64(i) => Value::Int64(i),
        P::Floating32(f) => Value::Float32(f),
        P::Floating64(f) => Value::Float64(f),
        P::Str(s) => Value::Str(s),
        P::Binary(b) => Value::Binary(b),
        P::Date(d) => Value::Date(to_date(d)?),
        P::Time(t) => Value::Time(to_time(t)?),
        P::Datetime(dt) => Value::DateTime(to_datetime(dt)?),
        P::Timestamp(secs) => Value::Timestamp(secs),
        P::Uuid(u) => Value::Uuid(u),
        P::Jsonb(j) => Value::Jsonb(j),
        P::Decimal(d) => Value::Decimal(d),
        P::RangeInt32((lo, hi)) => Value::RangeInt32(to_bound(lo), to_bound(hi)),
        P::RangeInt64((lo, hi)) => Value::RangeInt64(to_bound(lo), to_bound(hi)),
        P::RangeDecimal((lo, hi)) => Value::RangeDecimal(to_bound(lo), to_bound(hi)),
        P::ArrayInt32(a) => Value::ArrayInt32(a),
        P::ArrayInt64(a) => Value::ArrayInt64(a),
        P::ArrayDecimal(a) => Value::ArrayDecimal(a),
        P::ArrayStr(a) => Value::ArrayStr(a),
        P::Interval(i) => Value::Interval(Interval {
            micros: i.micros,
            days: i.days,
            months: i.months,
        }),
        P::DbNull => Value::Null,
    })
}

fn from_value(value: Value) -> v4::DbValue {
    use v4::DbValue as D;
    match value {
        Value::Null => D::DbNull,
        Value::Bool(b) => D::Boolean(b),
        Value::Int8(i) => D::Int8(i),
        Value::Int16(i) => D::Int16(i),
        Value::Int32(i) => D::Int32(i),
        Value::Int64(i) => D::Int64(i),
        Value::Float32(f) => D::Floating32(f),
        Value::Float64(f) => D::Floating64(f),
        Value::Str(s) => D::Str(s),
        Value::Binary(b) => D::Binary(b),
        Value::Date(d) => D::Date(from_date(d)),
        Value::Time(t) => D::Time(from_time(t)),
        Value::DateTime(dt) => D::Datetime(from_datetime(dt)),
        Value::Timestamp(secs) => D::Timestamp(secs),
        Value::Uuid(u) => D::Uuid(u),
        Value::Jsonb(j) => D::Jsonb(j),
        Value::Decimal(d) => D::Decimal(d),
        Value::RangeInt32(lo, hi) => D::RangeInt32((from_bound(lo), from_bound(hi))),
        Value::RangeInt64(lo, hi) => D::RangeInt64((from_bound(lo), from_bound(hi))),
        Value::RangeDecimal(lo, hi) => D::RangeDecimal((from_bound(lo), from_bound(hi))),
        Value::ArrayInt32(a) => D::ArrayInt32(a),
        Value::ArrayInt64(a) => D::ArrayInt64(a),
        Value::ArrayDecimal(a) => D::ArrayDecimal(a),
        Value::ArrayStr(a) => D::ArrayStr(a),
        Value::Interval(i) => D::Interval(v4::Interval {
            micros: i.micros,
            days: i.days,
            months: i.months,
        }),
        Value::Unsupported(raw) => D::Unsupported(raw),
        Value::Uint(_) => D::Unsupported(Vec::new()),
    }
}

fn from_type(ty: ColumnType) -> v4::DbDataType {
    use v4::DbDataType as T;
    match ty {
        ColumnType::Boolean => T::Boolean,
        ColumnType::Int8 => T::Int8,
        ColumnType::Int16 => T::Int16,
        ColumnType::Int32 => T::Int32,
        ColumnType::Int64 => T::Int64,
        ColumnType::Floating32 => T::Floating32,
        ColumnType::Floating64 => T::Floating64,
        ColumnType::Str => T::Str,
        ColumnType::Binary => T::Binary,
        ColumnType::Date => T::Date,
        ColumnType::Time => T::Time,
        ColumnType::DateTime => T::Datetime,
        ColumnType::Uuid => T::Uuid,
        ColumnType::Jsonb => T::Jsonb,
        ColumnType::Decimal => T::Decimal,
        ColumnType::RangeInt32 => T::RangeInt32,
        ColumnType::RangeInt64 => T::RangeInt64,
        ColumnType::RangeDecimal => T::RangeDecimal,
        ColumnType::ArrayInt32 => T::ArrayInt32,
        ColumnType::ArrayInt64 => T::ArrayInt64,
        ColumnType::ArrayDecimal => T::ArrayDecimal,
        ColumnType::ArrayStr => T::ArrayStr,
        ColumnType::Interval => T::Interval,
        ColumnType::Other(name) => T::Other(name),
    }
}

fn columns(set: &mut RowSet) -> Vec<v4::Column> {
    std::mem::take(&mut set.columns)
        .into_iter()
        .map(|c| v4::Column {
            name: c.name,
            data_type: from_type(c.column_type),
        })
        .collect()
}

fn rows(set: RowSet) -> Vec<Vec<v4::DbValue>> {
    set.rows
        .into_iter()
        .map(|row| row.into_iter().map(from_value).collect())
        .collect()
}

fn params(params: Vec<v4::ParameterValue>) -> Result<Vec<Value>, Error> {
    params.into_iter().map(to_value).collect()
}

fn v4_error(err: Error) -> v4::Error {
    match err {
        Error::ConnectionFailed(m) => v4::Error::ConnectionFailed(m),
        Error::BadParameter(m) => v4::Error::BadParameter(m),
        Error::QueryFailed {
            message,
            db_error: Some(db),
        } => v4::Error::QueryFailed(v4::QueryError::DbError(v4::DbError {
            as_text: message,
            severity: db.severity,
            code: db.code,
            message: db.message,
            detail: db.detail,
            extras: db.extras,
        })),
        Error::QueryFailed { message, .. } => v4::Error::QueryFailed(v4::QueryError::Text(message)),
        Error::ValueConversionFailed(m) => v4::Error::ValueConversionFailed(m),
        other => v4::Error::Other(other.to_string()),
    }
}

impl v4::Host for PgView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<v4::Error> {
        Ok(v4_error(err.into_pg()?))
    }
}

impl v4::HostConnectionBuilder for PgView<'_> {
    #[tracing::instrument(name = "skiff_postgres.builder", skip_all, fields(interface = INTERFACE))]
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<BuilderHandle>> {
        Ok(self.table.push(BuilderHandle {
            address,
            ca_root: None,
        })?)
    }

    #[tracing::instrument(name = "skiff_postgres.set_ca_root", skip_all,
        fields(interface = INTERFACE))]
    async fn set_ca_root(
        &mut self,
        builder: Resource<BuilderHandle>,
        certificate: String,
    ) -> Result<(), HostError> {
        self.table.get_mut(&builder)?.ca_root = Some(certificate);
        Ok(())
    }

    #[tracing::instrument(name = "skiff_postgres.open", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn build(
        &mut self,
        builder: Resource<BuilderHandle>,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        let builder = self.table.get(&builder)?;
        let (address, ca_root) = (builder.address.clone(), builder.ca_root.clone());
        PgView::open(self, &address, ca_root.as_deref()).await
    }

    async fn drop(&mut self, builder: Resource<BuilderHandle>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

impl v4::HostConnection for PgView<'_> {
    #[tracing::instrument(name = "skiff_postgres.open", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn open(&mut self, address: String) -> Result<Resource<ConnectionHandle>, HostError> {
        PgView::open(self, &address, None).await
    }

    #[tracing::instrument(name = "skiff_postgres.query", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn query(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> Result<v4::RowSet, HostError> {
        let conn = self.connection(&conn)?;
        let mut set = conn.query(&statement, &self::params(params)?).await?;
        Ok(v4::RowSet {
            columns: columns(&mut set),
            rows: rows(set),
        })
    }

    #[tracing::instrument(name = "skiff_postgres.execute", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> Result<u64, HostError> {
        let conn = self.connection(&conn)?;
        Ok(conn.execute(&statement, &self::params(params)?).await?)
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

/// Opens `address` (with a builder's `ca_root`, if any) from an async
/// function: the store is only reachable inside `with`, never across the
/// connect.
async fn open_async<T>(
    accessor: &Accessor<T, Pg>,
    address: String,
    ca_root: Option<String>,
) -> Result<Resource<ConnectionHandle>, HostError> {
    let (existing, allowed) = accessor.with(|mut access| {
        let view = access.get();
        (view.state.reusable(&address), view.state.allowed.clone())
    });
    let (conn, fresh) = connect(existing, allowed, &address, ca_root.as_deref()).await?;
    accessor.with(|mut access| access.get().push(&address, conn, fresh))
}

fn connection_of<T>(
    accessor: &Accessor<T, Pg>,
    handle: &Resource<ConnectionHandle>,
) -> Result<Arc<PgConnection>, HostError> {
    accessor.with(|mut access| access.get().connection(handle))
}

/// The columns, rows stream and completion future of `query-async`.
type Streamed = (
    Vec<v4::Column>,
    StreamReader<Vec<v4::DbValue>>,
    FutureReader<Result<(), v4::Error>>,
);

impl<T> v4::HostConnectionBuilderWithStore<T> for Pg {
    #[tracing::instrument(name = "skiff_postgres.open", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn build_async(
        accessor: &Accessor<T, Self>,
        builder: Resource<BuilderHandle>,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        let (address, ca_root) = accessor.with(|mut access| {
            let builder = access.get().table.get(&builder)?;
            Ok::<_, HostError>((builder.address.clone(), builder.ca_root.clone()))
        })?;
        open_async(accessor, address, ca_root).await
    }
}

impl<T> v4::HostConnectionWithStore<T> for Pg {
    #[tracing::instrument(name = "skiff_postgres.open", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn open_async(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        open_async(accessor, address, None).await
    }

    /// Runs the query to completion, then streams its rows.
    #[tracing::instrument(name = "skiff_postgres.query", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn query_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> Result<Streamed, HostError> {
        let conn = connection_of(accessor, &conn)?;
        let mut set = conn.query(&statement, &self::params(params)?).await?;
        let columns = columns(&mut set);
        let rows = rows(set);
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, rows).map_err(HostError::Trap)?;
            let done = FutureReader::new(&mut access, async {
                Ok::<_, wasmtime::Error>(Ok::<(), v4::Error>(()))
            })
            .map_err(HostError::Trap)?;
            Ok((columns, rows, done))
        })
    }

    #[tracing::instrument(name = "skiff_postgres.execute", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> Result<u64, HostError> {
        let conn = connection_of(accessor, &conn)?;
        Ok(conn.execute(&statement, &self::params(params)?).await?)
    }
}
