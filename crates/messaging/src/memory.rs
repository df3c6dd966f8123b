//! The embedded broker: NATS core semantics inside the host process, the
//! default backend of every label that has no `[message_broker.LABEL]`
//! section.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::Stream;
use tokio::sync::mpsc;

use crate::broker::{Broker, Message, Subscription};
use crate::error::{Error, Result};
use crate::subject;

/// The largest message the embedded broker takes, in bytes: payload plus
/// headers as NATS would frame them, the same default as `nats-server`'s
/// `max_payload`.
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// How many undelivered messages a subscription may hold before further
/// ones are dropped for it (NATS calls such a subscriber a slow consumer).
const SUBSCRIPTION_CAPACITY: usize = 65_536;

/// An in-process message broker with the semantics of NATS core: wildcard
/// subscriptions, queue groups, at-most-once delivery, in order per
/// subscription.
///
/// Each subscription is a bounded queue of 65 536 messages; a subscriber that far behind loses the messages that do not
/// fit (with a warning once per episode), as a NATS slow consumer does. A
/// subscription whose stream is dropped is gone at once.
///
/// Publishing takes a short lock over the subscription table and never
/// waits for a subscriber.
///
/// ```
/// # async fn example() -> skiff_messaging::Result<()> {
/// use futures_util::StreamExt;
/// use skiff_messaging::{Broker, MemoryBroker, Message};
///
/// let broker = MemoryBroker::new();
/// let mut orders = broker.subscribe("orders.>", None).await?;
/// broker.publish(Message::new("orders.eu.created", "42")).await?;
/// let message = orders.next().await.expect("delivered");
/// assert_eq!(message.payload, "42");
/// # Ok(())
/// # }
/// ```
pub struct MemoryBroker {
    shared: Arc<Shared>,
}

struct Shared {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    subscriptions: Vec<Entry>,
    next_id: u64,
    /// Per queue group, the index of the member to try first next time.
    round_robin: HashMap<String, usize>,
}

struct Entry {
    id: u64,
    pattern: String,
    queue_group: Option<String>,
    sender: mpsc::Sender<Message>,
    /// Whether messages are being dropped for this subscription now (so the
    /// warning is logged once per episode).
    lagging: bool,
}

impl MemoryBroker {
    /// The largest message it takes, in bytes: 1 MiB, payload and
    /// headers, the same default as `nats-server`.
    pub const MAX_PAYLOAD: usize = MAX_PAYLOAD;

    /// A broker with no subscriptions.
    pub fn new() -> Self {
        MemoryBroker {
            shared: Arc::new(Shared {
                table: Mutex::new(Table::default()),
            }),
        }
    }

