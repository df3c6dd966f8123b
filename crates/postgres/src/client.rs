//! Connections: the grant check, connecting, and running statements.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use skiff_outbound_networking::{AllowedHosts, OutboundTarget};
use tokio::net::TcpStream;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, NoTls, Statement};

use crate::tls::RustlsConnect;

use crate::decode;
use crate::encode::{self, Encoded};
use crate::error::{Error, Result, error_chain};
use crate::value::{RowSet, Value};

/// How long connecting (TCP and the startup handshake) may take when the
/// address sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The scheme `allowed_outbound_hosts` entries use for PostgreSQL.
const SCHEME: &str = "postgres";

/// A connection to a PostgreSQL server.
pub struct PgConnection {
    client: tokio_postgres::Client,
    /// `host:port` of the server, for messages (never the password).
    peer: String,
}

/// One host of an address, checked against the grant.
struct Target {
    target: OutboundTarget,
    host: String,
    port: u16,
    hostaddr: Option<std::net::IpAddr>,
}

/// The grant check: every host of `config` must be allowed by an
/// `allowed_outbound_hosts` entry `postgres://HOST[:PORT]`.
fn check(config: &Config, allowed: &AllowedHosts) -> Result<Vec<Target>> {
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        return Err(Error::ConnectionFailed(
            "the postgres address names no host".into(),
        ));
    }
    let ports = config.get_ports();
    let hostaddrs = config.get_hostaddrs();
    hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = match ports {
                [] => 5432,
                [port] => *port,
                ports => *ports.get(i).unwrap_or(&5432),
            };
            let host = match host {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => {
                    return Err(Error::ConnectionFailed(format!(
                        "postgres over the unix socket {} is not allowed: only TCP hosts \
                         granted by `allowed_outbound_hosts` are",
                        path.display()
                    )));
                }
            };
            let target = OutboundTarget::new(SCHEME, &host, port).map_err(|err| {
                Error::ConnectionFailed(format!("invalid postgres host `{host}`: {err}"))
            })?;
            // An address literal gets the full check (the SSRF guard too)
            // now; a name, once it resolves.
            let decision = match target.ip() {
                Some(ip) => allowed.allows_resolved(&target, ip),
                None => allowed.check(&target),
            };
            decision
                .into_result()
                .map_err(|denial| Error::ConnectionFailed(denial.to_string()))?;
            Ok(Target {
                target,
                host,
                port,
                hostaddr: hostaddrs.get(i).copied(),
            })
        })
        .collect()
}

impl PgConnection {
    /// Connects to the server at `address` (a URL `postgres://user:pw@host:port/db`
    /// or `key=value` pairs), if `allowed` grants every host it names; the
    /// check runs before any network traffic, and again on each address a
    /// name resolves to (the SSRF guard of [`AllowedHosts::allows_resolved`]).
    /// Hosts are tried in order. `sslmode=require` connects over TLS only,
    /// verifying the server's certificate for the host's name against the
    /// system's roots (`SSL_CERT_FILE` or `SSL_CERT_DIR` name others);
    /// otherwise (`prefer`, the default, or `disable`) the connection is plain.
    pub async fn connect(address: &str, allowed: &AllowedHosts) -> Result<Self> {
        Self::connect_with_ca(address, allowed, None).await
    }

