//! Connections: the grant check, connecting, and the operations.

use std::net::SocketAddr;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, Value};
use skiff_outbound_networking::{AllowedHosts, OutboundTarget};

use crate::error::{Error, Result};

/// How long connecting (TCP and the handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server may take to answer one command.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The schemes `allowed_outbound_hosts` entries use for Redis, and for Redis over TLS.
const SCHEME: &str = "redis";
const TLS_SCHEME: &str = "rediss";

/// A parameter of [`RedisConnection::execute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// An integer argument.
    Int64(i64),
    /// A binary-safe string argument.
    Binary(Vec<u8>),
}

/// One value of a [`RedisConnection::execute`] result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// No value (`nil`).
    Nil,
    /// A status (`OK`, simple strings, doubles and booleans as text).
    Status(String),
    /// An integer.
    Int64(i64),
    /// A bulk string.
    Binary(Vec<u8>),
}

/// A connection to a Redis server, opened only for an address the
/// component's `allowed_outbound_hosts` grants.
pub struct RedisConnection {
    conn: MultiplexedConnection,
    /// `host:port` of the server, for messages (never the password).
    peer: String,
}

impl RedisConnection {
    /// Connects to `address` (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://…` over TLS) if `allowed` grants `redis://host:port`
    /// (`rediss://host:port`). The check runs before any network traffic, and
    /// again on each address a name resolves to (the SSRF guard of
    /// [`AllowedHosts::allows_resolved`]). Plain connections go to the first
    /// allowed address that answers; TLS connections, once an address is
    /// allowed, connect by name, so the server's certificate is verified for
    /// the name (against the system's roots, or `SSL_CERT_FILE`).
    pub async fn connect(address: &str, allowed: &AllowedHosts) -> Result<Self> {
        let info = address.into_connection_info().map_err(|err| {
            Error::InvalidAddress(format!("invalid redis address `{address}`: {err}"))
        })?;
        let (host, port, tls) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => (host.clone(), *port, false),
            ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port, true),
            other => {
                return Err(Error::InvalidAddress(format!(
                    "redis at `{other}` is not allowed: only TCP hosts granted by \
                     `allowed_outbound_hosts` are"
                )));
            }
        };
        let scheme = if tls { TLS_SCHEME } else { SCHEME };
        let target = OutboundTarget::new(scheme, &host, port)
            .map_err(|err| Error::InvalidAddress(format!("invalid redis host `{host}`: {err}")))?;
        let decision = match target.ip() {
            Some(ip) => allowed.allows_resolved(&target, ip),
            None => allowed.check(&target),
        };
        decision
            .into_result()
            .map_err(|denial| Error::NotAllowed(denial.to_string()))?;
        let peer = format!("{host}:{port}");
        let addrs: Vec<SocketAddr> = match target.ip() {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((&*host, port)))
                .await
                .map_err(|_| Error::Other(format!("resolving redis host `{host}` timed out")))?
                .map_err(|err| {
                    Error::Other(format!("could not resolve redis host `{host}`: {err}"))
                })?
                .collect(),
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let mut last = format!("`{host}` resolved to no address");
        let mut denied = None;
        for addr in addrs {
            if let Err(denial) = allowed.allows_resolved(&target, addr.ip()).into_result() {
                denied = Some(denial.to_string());
                continue;
            }
            // TLS connects by name (the certificate is verified for it), so
            // every allowed address would be the same attempt: one is made.
            let (info, at) = if tls {
                (info.clone(), host.clone())
            } else {
                let pinned = ConnectionAddr::Tcp(addr.ip().to_string(), addr.port());
                (info.clone().set_addr(pinned), addr.to_string())
            };
            let attempt = async {
                redis::Client::open(info)?
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
            };
            match attempt.await {
                Ok(conn) => return Ok(RedisConnection { conn, peer }),
                Err(err) => last = format!("{at}: {err}"),
            }
            if tls {
                break;
            }
        }
        if let Some(denial) = denied
            && last.ends_with("resolved to no address")
        {
            return Err(Error::NotAllowed(denial));
        }
        Err(Error::Other(format!(
            "could not connect to redis at {peer}: {last}"
        )))
    }

    /// `host:port` of the server.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        let mut conn = self.conn.clone();
        cmd.query_async(&mut conn)
            .await
            .map_err(|err| Error::from_redis(err, &self.peer))
    }

    /// `PUBLISH channel payload`.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<()> {
        let _receivers: i64 = self
            .run(redis::cmd("PUBLISH").arg(channel).arg(payload))
            .await?;
        Ok(())
    }

    /// `GET key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.run(redis::cmd("GET").arg(key)).await
    }

    /// `SET key value`.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let _: Value = self.run(redis::cmd("SET").arg(key).arg(value)).await?;
        Ok(())
    }

    /// `INCR key`: the new value.
    pub async fn incr(&self, key: &str) -> Result<i64> {
        self.run(redis::cmd("INCR").arg(key)).await
    }

    /// `DEL keys…`: how many keys existed. No keys is `0` without a round
    /// trip (`DEL` with no arguments is an error in Redis).
    pub async fn del(&self, keys: &[String]) -> Result<u32> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.run(redis::cmd("DEL").arg(keys)).await
    }

    /// `SADD key values…`: how many were added.
    pub async fn sadd(&self, key: &str, values: &[String]) -> Result<u32> {
        if values.is_empty() {
            return Ok(0);
        }
        self.run(redis::cmd("SADD").arg(key).arg(values)).await
    }

    /// `SREM key values…`: how many were removed.
    pub async fn srem(&self, key: &str, values: &[String]) -> Result<u32> {
        if values.is_empty() {
            return Ok(0);
        }
        self.run(redis::cmd("SREM").arg(key).arg(values)).await
    }

    /// `SMEMBERS key`.
    pub async fn smembers(&self, key: &str) -> Result<Vec<String>> {
        self.run(redis::cmd("SMEMBERS").arg(key)).await
    }

    /// Any command: the reply flattened into a list (nested arrays, sets and
    /// maps contribute their elements in order).
    pub async fn execute(&self, command: &str, args: &[Param]) -> Result<Vec<Reply>> {
        let mut cmd = redis::cmd(command);
        for arg in args {
            match arg {
                Param::Int64(i) => cmd.arg(*i),
                Param::Binary(b) => cmd.arg(b.as_slice()),
            };
        }
        let value: Value = self.run(&cmd).await?;
        let mut replies = Vec::new();
        flatten(value, &mut replies, &self.peer)?;
        Ok(replies)
    }
}

