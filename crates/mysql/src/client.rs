//! Connections: the grant check, the pools, and running statements.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use mysql_async::prelude::{Protocol, Queryable};
use mysql_async::{
    Column, Conn, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, QueryResult, Row,
    SslOpts, Value,
};
use skiff_outbound_networking::{AllowedHosts, OutboundTarget};

use crate::error::{Error, Result, error_chain};

/// The scheme `allowed_outbound_hosts` entries use for MySQL.
const SCHEME: &str = "mysql";

/// MySQL's port when an address names none.
const DEFAULT_PORT: u16 = 3306;

/// How long getting a connection (resolving, TCP, TLS, the handshake, or
/// waiting for a pooled one to come free) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections one pool (one address of one component) holds at
/// most; an open beyond that waits for one to come back.
const MAX_POOL_CONNECTIONS: usize = 64;

/// How long a pooled connection may sit idle before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many distinct addresses one [`MysqlPools`] pools; connections to
/// further addresses are made for their instance alone.
const MAX_POOLS: usize = 64;

/// The connection pools of one component, one per address (and the server
/// address it resolved to), shared by all its instances.
///
/// A connection an instance gives back (its handle dropped, or the instance
/// ended) is reset before another instance gets it
/// (`COM_RESET_CONNECTION`: an open transaction is rolled back, temporary
/// tables, user variables, locks and session settings are dropped), so
/// requests share the server's connections without sharing state.
#[derive(Default)]
pub struct MysqlPools {
    pools: Mutex<HashMap<String, Pool>>,
}

impl MysqlPools {
    /// The pool for `key`, made from `opts` if there is none yet; `None` once
    /// [`MAX_POOLS`] addresses have pools.
    fn pool(&self, key: &str, opts: impl FnOnce() -> Opts) -> Option<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(key) {
            return Some(pool.clone());
        }
        if pools.len() >= MAX_POOLS {
            return None;
        }
        let pool = Pool::new(opts());
        pools.insert(key.to_string(), pool.clone());
        Some(pool)
    }

    /// How many addresses have pools.
    pub fn len(&self) -> usize {
        self.pools.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no address has a pool yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for MysqlPools {
    fn drop(&mut self) {
        // Close the idle connections politely (COM_QUIT) rather than letting
        // the server see them drop.
        let pools = std::mem::take(self.pools.get_mut().unwrap_or_else(|e| e.into_inner()));
        if pools.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for (_, pool) in pools {
                    let _ = pool.disconnect().await;
                }
            });
        }
    }
}

/// A connection to a MySQL server, taken from its component's pool (or made
/// for one instance alone); it goes back to the pool when dropped.
///
/// Dropped in the middle of a statement (its request timed out or was
/// abandoned), it first cancels the statement on the server (`KILL QUERY`,
/// through another connection), so a runaway query does not run on after
/// its request; only then does it go back to the pool.
pub struct MysqlConnection {
    /// `None` only once dropped.
    conn: Option<tokio::sync::Mutex<Conn>>,
    /// Whether a statement is in flight.
    busy: AtomicBool,
    /// Where another connection to the same server comes from.
    source: Source,
    /// `host:port` of the server, for messages (never the password).
    peer: String,
}

/// Where a connection came from.
#[derive(Clone)]
enum Source {
    /// The component's pool for its address.
    Pool(Pool),
    /// Made for its instance alone, with these options.
    Alone(Opts),
}

impl Source {
    async fn connect(&self) -> std::result::Result<Conn, mysql_async::Error> {
        match self {
            Source::Pool(pool) => pool.get_conn().await,
            Source::Alone(opts) => Conn::new(opts.clone()).await,
        }
    }
}

impl Drop for MysqlConnection {
    fn drop(&mut self) {
        let (Some(conn), true) = (self.conn.take(), *self.busy.get_mut()) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let conn = conn.into_inner();
        let id = conn.id();
        let source = self.source.clone();
        let peer = std::mem::take(&mut self.peer);
        runtime.spawn(async move {
            let kill = async {
                let mut other = source.connect().await?;
                other.query_drop(format!("KILL QUERY {id}")).await
            };
            match tokio::time::timeout(CONNECT_TIMEOUT, kill).await {
                Ok(Ok(())) => tracing::debug!(%peer, id, "cancelled an abandoned mysql statement"),
                Ok(Err(err)) => tracing::warn!(%peer, id, error = %error_chain(&err),
                    "could not cancel an abandoned mysql statement"),
                Err(_) => tracing::warn!(%peer, id,
                    "could not cancel an abandoned mysql statement: no answer"),
            }
            // Back to the pool (which reads the cancelled statement's end
            // and resets the connection) only now, so the cancellation can
            // never hit another request's statement.
            drop(conn);
        });
    }
}

