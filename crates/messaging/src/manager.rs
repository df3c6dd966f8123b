//! An app's message brokers, by label.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use skiff_labels::LiveLabels;
use tokio::sync::{OnceCell, watch};

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
/// (two managers) never do. A runtime-config reload
/// ([`MessagingManager::apply`]) changes what backs a label for the uses
/// after it.
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
    configured: LiveLabels<BrokerConfig, Arc<Slot>>,
    /// The embedded brokers of unconfigured labels.
    embedded: Mutex<HashMap<String, Arc<dyn Broker>>>,
    /// Counts the applied reloads, for subscribers to look again.
    changes: watch::Sender<u64>,
}

/// A configured label's backend, and its broker once made.
struct Slot {
    config: BrokerConfig,
    broker: OnceCell<Arc<dyn Broker>>,
}

impl Slot {
    fn new(config: BrokerConfig) -> Arc<Self> {
        Arc::new(Slot {
            config,
            broker: OnceCell::new(),
        })
    }

    /// The broker, made (connected) at the first successful call.
    async fn broker(&self, label: &str) -> Result<Arc<dyn Broker>> {
        let broker = self
            .broker
            .get_or_try_init(|| async {
                let broker: Arc<dyn Broker> = match &self.config {
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
}

impl MessagingManager {
    /// A manager for the brokers `config` configures.
    pub fn new(config: MessagingConfig) -> Self {
        let configured = config
            .brokers
            .into_iter()
            .map(|(label, section)| (label, section.clone(), Slot::new(section)));
        MessagingManager {
            configured: LiveLabels::with(configured),
            embedded: Mutex::new(HashMap::new()),
            changes: watch::Sender::new(0),
        }
    }

    /// The broker for `label`, connecting or making it at the first call.
    /// A configured NATS broker that cannot be reached is
    /// [`Error::Connection`] naming the label and the server.
    pub async fn broker(&self, label: &str) -> Result<Arc<dyn Broker>> {
        match self.configured.get(label) {
            Some(slot) => slot.broker(label).await,
            None => {
                let mut embedded = self.embedded.lock().unwrap_or_else(PoisonError::into_inner);
                let broker = embedded
                    .entry(label.to_string())
                    .or_insert_with(|| Arc::new(MemoryBroker::new()));
                Ok(broker.clone())
            }
        }
    }

    /// Makes `config` the app's brokers, for every use after it (a
    /// runtime-config reload). A label whose section is unchanged keeps its
    /// broker and what is subscribed there; a new or changed section gets a
    /// new broker, made now, so a NATS server that cannot be reached fails
    /// the whole change ([`Error::Connection`], naming the label), which
    /// then changes nothing; a label no longer configured goes back to its
    /// embedded broker. Subscribers learn of an applied change through
    /// [`MessagingManager::changes`].
    pub async fn apply(&self, config: &MessagingConfig) -> Result<()> {
        self.prepare(config).await?.commit();
        Ok(())
    }

    /// Connects what [`MessagingManager::apply`] would, without putting it
    /// in use yet: a runtime-config reload prepares every capability's
    /// labels before it commits any, so that one failing changes none.
    pub async fn prepare(&self, config: &MessagingConfig) -> Result<PreparedBrokers<'_>> {
        let brokers = self
            .configured
            .prepare(&config.brokers, |label, section| async move {
                let slot = Slot::new(section.clone());
                slot.broker(label).await?;
                Ok::<_, Error>(slot)
            })
            .await?;
        Ok(PreparedBrokers {
            manager: self,
            brokers,
        })
    }

    /// Changes each time [`MessagingManager::apply`] succeeds: a subscriber
    /// then asks for its label's broker again, and moves if it is another
    /// one.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// What serves `label`, even before it is connected: `embedded` or the
    /// NATS server URL(s), without credentials.
    pub fn describe(&self, label: &str) -> String {
        let slot = self.configured.get(label);
        match slot.as_deref().map(|slot| &slot.config) {
            Some(BrokerConfig::Nats(nats)) => nats.describe(),
            Some(BrokerConfig::Memory) | None => "embedded".to_string(),
        }
    }

    /// The labels with a `[message_broker.LABEL]` section, sorted.
    pub fn configured_labels(&self) -> Vec<String> {
        self.configured.labels()
    }
}

/// An app's brokers made by [`MessagingManager::prepare`], not yet in use.
#[must_use = "prepared brokers change nothing until they are committed"]
pub struct PreparedBrokers<'m> {
    manager: &'m MessagingManager,
    brokers: skiff_labels::Prepared<'m, BrokerConfig, Arc<Slot>>,
}

impl PreparedBrokers<'_> {
    /// Puts the brokers in use, and tells the subscribers.
    pub fn commit(self) {
        self.brokers.commit();
        self.manager.changes.send_modify(|applied| *applied += 1);
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

    /// A reload keeps the broker of an unchanged section, makes a new one
    /// for a new section, and sends a label that lost its section back to
    /// an embedded broker; subscribers are told.
    #[tokio::test]
    async fn apply_keeps_unchanged_labels_and_replaces_the_others() {
        let mut config = MessagingConfig::default();
        config.brokers.insert("kept".into(), BrokerConfig::Memory);
        config
            .brokers
            .insert("dropped".into(), BrokerConfig::Memory);
        let manager = MessagingManager::new(config);
        let kept = manager.broker("kept").await.unwrap();
        let dropped = manager.broker("dropped").await.unwrap();
        let plain = manager.broker("plain").await.unwrap();
        let mut changes = manager.changes();
        assert!(!changes.has_changed().unwrap());

        let mut next = MessagingConfig::default();
        next.brokers.insert("kept".into(), BrokerConfig::Memory);
        next.brokers.insert("plain".into(), BrokerConfig::Memory);
        manager.apply(&next).await.unwrap();
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        assert!(Arc::ptr_eq(&kept, &manager.broker("kept").await.unwrap()));
        let configured = manager.broker("plain").await.unwrap();
        assert!(
            !Arc::ptr_eq(&plain, &configured),
            "plain kept its embedded broker"
        );
        assert!(Arc::ptr_eq(
            &configured,
            &manager.broker("plain").await.unwrap()
        ));
        let embedded = manager.broker("dropped").await.unwrap();
        assert!(
            !Arc::ptr_eq(&dropped, &embedded),
            "dropped kept its configured broker"
        );
        assert_eq!(manager.configured_labels(), ["kept", "plain"]);

        // Back to no sections: `plain` finds the embedded broker it had.
        manager.apply(&MessagingConfig::default()).await.unwrap();
        assert!(changes.has_changed().unwrap());
        assert!(Arc::ptr_eq(&plain, &manager.broker("plain").await.unwrap()));
    }

    /// A reload naming a NATS server that cannot be reached fails, naming
    /// the label, and changes nothing.
    #[tokio::test]
    async fn apply_that_cannot_connect_changes_nothing() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("nats://{}", closed.local_addr().unwrap());
        drop(closed);
        let mut config = MessagingConfig::default();
        config.brokers.insert("events".into(), BrokerConfig::Memory);
        let manager = MessagingManager::new(config);
        let before = manager.broker("events").await.unwrap();
        let changes = manager.changes();

        let mut next = MessagingConfig::default();
        next.brokers
            .insert("events".into(), BrokerConfig::Nats(NatsConfig::new(&url)));
        let err = manager.apply(&next).await.unwrap_err();
        assert!(
            matches!(&err, Error::Connection(message) if message.contains("message broker `events`")),
            "{err}"
        );
        assert!(!changes.has_changed().unwrap());
        assert!(Arc::ptr_eq(
            &before,
            &manager.broker("events").await.unwrap()
        ));
        assert_eq!(manager.describe("events"), "embedded");
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
