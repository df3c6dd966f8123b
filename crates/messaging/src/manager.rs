//! An app's message brokers, by label.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::task::AtomicWaker;
use skiff_labels::LiveLabels;
use tokio::sync::{OnceCell, OwnedMutexGuard, watch};

use crate::broker::{Broker, Message, Subscription};
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
/// after it, and moves the subscriptions made through
/// [`MessagingManager::subscribe`] with it.
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
    /// The subscriptions that follow their label ([`LabelSubscription`]).
    follows: Mutex<Vec<Weak<Follow>>>,
    /// Held from a reload's [`MessagingManager::prepare`] until it is
    /// committed or dropped, and while a subscription is made, so that no
    /// subscription is made on a broker a reload is about to replace
    /// without being moved with it.
    reconfiguring: Arc<tokio::sync::Mutex<()>>,
}

/// A subscription that follows its label: a reload that puts another
/// broker behind the label subscribes there before it is committed, and
/// the subscription goes on from the new broker once the old one has
/// delivered what it had ready. Messages published on the new broker from
/// the commit on are delivered (those that arrive between the prepare and
/// the commit too, NATS keeping them until then); so is what the old
/// broker had delivered before the switch.
///
/// It ends only when its current broker's subscription ends for good.
pub struct LabelSubscription {
    follow: Arc<Follow>,
    /// The broker `messages` come from.
    broker: Arc<dyn Broker>,
    messages: Subscription,
}

/// What a reload needs to move one [`LabelSubscription`].
struct Follow {
    label: String,
    subject: String,
    queue_group: Option<String>,
    /// The broker it is on, or will be on once it takes `moved`.
    broker: Mutex<Arc<dyn Broker>>,
    /// Its subscription on the broker a committed reload moved it to, for
    /// its next poll to switch to.
    moved: Mutex<Option<(Arc<dyn Broker>, Subscription)>>,
    /// Wakes its consumer to switch.
    waker: AtomicWaker,
}

impl LabelSubscription {
    /// The broker the last message came from (replies go there).
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }
}

impl Stream for LabelSubscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let this = &mut *self;
        this.follow.waker.register(cx.waker());
        loop {
            let moving = lock(&this.follow.moved).is_some();
            match this.messages.as_mut().poll_next(cx) {
                Poll::Ready(Some(message)) => return Poll::Ready(Some(message)),
                Poll::Ready(None) if !moving => return Poll::Ready(None),
                Poll::Pending if !moving => return Poll::Pending,
                // The old broker has nothing more ready: go on from the new.
                _ => {
                    if let Some((broker, messages)) = lock(&this.follow.moved).take() {
                        (this.broker, this.messages) = (broker, messages);
                    }
                }
            }
        }
    }
}