/// Where an address points, once parsed and checked against the grant.
struct Checked {
    opts: Opts,
    target: OutboundTarget,
    host: String,
    port: u16,
}

/// Parses `address` (`mysql://user:password@host[:port]/database[?param=…]`)
/// and checks its host against the grant, before any network traffic.
fn check(address: &str, allowed: &AllowedHosts) -> Result<Checked> {
    let opts = Opts::from_url(address).map_err(|err| {
        Error::ConnectionFailed(format!(
            "invalid mysql address (expected \
             `mysql://USER:PASSWORD@HOST[:PORT]/DATABASE`): {err}"
        ))
    })?;
    if let Some(socket) = opts.socket() {
        return Err(Error::ConnectionFailed(format!(
            "mysql over the unix socket {socket} is not allowed: only TCP hosts granted by \
             `allowed_outbound_hosts` are"
        )));
    }
    let host = opts
        .ip_or_hostname()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() {
        return Err(Error::ConnectionFailed(
            "the mysql address names no host".into(),
        ));
    }
    let port = opts.tcp_port();
    let port = if port == 0 { DEFAULT_PORT } else { port };
    let target = OutboundTarget::new(SCHEME, &host, port)
        .map_err(|err| Error::ConnectionFailed(format!("invalid mysql host `{host}`: {err}")))?;
    // An address literal gets the full check (the SSRF guard too) now; a
    // name, once it resolves.
    let decision = match target.ip() {
        Some(ip) => allowed.allows_resolved(&target, ip),
        None => allowed.check(&target),
    };
    decision
        .into_result()
        .map_err(|denial| Error::ConnectionFailed(denial.to_string()))?;
    Ok(Checked {
        opts,
        target,
        host,
        port,
    })
}

/// The system's root certificates (`SSL_CERT_FILE` or `SSL_CERT_DIR` name
/// others), for TLS connections beside the Mozilla roots the client has built
/// in. Loaded once per process.
fn system_roots() -> &'static [Vec<u8>] {
    static ROOTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .map(|der| der.to_vec())
            .collect()
    })
}

/// The options a pool for `checked` connecting to `ip` is made with: to that
/// address only (never a unix socket the server advertises), and, for TLS,
/// verifying the certificate for the host's name against the system's roots
/// too.
fn pool_opts(checked: &Checked, ip: IpAddr) -> Opts {
    let pool = PoolOpts::default()
        .with_constraints(
            PoolConstraints::new(0, MAX_POOL_CONNECTIONS).expect("0 <= MAX_POOL_CONNECTIONS"),
        )
        .with_inactive_connection_ttl(IDLE_TIMEOUT)
        .with_reset_connection(true);
    let mut builder = OptsBuilder::from_opts(checked.opts.clone())
        .ip_or_hostname(ip.to_string())
        .tcp_port(checked.port)
        .prefer_socket(false)
        .socket(None::<String>)
        .tcp_nodelay(true)
        .pool_opts(pool);
    if let Some(ssl) = checked.opts.ssl_opts() {
        let mut roots = ssl.root_certs().to_vec();
        roots.extend(system_roots().iter().map(|der| der.clone().into()));
        let mut ssl: SslOpts = ssl.clone().with_root_certs(roots);
        if ssl.tls_hostname_override().is_none() && checked.target.ip().is_none() {
            // Verify the certificate for the name the address gave, not for
            // the address it resolved to.
            ssl = ssl.with_danger_tls_hostname_override(Some(checked.host.clone()));
        }
        builder = builder.ssl_opts(ssl);
    }
    builder.into()
}

