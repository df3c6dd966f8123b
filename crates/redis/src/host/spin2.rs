//! `fermyon:spin/redis@2.0.0`.

use wasmtime::component::Resource;

use super::{ConnectionHandle, HostError, RedisView, connect};
use crate::bindings::spin2::fermyon::spin::redis as v2;
use crate::client::{Param, Reply};
use crate::error::Error;

const INTERFACE: &str = "fermyon:spin/redis@2.0.0";

fn to_param(param: v2::RedisParameter) -> Param {
    match param {
        v2::RedisParameter::Int64(i) => Param::Int64(i),
        v2::RedisParameter::Binary(b) => Param::Binary(b),
    }
}

fn from_reply(reply: Reply) -> v2::RedisResult {
    match reply {
        Reply::Nil => v2::RedisResult::Nil,
        Reply::Status(s) => v2::RedisResult::Status(s),
        Reply::Int64(i) => v2::RedisResult::Int64(i),
        Reply::Binary(b) => v2::RedisResult::Binary(b),
    }
}

impl v2::Host for RedisView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<v2::Error> {
        Ok(match err.into_redis()? {
            Error::InvalidAddress(_) | Error::NotAllowed(_) => v2::Error::InvalidAddress,
            Error::TypeError(_) => v2::Error::TypeError,
            other => v2::Error::Other(other.to_string()),
        })
    }
}

impl v2::HostConnection for RedisView<'_> {
    #[tracing::instrument(name = "skiff_redis.open", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn open(&mut self, address: String) -> Result<Resource<ConnectionHandle>, HostError> {
        let (allowed, id) = self.grant();
        let conn = connect(allowed, id, &address).await?;
        self.push(conn)
    }

    #[tracing::instrument(name = "skiff_redis.publish", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn publish(
        &mut self,
        conn: Resource<ConnectionHandle>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), HostError> {
        Ok(self.connection(&conn)?.publish(&channel, &payload).await?)
    }

    #[tracing::instrument(name = "skiff_redis.get", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn get(
        &mut self,
        conn: Resource<ConnectionHandle>,
        key: String,
    ) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.connection(&conn)?.get(&key).await?)
    }

    #[tracing::instrument(name = "skiff_redis.set", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn set(
        &mut self,
        conn: Resource<ConnectionHandle>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), HostError> {
        Ok(self.connection(&conn)?.set(&key, &value).await?)
    }

    #[tracing::instrument(name = "skiff_redis.incr", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn incr(
        &mut self,
        conn: Resource<ConnectionHandle>,
        key: String,
    ) -> Result<i64, HostError> {
        Ok(self.connection(&conn)?.incr(&key).await?)
    }

    #[tracing::instrument(name = "skiff_redis.del", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn del(
        &mut self,
        conn: Resource<ConnectionHandle>,
        keys: Vec<String>,
    ) -> Result<u32, HostError> {
        Ok(self.connection(&conn)?.del(&keys).await?)
    }

    #[tracing::instrument(name = "skiff_redis.sadd", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn sadd(
        &mut self,
        conn: Resource<ConnectionHandle>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, HostError> {
        Ok(self.connection(&conn)?.sadd(&key, &values).await?)
    }

    #[tracing::instrument(name = "skiff_redis.smembers", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn smembers(
        &mut self,
        conn: Resource<ConnectionHandle>,
        key: String,
    ) -> Result<Vec<String>, HostError> {
        Ok(self.connection(&conn)?.smembers(&key).await?)
    }

    #[tracing::instrument(name = "skiff_redis.srem", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn srem(
        &mut self,
        conn: Resource<ConnectionHandle>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, HostError> {
        Ok(self.connection(&conn)?.srem(&key, &values).await?)
    }

    #[tracing::instrument(name = "skiff_redis.execute", skip_all,
        fields(peer, interface = INTERFACE))]
    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        command: String,
        arguments: Vec<v2::RedisParameter>,
    ) -> Result<Vec<v2::RedisResult>, HostError> {
        let args: Vec<Param> = arguments.into_iter().map(to_param).collect();
        let replies = self.connection(&conn)?.execute(&command, &args).await?;
        Ok(replies.into_iter().map(from_reply).collect())
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