    /// Adds a subscription (the subject already checked).
    fn add(&self, pattern: &str, queue_group: Option<&str>) -> MemorySubscription {
        let (sender, receiver) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        let mut table = self.shared.lock();
        let id = table.next_id;
        table.next_id += 1;
        table.subscriptions.push(Entry {
            id,
            pattern: pattern.to_string(),
            queue_group: queue_group.map(str::to_string),
            sender,
            lagging: false,
        });
        MemorySubscription {
            receiver,
            id,
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Delivers `message` to every matching subscription without a group
    /// and to one member of each matching group; returns how many
    /// subscriptions matched (whether or not they had room).
    fn deliver(&self, message: Message) -> Result<usize> {
        subject::check_publish(&message.subject)?;
        check_headers(&message)?;
        check_size(&message)?;
        let mut table = self.shared.lock();
        let Table {
            subscriptions,
            round_robin,
            ..
        } = &mut *table;

        let mut matched = 0;
        // The matching members of each queue group, by group.
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (index, entry) in subscriptions.iter_mut().enumerate() {
            if !subject::matches(&entry.pattern, &message.subject) {
                continue;
            }
            matched += 1;
            match &entry.queue_group {
                None => send(entry, message.clone()),
                Some(group) => match groups.iter_mut().find(|(name, _)| name == group) {
                    Some((_, members)) => members.push(index),
                    None => groups.push((group.clone(), vec![index])),
                },
            }
        }
        for (group, members) in groups {
            // The next member in turn that has room; if none has, the one
            // in turn loses the message (and says so).
            let start = round_robin.get(&group).copied().unwrap_or(0) % members.len();
            let mut in_turn = (0..members.len()).map(|k| members[(start + k) % members.len()]);
            let target = in_turn
                .find(|&index| subscriptions[index].sender.capacity() > 0)
                .unwrap_or(members[start]);
            send(&mut subscriptions[target], message.clone());
            round_robin.insert(group, (start + 1) % members.len());
        }
        Ok(matched)
    }
}

impl Default for MemoryBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Nothing panics while holding the lock; if something did, the
        // table is still consistent (every step leaves it whole).
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands `message` to one subscription without waiting: a full queue drops
/// it (a slow consumer). (A closed queue is not in the table: dropping a
/// stream removes its entry.)
fn send(entry: &mut Entry, message: Message) {
    match entry.sender.try_send(message) {
        Ok(()) => {
            if entry.lagging {
                entry.lagging = false;
                tracing::info!(
                    subject = %entry.pattern,
                    "embedded broker: slow subscriber on `{}` caught up",
                    entry.pattern
                );
            }
        }
        Err(mpsc::error::TrySendError::Full(message)) => {
            if !entry.lagging {
                entry.lagging = true;
                tracing::warn!(
                    subject = %entry.pattern,
                    "embedded broker: subscriber on `{}` is {SUBSCRIPTION_CAPACITY} messages \
                     behind (slow consumer); dropping messages for it, starting with one on `{}`",
                    entry.pattern,
                    message.subject
                );
            }
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

/// The size NATS counts against `max_payload`: the payload plus, when there
/// are headers, the header block (`NATS/1.0\r\n`, `name: value\r\n` each,
/// `\r\n`).
pub(crate) fn message_size(message: &Message) -> usize {
    let headers = if message.headers.is_empty() {
        0
    } else {
        message
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum::<usize>()
            + 12
    };
    headers + message.payload.len()
}

/// Checks the headers against what NATS can carry, so that a message the
/// embedded broker takes is one a NATS server takes too: names non-empty
/// printable ASCII without `:`, values without line breaks.
pub(crate) fn check_headers(message: &Message) -> Result<()> {
    for (name, value) in &message.headers {
        if name.is_empty() || name.chars().any(|c| !c.is_ascii_graphic() || c == ':') {
            return Err(Error::Other(format!(
                "header name `{}` is not valid: it must be non-empty printable ASCII \
                 without spaces or `:`",
                name.escape_debug()
            )));
        }
        if value.contains(['\r', '\n']) {
            return Err(Error::Other(format!(
                "the value of header `{name}` is not valid: it must not contain line breaks"
            )));
        }
    }
    Ok(())
}

fn check_size(message: &Message) -> Result<()> {
    let size = message_size(message);
    if size > MAX_PAYLOAD {
        return Err(Error::Other(format!(
            "message on `{}` is {size} bytes (payload and headers); the embedded broker's \
             limit is {MAX_PAYLOAD} bytes",
            message.subject
        )));
    }
    Ok(())
}

/// A fresh reply subject, `_INBOX.<unique>`: unique in this process and
/// hard to guess.
fn new_inbox() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let salt = RandomState::new().hash_one(0u8);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("_INBOX.{salt:016x}{n:x}")
}

#[async_trait]
impl Broker for MemoryBroker {
    fn describe(&self) -> String {
        "embedded".to_string()
    }

    fn system(&self) -> &'static str {
        "embedded"
    }

    async fn publish(&self, message: Message) -> Result<()> {
        self.deliver(message).map(drop)
    }

    async fn request(
        &self,
        mut message: Message,
        timeout: Option<Duration>,
        max_replies: usize,
    ) -> Result<Vec<Message>> {
        // A request wants at least one reply.
        let max_replies = max_replies.max(1);
        let inbox = new_inbox();
        let mut replies = self.add(&inbox, None);
        let subject = message.subject.clone();
        message.reply_to = Some(inbox);
        if self.deliver(message)? == 0 {
            return Err(Error::NoResponders(subject));
        }
        let deadline = timeout.map(|timeout| tokio::time::Instant::now() + timeout);
        let mut collected = Vec::new();
        while collected.len() < max_replies {
            let next = match deadline {
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline, replies.receiver.recv()).await {
                        Ok(next) => next,
                        Err(_elapsed) => break,
                    }
                }
                None => replies.receiver.recv().await,
            };
            match next {
                Some(reply) => collected.push(reply),
                // The broker is gone (it cannot be while `self` lives).
                None => break,
            }
        }
        if collected.is_empty() {
            return Err(match timeout {
                Some(timeout) => Error::Timeout(timeout),
                None => Error::Other(format!(
                    "the embedded broker closed during a request on `{subject}`"
                )),
            });
        }
        Ok(collected)
    }

    async fn subscribe(&self, subject: &str, queue_group: Option<&str>) -> Result<Subscription> {
        subject::check_subscribe(subject)?;
        if let Some(group) = queue_group {
            subject::check_queue_group(group)?;
        }
        Ok(Box::pin(self.add(subject, queue_group)))
    }
}

/// One subscription's messages; dropping it removes the subscription.
struct MemorySubscription {
    receiver: mpsc::Receiver<Message>,
    id: u64,
    shared: Weak<Shared>,
}

impl Stream for MemorySubscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let mut table = shared.lock();
        let Some(index) = table.subscriptions.iter().position(|e| e.id == self.id) else {
            return;
        };
        let entry = table.subscriptions.remove(index);
        // The last member of a group takes the group's turn with it.
        if let Some(group) = entry.queue_group {
            let others = table
                .subscriptions
                .iter()
                .any(|e| e.queue_group.as_ref() == Some(&group));
            if !others {
                table.round_robin.remove(&group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    const WAIT: Duration = Duration::from_secs(10);

    async fn next(subscription: &mut Subscription) -> Message {
        tokio::time::timeout(WAIT, subscription.next())
            .await
            .expect("a message within the bound")
            .expect("the stream is open")
    }

    /// How many messages `subscription` holds now (unconstrained: tokio's
    /// cooperative budget would otherwise cut the count at 128).
    fn pending(subscription: &mut Subscription) -> usize {
        use futures_util::FutureExt;
        let mut n = 0;
        while let Some(Some(_)) = tokio::task::unconstrained(subscription.next()).now_or_never() {
            n += 1;
        }
        n
    }

    #[tokio::test]
    async fn delivers_in_order_to_matching_subscriptions() {
        let broker = MemoryBroker::new();
        let mut exact = broker.subscribe("a.b", None).await.unwrap();
        let mut star = broker.subscribe("a.*", None).await.unwrap();
        let mut other = broker.subscribe("x.>", None).await.unwrap();
        for i in 0..100 {
            broker
                .publish(Message::new("a.b", i.to_string()))
                .await
                .unwrap();
        }
        for i in 0..100 {
            assert_eq!(next(&mut exact).await.payload, i.to_string());
            assert_eq!(next(&mut star).await.payload, i.to_string());
        }
        assert_eq!(pending(&mut other), 0);
    }

    #[tokio::test]
    async fn queue_groups_share_round_robin() {
        let broker = MemoryBroker::new();
        let mut a = broker.subscribe("jobs", Some("workers")).await.unwrap();
        let mut b = broker.subscribe("jobs", Some("workers")).await.unwrap();
        let mut all = broker.subscribe("jobs", None).await.unwrap();
        for i in 0..10 {
            broker
                .publish(Message::new("jobs", i.to_string()))
                .await
                .unwrap();
        }
        assert_eq!(pending(&mut a), 5);
        assert_eq!(pending(&mut b), 5);
        assert_eq!(pending(&mut all), 10);
    }

    #[tokio::test]
    async fn dropped_subscriptions_are_removed() {
        let broker = MemoryBroker::new();
        let subscription = broker.subscribe("a", None).await.unwrap();
        let member = broker.subscribe("a", Some("g")).await.unwrap();
        broker.publish(Message::new("a", "")).await.unwrap();
        assert_eq!(broker.shared.lock().subscriptions.len(), 2);
        assert_eq!(broker.shared.lock().round_robin.len(), 1);
        drop(subscription);
        drop(member);
        assert_eq!(broker.shared.lock().subscriptions.len(), 0);
        assert!(broker.shared.lock().round_robin.is_empty());
        assert_eq!(
            broker.request(Message::new("a", ""), Some(WAIT), 1).await,
            Err(Error::NoResponders("a".to_string()))
        );
    }

    #[tokio::test]
    async fn slow_consumer_loses_only_what_does_not_fit() {
        let broker = MemoryBroker::new();
        let mut slow = broker.subscribe("s", None).await.unwrap();
        for _ in 0..SUBSCRIPTION_CAPACITY + 10 {
            broker.publish(Message::new("s", "x")).await.unwrap();
        }
        assert!(broker.shared.lock().subscriptions[0].lagging);
        assert_eq!(pending(&mut slow), SUBSCRIPTION_CAPACITY);
        broker.publish(Message::new("s", "again")).await.unwrap();
        assert!(!broker.shared.lock().subscriptions[0].lagging);
        assert_eq!(next(&mut slow).await.payload, "again");
    }

    #[tokio::test]
    async fn streams_end_when_the_broker_is_dropped() {
        let broker = MemoryBroker::new();
        let mut subscription = broker.subscribe("a", None).await.unwrap();
        drop(broker);
        assert_eq!(subscription.next().await, None);
    }

    #[tokio::test]
    async fn size_counts_headers() {
        let broker = MemoryBroker::new();
        let exactly = Message::new("a", vec![0u8; MAX_PAYLOAD]);
        broker.publish(exactly.clone()).await.unwrap();
        let mut over = exactly;
        over.headers.push(("k".into(), "v".into()));
        match broker.publish(over).await {
            Err(Error::Other(message)) => {
                assert!(
                    message.contains(&format!("{}", MAX_PAYLOAD + 18)),
                    "{message}"
                );
                assert!(message.contains(&MAX_PAYLOAD.to_string()), "{message}");
            }
            other => panic!("expected Other, got {other:?}"),
        }
    }

    #[test]
    fn inboxes_are_unique() {
        let a = new_inbox();
        let b = new_inbox();
        assert_ne!(a, b);
        assert!(a.starts_with("_INBOX."));
        assert_eq!(subject::check_publish(&a), Ok(()));
    }
}
