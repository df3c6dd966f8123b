//! `spin:postgres/postgres@3.0.0`.

use wasmtime::component::Resource;

use super::{
    ConnectionHandle, HostError, PgView, from_date, from_datetime, from_time, to_date, to_datetime,
    to_time,
};
use crate::bindings::spin3::spin::postgres::postgres as v3;
use crate::error::Error;
use crate::value::{ColumnType, RowSet, Value};

const INTERFACE: &str = "spin:postgres/postgres@3.0.0";

fn to_value(value: v3::ParameterValue) -> Result<Value, Error> {
    use v3::ParameterValue as P;
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
        P::DbNull => Value::Null,
    })
}

fn from_value(value: Value) -> v3::DbValue {
    use v3::DbValue as D;
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
        _ => D::Unsupported,
    }
}

fn from_type(ty: ColumnType) -> v3::DbDataType {
    use v3::DbDataType as T;
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
        _ => T::Other,
    }
}

fn from_row_set(set: RowSet) -> v3::RowSet {
    v3::RowSet {
        columns: set
            .columns
            .into_iter()
            .map(|c| v3::Column {
                name: c.name,
                data_type: from_type(c.column_type),
            })
            .collect(),
        rows: set
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(from_value).collect())
            .collect(),
    }
}

fn params(params: Vec<v3::ParameterValue>) -> Result<Vec<Value>, Error> {
    params.into_iter().map(to_value).collect()
}

impl v3::Host for PgView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<v3::Error> {
        Ok(match err.into_pg()? {
            Error::ConnectionFailed(m) => v3::Error::ConnectionFailed(m),
            Error::BadParameter(m) => v3::Error::BadParameter(m),
            Error::QueryFailed { message, .. } => v3::Error::QueryFailed(message),
            Error::ValueConversionFailed(m) => v3::Error::ValueConversionFailed(m),
            other => v3::Error::Other(other.to_string()),
        })
    }
}

impl v3::HostConnection for PgView<'_> {
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
        params: Vec<v3::ParameterValue>,
    ) -> Result<v3::RowSet, HostError> {
        let conn = self.connection(&conn)?;
        let set = conn.query(&statement, &self::params(params)?).await?;
        Ok(from_row_set(set))
    }

    #[tracing::instrument(name = "skiff_postgres.execute", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> Result<u64, HostError> {
        let conn = self.connection(&conn)?;
        Ok(conn.execute(&statement, &self::params(params)?).await?)
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