    /// [`PgConnection::connect`], and with a CA root (PEM, `spin:postgres`'s
    /// `set-ca-root`) over TLS only, trusting that CA beside the system's roots.
    pub async fn connect_with_ca(
        address: &str,
        allowed: &AllowedHosts,
        ca_root: Option<&str>,
    ) -> Result<Self> {
        let mut config: Config = address
            .parse()
            .map_err(|err| Error::ConnectionFailed(format!("invalid postgres address: {err}")))?;
        let targets = check(&config, allowed)?;
        let tls = match ca_root {
            Some(pem) => Some(skiff_outbound_networking::tls_client_config_with_ca(pem)),
            None if config.get_ssl_mode() == SslMode::Require => {
                Some(skiff_outbound_networking::tls_client_config())
            }
            None => None,
        }
        .transpose()
        .map_err(|why| Error::ConnectionFailed(format!("TLS to postgres: {why}")))?;
        if tls.is_some() {
            // Never fall back to plain text once TLS is asked for.
            config.ssl_mode(SslMode::Require);
        }
        let timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT);
        let mut failures = Vec::new();
        for target in &targets {
            let peer = format!("{}:{}", target.host, target.port);
            match connect_one(&config, target, allowed, timeout, tls.as_ref()).await {
                Ok(client) => return Ok(PgConnection { client, peer }),
                Err(err) => failures.push(format!("{peer}: {err}")),
            }
        }
        Err(Error::ConnectionFailed(format!(
            "could not connect to postgres at {}",
            failures.join("; ")
        )))
    }

    /// `host:port` of the server.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Whether the connection has broken (the server went away).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Runs a statement that returns rows.
    pub async fn query(&self, statement: &str, params: &[Value]) -> Result<RowSet> {
        let (stmt, params) = self.prepare(statement, params).await?;
        let rows = self
            .client
            .query(&stmt, &refs(&params))
            .await
            .map_err(|err| Error::from_client(err, &self.peer))?;
        decode::row_set(stmt.columns(), &rows)
    }

    /// Runs a statement; returns how many rows it changed.
    pub async fn execute(&self, statement: &str, params: &[Value]) -> Result<u64> {
        let (stmt, params) = self.prepare(statement, params).await?;
        self.client
            .execute(&stmt, &refs(&params))
            .await
            .map_err(|err| Error::from_client(err, &self.peer))
    }

    /// Prepares `statement` and encodes `params` for the types the server
    /// inferred for its placeholders.
    async fn prepare(
        &self,
        statement: &str,
        params: &[Value],
    ) -> Result<(Statement, Vec<Encoded>)> {
        let stmt = self
            .client
            .prepare(statement)
            .await
            .map_err(|err| Error::from_client(err, &self.peer))?;
        let types = stmt.params();
        if types.len() != params.len() {
            return Err(Error::BadParameter(format!(
                "the statement has {} parameter(s) but {} were given",
                types.len(),
                params.len()
            )));
        }
        let encoded = params
            .iter()
            .zip(types)
            .enumerate()
            .map(|(i, (value, ty))| {
                encode::encode(value, ty)
                    .map_err(|err| Error::BadParameter(format!("parameter ${}: {err}", i + 1)))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((stmt, encoded))
    }
}

fn refs(params: &[Encoded]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// The startup handshake on `stream` (secured by `tls` first, unless `NoTls`);
/// the connection then runs on a task of its own.
async fn handshake<T>(
    config: &Config,
    stream: TcpStream,
    tls: T,
    addr: SocketAddr,
) -> std::result::Result<tokio_postgres::Client, String>
where
    T: tokio_postgres::tls::TlsConnect<TcpStream>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config
        .connect_raw(stream, tls)
        .await
        .map_err(|err| error_chain(&err))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(peer = %addr, error = %err, "postgres connection ended");
        }
    });
    Ok(client)
}

/// Connects to one host: resolve, check each address, connect to the first
/// allowed one that answers, then (with `tls`, secured for the host's name)
/// the startup handshake.
async fn connect_one(
    config: &Config,
    target: &Target,
    allowed: &AllowedHosts,
    timeout: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> std::result::Result<tokio_postgres::Client, String> {
    let addrs: Vec<SocketAddr> = match target.hostaddr {
        Some(ip) => vec![SocketAddr::new(ip, target.port)],
        None => tokio::time::timeout(
            timeout,
            tokio::net::lookup_host((&*target.host, target.port)),
        )
        .await
        .map_err(|_| "name resolution timed out".to_string())?
        .map_err(|err| format!("could not resolve the host: {err}"))?
        .collect(),
    };
    let mut last = String::from("the host resolved to no address");
    for addr in addrs {
        if let Err(denial) = allowed
            .allows_resolved(&target.target, addr.ip())
            .into_result()
        {
            last = denial.to_string();
            continue;
        }
        let attempt = async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|err| err.to_string())?;
            let _ = stream.set_nodelay(true);
            match tls {
                None => handshake(config, stream, NoTls, addr).await,
                Some(tls) => {
                    let connector = RustlsConnect::new(tls.clone(), &target.host)?;
                    handshake(config, stream, connector, addr).await
                }
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(err)) => last = err,
            Err(_) => last = format!("no answer within {timeout:?}"),
        }
    }
    Err(last)
}