impl MysqlConnection {
    /// A connection to the server at `address`
    /// (`mysql://user:password@host[:port]/database`, with mysql_async's
    /// parameters such as `require_ssl=true`), if `allowed` grants its host
    /// by a `mysql://HOST[:PORT]` entry: the check runs before any network
    /// traffic, and again on each address a name resolves to (the SSRF guard
    /// of [`AllowedHosts::allows_resolved`]). Taken from `pools` when it has
    /// an idle one for that address.
    pub async fn open(address: &str, allowed: &AllowedHosts, pools: &MysqlPools) -> Result<Self> {
        let checked = check(address, allowed)?;
        let peer = if checked.host.contains(':') {
            format!("[{}]:{}", checked.host, checked.port)
        } else {
            format!("{}:{}", checked.host, checked.port)
        };
        let ips: Vec<IpAddr> = match checked.target.ip() {
            Some(ip) => vec![ip],
            None => tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio::net::lookup_host((checked.host.as_str(), checked.port)),
            )
            .await
            .map_err(|_| Error::ConnectionFailed(format!("resolving mysql host {peer} timed out")))?
            .map_err(|err| {
                Error::ConnectionFailed(format!("could not resolve mysql host {peer}: {err}"))
            })?
            .map(|addr: SocketAddr| addr.ip())
            .collect(),
        };
        let mut last = String::from("the host resolved to no address");
        for ip in ips {
            if let Err(denial) = allowed.allows_resolved(&checked.target, ip).into_result() {
                last = denial.to_string();
                continue;
            }
            let key = format!("{address}\u{0}{ip}");
            let source = match pools.pool(&key, || pool_opts(&checked, ip)) {
                Some(pool) => Source::Pool(pool),
                None => Source::Alone(pool_opts(&checked, ip)),
            };
            match tokio::time::timeout(CONNECT_TIMEOUT, source.connect()).await {
                Ok(Ok(conn)) => {
                    return Ok(MysqlConnection {
                        conn: Some(tokio::sync::Mutex::new(conn)),
                        busy: AtomicBool::new(false),
                        source,
                        peer,
                    });
                }
                Ok(Err(err)) => last = connect_error(&err),
                Err(_) => last = format!("no answer within {CONNECT_TIMEOUT:?}"),
            }
        }
        Err(Error::ConnectionFailed(format!(
            "could not connect to mysql at {peer}: {last}"
        )))
    }

    /// `host:port` of the server.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    async fn lock(&self) -> tokio::sync::MutexGuard<'_, Conn> {
        self.conn
            .as_ref()
            .expect("a connection is only taken when dropped")
            .lock()
            .await
    }

    /// Runs a statement that returns rows: with `params`, as a prepared
    /// statement (`?` placeholders); without, as plain text, so statements
    /// MySQL cannot prepare run too. Returns the first result set's columns
    /// and rows; later result sets (of a procedure's `CALL`) are read and
    /// dropped.
    pub async fn query(
        &self,
        statement: &str,
        params: Vec<Value>,
    ) -> Result<(Vec<Column>, Vec<Row>)> {
        let mut conn = self.lock().await;
        self.busy.store(true, Ordering::Relaxed);
        let result = if params.is_empty() {
            let result = conn.query_iter(statement).await;
            first_set(result, &self.peer).await
        } else {
            let result = conn.exec_iter(statement, Params::Positional(params)).await;
            first_set(result, &self.peer).await
        };
        self.busy.store(false, Ordering::Relaxed);
        result
    }

    /// Runs a statement; returns how many rows it changed.
    pub async fn execute(&self, statement: &str, params: Vec<Value>) -> Result<u64> {
        let mut conn = self.lock().await;
        self.busy.store(true, Ordering::Relaxed);
        let result = if params.is_empty() {
            conn.query_drop(statement).await
        } else {
            conn.exec_drop(statement, Params::Positional(params)).await
        };
        self.busy.store(false, Ordering::Relaxed);
        result.map_err(|err| Error::from_client(err, &self.peer))?;
        Ok(conn.affected_rows())
    }
}

/// The columns and rows of the first result set of `result`; the rest are
/// drained.
async fn first_set<P: Protocol>(
    result: std::result::Result<QueryResult<'_, 'static, P>, mysql_async::Error>,
    peer: &str,
) -> Result<(Vec<Column>, Vec<Row>)> {
    let mut result = result.map_err(|err| Error::from_client(err, peer))?;
    let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
    let rows: Vec<Row> = result
        .collect()
        .await
        .map_err(|err| Error::from_client(err, peer))?;
    result
        .drop_result()
        .await
        .map_err(|err| Error::from_client(err, peer))?;
    Ok((columns, rows))
}

/// Why a connection could not be made, without the address (which holds the
/// password).
fn connect_error(err: &mysql_async::Error) -> String {
    match err {
        mysql_async::Error::Server(server) => format!(
            "ERROR {} ({}): {}",
            server.code, server.state, server.message
        ),
        other => error_chain(other),
    }
}
