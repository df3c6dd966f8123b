//! `spin:redis/redis@3.0.0`: the same operations as `async func`s.

use std::sync::Arc;

use wasmtime::component::{Accessor, Resource};

use super::{ConnectionHandle, HostError, Redis, RedisView, connect};
use crate::bindings::spin3::spin::redis::redis as v3;
use crate::client::{Param, RedisConnection, Reply};
use crate::error::Error;

const INTERFACE: &str = "spin:redis/redis@3.0.0";

fn to_param(param: v3::RedisParameter) -> Param {
    match param {
        v3::RedisParameter::Int64(i) => Param::Int64(i),
        v3::RedisParameter::Binary(b) => Param::Binary(b),
    }
}

fn from_reply(reply: Reply) -> v3::RedisResult {
    match reply {
        Reply::Nil => v3::RedisResult::Nil,
        Reply::Status(s) => v3::RedisResult::Status(s),
        Reply::Int64(i) => v3::RedisResult::Int64(i),
        Reply::Binary(b) => v3::RedisResult::Binary(b),
    }
}

impl v3::Host for RedisView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<v3::Error> {
        Ok(match err.into_redis()? {
            Error::InvalidAddress(_) | Error::NotAllowed(_) => v3::Error::InvalidAddress,
            Error::TypeError(_) => v3::Error::TypeError,
            other => v3::Error::Other(other.to_string()),
        })
    }
}

impl v3::HostConnection for RedisView<'_> {
    fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

/// The connection behind `handle`, looked up without holding the store
/// across an await (component-model async functions only get the store in
/// `with`).
fn conn_of<T>(
    accessor: &Accessor<T, Redis>,
    handle: &Resource<ConnectionHandle>,
) -> Result<Arc<RedisConnection>, HostError> {
    accessor.with(|mut access| access.get().connection(handle))
}

impl<T> v3::HostConnectionWithStore<T> for Redis {
    #[tracing::instrument(name = "skiff_redis.open", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn open(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> Result<Resource<ConnectionHandle>, HostError> {
        let (allowed, id) = accessor.with(|mut access| access.get().grant());
        let conn = connect(allowed, id, &address).await?;
        accessor.with(|mut access| access.get().push(conn))
    }

    #[tracing::instrument(name = "skiff_redis.publish", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn publish(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), HostError> {
        Ok(conn_of(accessor, &conn)?
            .publish(&channel, &payload)
            .await?)
    }

    #[tracing::instrument(name = "skiff_redis.get", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn get(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        key: String,
    ) -> Result<Option<Vec<u8>>, HostError> {
        Ok(conn_of(accessor, &conn)?.get(&key).await?)
    }

    #[tracing::instrument(name = "skiff_redis.set", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn set(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), HostError> {
        Ok(conn_of(accessor, &conn)?.set(&key, &value).await?)
    }

    #[tracing::instrument(name = "skiff_redis.incr", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn incr(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        key: String,
    ) -> Result<i64, HostError> {
        Ok(conn_of(accessor, &conn)?.incr(&key).await?)
    }

    #[tracing::instrument(name = "skiff_redis.del", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn del(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        keys: Vec<String>,
    ) -> Result<u32, HostError> {
        Ok(conn_of(accessor, &conn)?.del(&keys).await?)
    }

    #[tracing::instrument(name = "skiff_redis.sadd", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn sadd(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, HostError> {
        Ok(conn_of(accessor, &conn)?.sadd(&key, &values).await?)
    }

    #[tracing::instrument(name = "skiff_redis.smembers", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn smembers(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        key: String,
    ) -> Result<Vec<String>, HostError> {
        Ok(conn_of(accessor, &conn)?.smembers(&key).await?)
    }

    #[tracing::instrument(name = "skiff_redis.srem", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn srem(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, HostError> {
        Ok(conn_of(accessor, &conn)?.srem(&key, &values).await?)
    }

    #[tracing::instrument(name = "skiff_redis.execute", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn execute(
        accessor: &Accessor<T, Self>,
        conn: Resource<ConnectionHandle>,
        command: String,
        arguments: Vec<v3::RedisParameter>,
    ) -> Result<Vec<v3::RedisResult>, HostError> {
        let args: Vec<Param> = arguments.into_iter().map(to_param).collect();
        let replies = conn_of(accessor, &conn)?.execute(&command, &args).await?;
        Ok(replies.into_iter().map(from_reply).collect())
    }
}
