//! Connecting to NATS, with the connection's events in Skiff's log.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_nats::{Client, ConnectErrorKind, ConnectOptions, Event, ServerAddr, ServerError};

use crate::config::{NatsConfig, display_url};

/// Connects to the server(s) `config` names, within its `connect_timeout`
/// per server. The client reconnects on its own when the connection drops,
/// logging the loss and the return. Fails with a message naming the server
/// (never its credentials) and the cause.
pub async fn connect(config: &NatsConfig) -> Result<Client, String> {
    let description = config.describe();
    let failed =
        |cause: String| format!("could not connect to nats server at {description}: {cause}");
    config.check().map_err(failed)?;
    let addrs = config
        .urls
        .iter()
        .map(|url| {
            ServerAddr::from_str(url).map_err(|err| {
                failed(format!(
                    "`{}` is not a NATS server URL: {err}",
                    display_url(url)
                ))
            })
        })
        .collect::<Result<Vec<_>, String>>()?;

    let mut options = ConnectOptions::new();
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some(seed) = &config.nkey_seed {
        options = options.nkey(seed.clone());
    }
    if let Some(file) = &config.credentials_file {
        options = options.credentials_file(file).await.map_err(|err| {
            failed(format!(
                "could not use the credentials file `{}`: {err}",
                file.display()
            ))
        })?;
    }
    if let Some(file) = &config.ca_roots_file {
        options = options.add_root_certificates(file.clone());
    }
    if let (Some(cert), Some(key)) = (&config.client_cert_file, &config.client_private_key_file) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if config.tls {
        options = options.require_tls(true);
    }
    if let Some(name) = &config.connection_name {
        options = options.name(name);
    }
    let connected_before = Arc::new(AtomicBool::new(false));
    let server = description.clone();
    options = options
        .connection_timeout(config.connect_timeout)
        // Requests carry their own timeout (or none).
        .request_timeout(None)
        .event_callback(move |event| {
            let server = server.clone();
            let connected_before = connected_before.clone();
            async move { log_event(&server, &connected_before, event) }
        });

    // async-nats tries each server once, each within the connect
    // timeout; bound the whole in case one hangs past it.
    let bound = config.connect_timeout * u32::try_from(addrs.len()).unwrap_or(u32::MAX);
    let client = match tokio::time::timeout(bound, options.connect(addrs)).await {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => {
            let cause = match err.kind() {
                ConnectErrorKind::AuthorizationViolation => {
                    "the server refused the credentials (authorization violation)".to_string()
                }
                ConnectErrorKind::Authentication => {
                    format!("could not authenticate: {err}")
                }
                ConnectErrorKind::TimedOut => {
                    format!("no answer within {:?}", config.connect_timeout)
                }
                _ => err.to_string(),
            };
            return Err(failed(cause));
        }
        Err(_elapsed) => return Err(failed(format!("no answer within {bound:?}"))),
    };
    tracing::debug!(server = %description, "connected to nats server at {description}");
    Ok(client)
}

/// Logs a connection event of the client for `server`.
fn log_event(server: &str, connected_before: &AtomicBool, event: Event) {
    match event {
        Event::Connected => {
            if connected_before.swap(true, Ordering::Relaxed) {
                tracing::info!(server, "reconnected to nats server at {server}");
            } else {
                tracing::debug!(server, "connected to nats server at {server}");
            }
        }
        Event::Disconnected => tracing::warn!(
            server,
            "lost the connection to nats server at {server}; reconnecting (calls to it fail \
             until then)"
        ),
        Event::LameDuckMode => tracing::warn!(
            server,
            "nats server at {server} is shutting down (lame duck mode)"
        ),
        Event::SlowConsumer(sid) => tracing::warn!(
            server,
            "nats server at {server}: subscription {sid} is a slow consumer; messages are \
             being dropped for it"
        ),
        Event::ServerError(ServerError::AuthorizationViolation) => tracing::warn!(
            server,
            "nats server at {server} refused the credentials (authorization violation)"
        ),
        Event::ServerError(err) => {
            tracing::warn!(server, "nats server at {server} reported an error: {err}")
        }
        // A failed reconnect attempt; they repeat while the server is away.
        Event::ClientError(err) => {
            tracing::debug!(server, "nats client for {server}: {err}")
        }
        Event::Draining | Event::Closed => {
            tracing::debug!(server, "connection to nats server at {server}: {event}")
        }
    }
}
