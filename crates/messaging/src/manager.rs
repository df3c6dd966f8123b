//! An app's message brokers, by label.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::broker::Broker;
use crate::config::{BrokerConfig, MessagingConfig};
use crate::error::{Error, Result};
use crate::memory::MemoryBroker;
use crate::nats::NatsBroker;

/// An app's message brokers by label, made at first use and shared by the
/// app's components afterwards.
///
/// A label with a `[message_broker.LABEL]` section gets that backend; a
/// NATS broker connects at the first [`MessagingManager::broker`] call for
/// its label (concurrent first calls connect once; a failed connection is
/// not remembered, so the next call tries again). Any other label gets an
/// embedded [`MemoryBroker`] of its own, shared by the whole app: two
/// components talking on `default` see each other's messages, two apps
/// (two managers) never do.
///
/// ```
/// # async fn example() -> skiff_messaging::Result<()> {
/// use skiff_messaging::MessagingManager;
///
/// let manager = MessagingManager::default();
/// let broker = manager.broker("default").await?;
/// assert_eq!(broker.describe(), "embedded");
/// # Ok(())
/// # }
/// ```
pub struct MessagingManager {
    /// Each configured label's section, with the cell its broker fills at
    /// its first successful use.
    configured: BTreeMap<String, (BrokerConfig, OnceCell<Arc<dyn Broker>>)>,
    /// The embedded brokers of unconfigured labels.
    embedded: Mutex<HashMap<String, Arc<dyn Broker>>>,
}

impl MessagingManager {
    /// A manager for the brokers `config` configures.
    pub fn new(config: MessagingConfig) -> Self {
        let configured = config
            .brokers
            .into_iter()
            .map(|(label, section)| (label, (section, OnceCell::new())))
            .collect();
        MessagingManager {
            configured,
            embedded: Mutex::new(HashMap::new()),
        }
    }

    /// The broker for `label`, connecting or making it at the first call.
    /// A configured NATS broker that cannot be reached is
    /// [`Error::Connection`] naming the label and the server.
    pub async fn broker(&self, label: &str) -> Result<Arc<dyn Broker>> {
        let Some((config, cell)) = self.configured.get(label) else {
            let mut embedded = self.embedded.lock().unwrap_or_else(PoisonError::into_inner);
            let broker = embedded
                .entry(label.to_string())
                .or_insert_with(|| Arc::new(MemoryBroker::new()));
            return Ok(broker.clone());
        };
        let broker = cell
            .get_or_try_init(|| async {
                let broker: Arc<dyn Broker> = match config {
                    BrokerConfig::Memory => Arc::new(MemoryBroker::new()),
                    BrokerConfig::Nats(nats) => {
                        let broker = NatsBroker::connect(nats).await.map_err(|err| match err {
                            Error::Connection(message) => {
                                Error::Connection(format!("message broker `{label}`: {message}"))
                            }
                            other => other,
                        })?;
                        Arc::new(broker)
                    }
                };
                Ok::<_, Error>(broker)
            })
            .await?;
        Ok(broker.clone())
    }

    /// What serves `label`, even before it is connected: `embedded` or the
    /// NATS server URL(s), without credentials.
    pub fn describe(&self, label: &str) -> String {
        match self.configured.get(label) {
            Some((BrokerConfig::Nats(nats), _)) => nats.describe(),
            Some((BrokerConfig::Memory, _)) | None => "embedded".to_string(),
        }
    }

    /// The labels with a `[message_broker.LABEL]` section, sorted.
    pub fn configured_labels(&self) -> Vec<String> {
        self.configured.keys().cloned().collect()
    }
}

impl Default for MessagingManager {
    fn default() -> Self {
        Self::new(MessagingConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NatsConfig;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn is_send_and_sync() {
        assert_send_sync::<MessagingManager>();
        assert_send_sync::<Arc<MessagingManager>>();
    }

    #[tokio::test]
    async fn configured_memory_label_is_shared() {
        let mut config = MessagingConfig::default();
        config.brokers.insert("m".into(), BrokerConfig::Memory);
        let manager = MessagingManager::new(config);
        let a = manager.broker("m").await.unwrap();
        let b = manager.broker("m").await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(manager.configured_labels(), ["m"]);
        assert_eq!(manager.describe("m"), "embedded");
    }

    #[test]
    fn describe_names_the_backend() {
        let mut config = MessagingConfig::default();
        config.brokers.insert(
            "events".into(),
            BrokerConfig::Nats(
                NatsConfig::new("nats://127.0.0.1:4222").with_user_and_password("u", "pw-x1"),
            ),
        );
        let manager = MessagingManager::new(config);
        assert_eq!(manager.describe("events"), "nats://127.0.0.1:4222");
        assert_eq!(manager.describe("other"), "embedded");
    }
}
