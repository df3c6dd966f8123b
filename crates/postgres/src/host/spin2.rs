//! `fermyon:spin/postgres@2.0.0`.

use wasmtime::component::Resource;

use super::{ConnectionHandle, HostError, PgView};
use crate::bindings::spin2::fermyon::spin::postgres as v2;
use crate::bindings::spin2::fermyon::spin::rdbms_types as types;
use crate::error::Error;
use crate::value::{ColumnType, RowSet, Value};

const INTERFACE: &str = "fermyon:spin/postgres@2.0.0";

fn to_value(value: types::ParameterValue) -> Value {
    use types::ParameterValue as P;
    match value {
        P::Boolean(b) => Value::Bool(b),
        P::Int8(i) => Value::Int8(i),
        P::Int16(i) => Value::Int16(i),
        P::Int32(i) => Value::Int32(i),
        P::Int64(i) => Value::Int64(i),
        P::Uint8(i) => Value::Uint(i.into()),
        P::Uint16(i) => Value::Uint(i.into()),
        P::Uint32(i) => Value::Uint(i.into()),
        P::Uint64(i) => Value::Uint(i),
        P::Floating32(f) => Value::Float32(f),
        P::Floating64(f) => Value::Float64(f),
        P::Str(s) => Value::Str(s),
        P::Binary(b) => Value::Binary(b),
        P::DbNull => Value::Null,
    }
}

fn from_value(value: Value) -> types::DbValue {
    use types::DbValue as D;
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
        _ => D::Unsupported,
    }
}

fn from_type(ty: ColumnType) -> types::DbDataType {
    use types::DbDataType as T;
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
        _ => T::Other,
    }
}

fn from_row_set(set: RowSet) -> types::RowSet {
    types::RowSet {
        columns: set
            .columns
            .into_iter()
            .map(|c| types::Column {
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

impl types::Host for PgView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<types::Error> {
        Ok(match err.into_pg()? {
            Error::ConnectionFailed(m) => types::Error::ConnectionFailed(m),
            Error::BadParameter(m) => types::Error::BadParameter(m),
            Error::QueryFailed { message, .. } => types::Error::QueryFailed(message),
            Error::ValueConversionFailed(m) => types::Error::ValueConversionFailed(m),
            other => types::Error::Other(other.to_string()),
        })
    }
}

impl v2::Host for PgView<'_> {}

impl v2::HostConnection for PgView<'_> {
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
        params: Vec<types::ParameterValue>,
    ) -> Result<types::RowSet, HostError> {
        let params: Vec<Value> = params.into_iter().map(to_value).collect();
        let set = self.connection(&conn)?.query(&statement, &params).await?;
        Ok(from_row_set(set))
    }

    #[tracing::instrument(name = "skiff_postgres.execute", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<types::ParameterValue>,
    ) -> Result<u64, HostError> {
        let params: Vec<Value> = params.into_iter().map(to_value).collect();
        Ok(self.connection(&conn)?.execute(&statement, &params).await?)
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