/// Appends `value` to `out` as the interfaces' flat `redis-result` list.
fn flatten(value: Value, out: &mut Vec<Reply>, peer: &str) -> Result<()> {
    match value {
        Value::Nil => out.push(Reply::Nil),
        Value::Okay => out.push(Reply::Status("OK".into())),
        Value::SimpleString(s) => out.push(Reply::Status(s)),
        Value::Int(i) => out.push(Reply::Int64(i)),
        Value::BulkString(b) => out.push(Reply::Binary(b)),
        Value::Double(d) => out.push(Reply::Status(d.to_string())),
        Value::Boolean(b) => out.push(Reply::Int64(b.into())),
        Value::VerbatimString { text, .. } => out.push(Reply::Binary(text.into_bytes())),
        Value::BigNumber(n) => out.push(Reply::Status(String::from_utf8_lossy(&n).into_owned())),
        Value::Array(items) | Value::Set(items) | Value::Push { data: items, .. } => {
            for item in items {
                flatten(item, out, peer)?;
            }
        }
        Value::Map(pairs) => {
            for (k, v) in pairs {
                flatten(k, out, peer)?;
                flatten(v, out, peer)?;
            }
        }
        Value::Attribute { data, .. } => flatten(*data, out, peer)?,
        Value::ServerError(err) => {
            return Err(Error::Other(format!("redis at {peer}: {err}")));
        }
        other => out.push(Reply::Status(format!("{other:?}"))),
    }
    Ok(())
}