/// Locks `mutex`, even if a panic poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
            follows: Mutex::new(Vec::new()),
            reconfiguring: Arc::default(),
        }
    }

    /// The broker for `label`, connecting or making it at the first call.
    /// A configured NATS broker that cannot be reached is
    /// [`Error::Connection`] naming the label and the server.
    pub async fn broker(&self, label: &str) -> Result<Arc<dyn Broker>> {
        self.broker_in(label, self.configured.get(label).as_ref())
            .await
    }

    /// `label`'s broker given its configured `slot` (in use or prepared):
    /// the slot's, or without one the label's embedded broker, made at the
    /// first call.
    async fn broker_in(&self, label: &str, slot: Option<&Arc<Slot>>) -> Result<Arc<dyn Broker>> {
        match slot {
            Some(slot) => slot.broker(label).await,
            None => Ok(lock(&self.embedded)
                .entry(label.to_string())
                .or_insert_with(|| Arc::new(MemoryBroker::new()))
                .clone()),
        }
    }

    /// Subscribes to `subject` (in `queue_group`) on `label`'s broker, for
    /// as long as the label lasts: a reload that puts another broker behind
    /// `label` moves the subscription there ([`LabelSubscription`]).
    pub async fn subscribe(
        &self,
        label: &str,
        subject: &str,
        queue_group: Option<&str>,
    ) -> Result<LabelSubscription> {
        // Connect first, then subscribe under the lock if no reload has
        // changed the label meanwhile: a broker slow to connect holds up no
        // reload.
        let (broker, _unchanging) = loop {
            let slot = self.configured.get(label);
            let broker = self.broker_in(label, slot.as_ref()).await?;
            let unchanging = self.reconfiguring.lock().await;
            let unchanged = match (&slot, &self.configured.get(label)) {
                (Some(before), Some(now)) => Arc::ptr_eq(before, now),
                (None, None) => true,
                _ => false,
            };
            if unchanged {
                break (broker, unchanging);
            }
        };
        let messages = broker.subscribe(subject, queue_group).await?;
        let follow = Arc::new(Follow {
            label: label.to_string(),
            subject: subject.to_string(),
            queue_group: queue_group.map(str::to_string),
            broker: Mutex::new(broker.clone()),
            moved: Mutex::new(None),
            waker: AtomicWaker::new(),
        });
        let mut follows = lock(&self.follows);
        follows.retain(|f| f.strong_count() > 0);
        follows.push(Arc::downgrade(&follow));
        Ok(LabelSubscription {
            follow,
            broker,
            messages,
        })
    }

    /// Makes `config` the app's brokers, for every use after it (a
    /// runtime-config reload). A label whose section is unchanged keeps its
    /// broker and what is subscribed there; a new or changed section gets a
    /// new broker, made now, so a NATS server that cannot be reached fails
    /// the whole change ([`Error::Connection`], naming the label), which
    /// then changes nothing; a label no longer configured goes back to its
    /// embedded broker. Each [`LabelSubscription`] on a label that changes
    /// is subscribed on the new broker before the change is put in use, and
    /// moves there. Others learn of an applied change through
    /// [`MessagingManager::changes`].
    pub async fn apply(&self, config: &MessagingConfig) -> Result<()> {
        self.prepare(config).await?.commit();
        Ok(())
    }

    /// Connects what [`MessagingManager::apply`] would, without putting it
    /// in use yet: a runtime-config reload prepares every capability's
    /// labels before it commits any, so that one failing changes none. The
    /// subscriptions to move are made on their new brokers now; one that
    /// fails fails the whole change. Until the result is committed or
    /// dropped, new subscriptions wait.
    pub async fn prepare(&self, config: &MessagingConfig) -> Result<PreparedBrokers<'_>> {
        let unchanging = self.reconfiguring.clone().lock_owned().await;
        let brokers = self
            .configured
            .prepare(&config.brokers, |label, section| async move {
                let slot = Slot::new(section.clone());
                slot.broker(label).await?;
                Ok::<_, Error>(slot)
            })
            .await?;
        let follows: Vec<Arc<Follow>> = lock(&self.follows)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut moves = Vec::new();
        for follow in follows {
            let label = &follow.label;
            let next = self.broker_in(label, brokers.get(label).as_ref()).await?;
            let from = lock(&follow.broker).clone();
            if Arc::ptr_eq(&next, &from) {
                continue;
            }
            let messages = next
                .subscribe(&follow.subject, follow.queue_group.as_deref())
                .await
                .map_err(|err| {
                    Error::Connection(format!(
                        "message broker `{label}`: cannot move the subscription to `{}` to {}: \
                         {err}",
                        follow.subject,
                        next.describe()
                    ))
                })?;
            moves.push(Move {
                follow,
                from,
                to: next,
                messages,
            });
        }
        Ok(PreparedBrokers {
            manager: self,
            brokers,
            moves,
            _unchanging: unchanging,
        })
    }

    /// Changes each time a reload is committed. A [`LabelSubscription`]
    /// needs none of it (the reload moves it); a subscriber still waiting to
    /// subscribe (its broker was unreachable) tries again at once, since the
    /// label may now have a broker that answers.
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
    moves: Vec<Move>,
    _unchanging: OwnedMutexGuard<()>,
}

