//! One connection per NATS configuration in the process: the labels and
//! capabilities an operator points at the same server with the same
//! credentials (a key-value store, a blob store, a message broker) share
//! it, as they would share a NATS client in any other service.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use async_nats::Client;

use crate::config::NatsConfig;

/// A connection shared by everything that asked for it with the same
/// [`NatsConfig`]; it closes once the last holder (and every client clone
/// taken from it) is gone.
#[derive(Clone)]
pub struct Connection(Arc<Client>);

impl Connection {
    /// The client, to clone into a JetStream context or subscription.
    pub fn client(&self) -> &Client {
        &self.0
    }
}

impl Deref for Connection {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.0
    }
}

/// Each configuration's connection, while someone holds it; the slot's
/// lock makes concurrent first callers wait for one connect.
type Slot = Arc<tokio::sync::Mutex<Weak<Client>>>;

static CONNECTIONS: LazyLock<Mutex<HashMap<NatsConfig, Slot>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The connection for `config`: the one already open for an equal
/// configuration, or a new one ([`crate::connect`], with its errors).
pub async fn shared(config: &NatsConfig) -> Result<Connection, String> {
    let slot = {
        let mut connections = CONNECTIONS.lock().unwrap_or_else(|e| e.into_inner());
        // Forget configurations nobody holds or is connecting for.
        connections.retain(|_, slot| {
            Arc::strong_count(slot) > 1 || slot.try_lock().is_ok_and(|c| c.strong_count() > 0)
        });
        connections.entry(config.clone()).or_default().clone()
    };
    let mut held = slot.lock().await;
    if let Some(client) = held.upgrade() {
        return Ok(Connection(client));
    }
    let client = Arc::new(crate::connect(config).await?);
    *held = Arc::downgrade(&client);
    Ok(Connection(client))
}