/// A [`LabelSubscription`] to move, already subscribed on its new broker.
struct Move {
    follow: Arc<Follow>,
    from: Arc<dyn Broker>,
    to: Arc<dyn Broker>,
    messages: Subscription,
}

impl PreparedBrokers<'_> {
    /// Puts the brokers in use, hands the moved subscriptions their new
    /// brokers, and tells the subscribers.
    pub fn commit(self) {
        self.brokers.commit();
        for Move {
            follow,
            from,
            to,
            messages,
        } in self.moves
        {
            let group = follow
                .queue_group
                .as_deref()
                .map(|g| format!(" in queue group `{g}`"))
                .unwrap_or_default();
            tracing::info!(
                "subscription to `{}`{group} on broker `{}` moved from {} to {}",
                follow.subject,
                follow.label,
                from.describe(),
                to.describe()
            );
            *lock(&follow.broker) = to.clone();
            *lock(&follow.moved) = Some((to, messages));
            follow.waker.wake();
        }
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

    /// A reload that puts another broker behind a label moves the label's
    /// subscriptions with it, without a gap: a message published on the new
    /// broker right after the commit (before the subscriber has run again)
    /// is delivered, as is one the old broker had delivered before; once it
    /// has switched, the old broker feeds it no more. A subscription on another
    /// label stays where it is; new subscriptions wait for a prepared
    /// reload to be committed (or dropped).
    #[tokio::test]
    async fn a_reload_moves_subscriptions_without_a_gap() {
        use futures_util::{FutureExt as _, StreamExt as _};
        let manager = MessagingManager::default();
        let mut events = manager.subscribe("events", "orders.*", None).await.unwrap();
        let mut other = manager.subscribe("other", "x", Some("g")).await.unwrap();
        let old = manager.broker("events").await.unwrap();
        old.publish(Message::new("orders.1", "before"))
            .await
            .unwrap();

        let mut next = MessagingConfig::default();
        next.brokers.insert("events".into(), BrokerConfig::Memory);
        let prepared = manager.prepare(&next).await.unwrap();
        let waiting = manager.subscribe("events", "late", None);
        tokio::pin!(waiting);
        assert!(
            waiting.as_mut().now_or_never().is_none(),
            "a subscription was made while a reload was prepared"
        );
        prepared.commit();
        let new = manager.broker("events").await.unwrap();
        assert!(!Arc::ptr_eq(&old, &new));
        new.publish(Message::new("orders.2", "after"))
            .await
            .unwrap();

        let first = events.next().await.unwrap();
        assert_eq!(&first.payload[..], b"before");
        assert!(Arc::ptr_eq(events.broker(), &old));
        let second = events.next().await.unwrap();
        assert_eq!(&second.payload[..], b"after");
        assert!(Arc::ptr_eq(events.broker(), &new));
        old.publish(Message::new("orders.3", "stale"))
            .await
            .unwrap();
        assert!(
            events.next().now_or_never().is_none(),
            "the old broker still feeds the subscription"
        );
        let mut late = waiting.await.unwrap();
        assert!(Arc::ptr_eq(late.broker(), &new));
        new.publish(Message::new("late", "l")).await.unwrap();
        assert_eq!(&late.next().await.unwrap().payload[..], b"l");

        let other_broker = manager.broker("other").await.unwrap();
        assert!(Arc::ptr_eq(other.broker(), &other_broker));
        other_broker.publish(Message::new("x", "o")).await.unwrap();
        assert_eq!(&other.next().await.unwrap().payload[..], b"o");

        // A prepared reload that is dropped moves nothing.
        drop(manager.prepare(&MessagingConfig::default()).await.unwrap());
        new.publish(Message::new("orders.4", "kept")).await.unwrap();
        assert_eq!(&events.next().await.unwrap().payload[..], b"kept");
        assert!(Arc::ptr_eq(events.broker(), &new));
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
