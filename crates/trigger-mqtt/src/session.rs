//! One subscription's connection: connect, subscribe, hand each message to
//! a handler, acknowledge QoS 1/2 messages in the order they came once
//! their handlers are done, and connect again with backoff when the broker
//! goes away.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Outgoing, Packet, Publish, QoS};
use skiff_trigger_http::trigger::{drain, stopped};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::broker::MAX_MESSAGE;
use crate::{Subscription, Target, handle};

/// How long connecting and subscribing may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// First and longest wait before connecting again after a failure.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// How long a stopping subscription may take to send its last
/// acknowledgements and disconnect.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Requests (subscribe, acks) queued to the connection at most.
const REQUESTS: usize = 256;

/// Why a connection ended.
enum End {
    /// Shutdown was asked for (the connection was closed cleanly).
    Stopped,
    /// The connection failed; `subscribed` says whether it got as far as a
    /// subscription (which resets the backoff).
    Lost { why: String, subscribed: bool },
}

/// Messages of one connection awaiting acknowledgement, in the order they
/// arrived: MQTT wants acknowledgements in that order, and handlers
/// finish in any.
#[derive(Default)]
struct InOrder {
    next: u64,
    /// (sequence number, message, its handler is done)
    pending: VecDeque<(u64, Publish, bool)>,
}

impl InOrder {
    /// Queues `publish`; returns its sequence number.
    fn push(&mut self, publish: Publish) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.pending.push_back((seq, publish, false));
        seq
    }

    /// Marks `seq` done; returns the messages now ready to acknowledge.
    fn finish(&mut self, seq: u64) -> Vec<Publish> {
        if let Some(entry) = self.pending.iter_mut().find(|(s, _, _)| *s == seq) {
            entry.2 = true;
        }
        let mut ready = Vec::new();
        while self.pending.front().is_some_and(|(_, _, done)| *done) {
            let (_, publish, _) = self.pending.pop_front().expect("a front entry");
            ready.push(publish);
        }
        ready
    }
}

/// Aborts the task when dropped.
struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the subscription of `target` until `stop` turns true: connects,
/// subscribes, delivers to the version `target` holds when a message
/// arrives (a new version of the app replaces it), and connects again with
/// backoff (0.5 s doubling to 30 s) whenever the connection fails; then
/// waits (at most 10 s) for the handlers running.
pub(crate) async fn run(target: watch::Receiver<Arc<Target>>, mut stop: watch::Receiver<bool>) {
    // Every version has the same connection (see `Subscription::identity`).
    let sub = target.borrow().sub.clone();
    let mut backoff = BACKOFF.0;
    let mut handlers = JoinSet::new();
    let place = format!("`{}` at {}", sub.topic, sub.broker.display());
    loop {
        match connection(&target, &sub, &mut handlers, &mut stop).await {
            End::Stopped => return,
            End::Lost { why, subscribed } => {
                if subscribed {
                    backoff = BACKOFF.0;
                    tracing::warn!(
                        component = %sub.component.component.id,
                        "mqtt trigger lost its connection for {place}: {why}; reconnecting in \
                         {backoff:?}"
                    );
                } else {
                    tracing::warn!(
                        component = %sub.component.component.id,
                        "mqtt trigger could not subscribe to {place}: {why}; retrying in \
                         {backoff:?}"
                    );
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stopped(&mut stop) => break,
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
    drain(handlers, "mqtt trigger").await;
}

/// One connection, from connecting until it fails or shutdown is asked for.
async fn connection(
    target: &watch::Receiver<Arc<Target>>,
    sub: &Arc<Subscription>,
    handlers: &mut JoinSet<()>,
    stop: &mut watch::Receiver<bool>,
) -> End {
    let lost = |why: String, subscribed| End::Lost { why, subscribed };
    let options = match sub.options() {
        Ok(options) => options,
        Err(err) => return lost(format!("{err:#}"), false),
    };
    let (client, events) = AsyncClient::new(options, REQUESTS);
    // The event loop runs in a task of its own, so it is never dropped in
    // the middle of a read or write (its `poll` is not cancel-safe).
    let (event_tx, mut event_rx) = mpsc::channel(REQUESTS);
    let pump = Task(tokio::spawn(pump(events, event_tx)));
    // Acknowledgements go out in order from a task of their own, which may
    // wait for room in the request queue without holding up the events.
    let (ack_tx, ack_rx) = mpsc::unbounded_channel::<Publish>();
    let acker = Task(tokio::spawn(acknowledge(client.clone(), ack_rx)));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<u64>();
    let mut acks = InOrder::default();
    let mut subscribed = false;
    let deadline = tokio::time::sleep(CONNECT_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            event = event_rx.recv() => match event {
                Some(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    let qos = match sub.qos {
                        skiff_manifest::mqtt::Qos::AtMostOnce => QoS::AtMostOnce,
                        skiff_manifest::mqtt::Qos::AtLeastOnce => QoS::AtLeastOnce,
                        skiff_manifest::mqtt::Qos::ExactlyOnce => QoS::ExactlyOnce,
                    };
                    if let Err(err) = client.try_subscribe(sub.topic.clone(), qos) {
                        return lost(format!("could not subscribe: {err}"), false);
                    }
                }
                Some(Ok(Event::Incoming(Packet::SubAck(ack)))) => {
                    let refused = ack
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure));
                    if refused {
                        return lost(
                            "the broker refused the subscription (is the user allowed to \
                             read this topic?)"
                                .into(),
                            false,
                        );
                    }
                    subscribed = true;
                    tracing::info!(
                        component = %sub.component.component.id,
                        "mqtt trigger subscribed to `{}` (QoS {}) at {} for component `{}`",
                        sub.topic,
                        sub.qos,
                        sub.broker.display(),
                        sub.component.component.id
                    );
                }
                Some(Ok(Event::Incoming(Packet::Publish(publish))))
                    if publish.payload.len() > MAX_MESSAGE =>
                {
                    tracing::warn!(
                        component = %sub.component.component.id,
                        "mqtt trigger dropped a message of {} bytes on topic `{}` \
                         (subscription `{}`): a handler is given at most {} MiB{}",
                        publish.payload.len(),
                        publish.topic,
                        sub.topic,
                        MAX_MESSAGE >> 20,
                        if publish.qos == QoS::AtMostOnce {
                            ""
                        } else {
                            "; acknowledged, so the broker does not send it again"
                        }
                    );
                    if publish.qos != QoS::AtMostOnce {
                        let seq = acks.push(publish);
                        for publish in acks.finish(seq) {
                            let _ = ack_tx.send(publish);
                        }
                    }
                }
                Some(Ok(Event::Incoming(Packet::Publish(publish)))) => {
                    let done = (publish.qos != QoS::AtMostOnce)
                        .then(|| (acks.push(publish.clone()), done_tx.clone()));
                    let to = target.borrow().clone();
                    handlers.spawn(handle(
                        to.engine.clone(),
                        to.sub.clone(),
                        publish.topic,
                        publish.payload.to_vec(),
                        done,
                    ));
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return lost(describe(&err), subscribed),
                None => return lost("the connection's event loop ended".into(), subscribed),
            },
            Some(seq) = done_rx.recv() => {
                for publish in acks.finish(seq) {
                    let _ = ack_tx.send(publish);
                }
            }
            // Reap finished handlers so the set does not grow.
            Some(_) = handlers.join_next(), if !handlers.is_empty() => {}
            () = &mut deadline, if !subscribed => {
                return lost(format!("no subscription within {CONNECT_TIMEOUT:?}"), false);
            }
            () = stopped(stop) => break,
        }
    }
    // Shutdown: let the handlers finish, acknowledge what they handled (so
    // the broker does not send it again), and disconnect.
    drain(std::mem::take(handlers), "mqtt trigger").await;
    drop(done_tx);
    while let Ok(seq) = done_rx.try_recv() {
        for publish in acks.finish(seq) {
            let _ = ack_tx.send(publish);
        }
    }
    drop(ack_tx);
    let mut acker = acker;
    let flush = async {
        let _ = (&mut acker.0).await;
        let _ = client.disconnect().await;
        while let Some(event) = event_rx.recv().await {
            if matches!(event, Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(FLUSH_TIMEOUT, flush).await;
    drop(pump);
    End::Stopped
}

/// Polls `events` and forwards what it yields, until the connection fails
/// (the error is forwarded too) or nobody listens.
async fn pump(mut events: EventLoop, tx: mpsc::Sender<Result<Event, ConnectionError>>) {
    loop {
        let event = events.poll().await;
        let failed = event.is_err();
        if tx.send(event).await.is_err() || failed {
            return;
        }
    }
}

/// Acknowledges each message `rx` yields, in order.
async fn acknowledge(client: AsyncClient, mut rx: mpsc::UnboundedReceiver<Publish>) {
    while let Some(publish) = rx.recv().await {
        if client.ack(&publish).await.is_err() {
            return;
        }
    }
}

/// A connection error for the log.
fn describe(err: &ConnectionError) -> String {
    match err {
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker refused the connection ({code:?}); check username and password")
        }
        ConnectionError::NetworkTimeout => "no answer from the broker".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(n: u16) -> Publish {
        let mut p = Publish::new("t", QoS::AtLeastOnce, vec![]);
        p.pkid = n;
        p
    }

    #[test]
    fn acknowledgements_keep_the_arrival_order() {
        let mut acks = InOrder::default();
        let a = acks.push(publish(1));
        let b = acks.push(publish(2));
        let c = acks.push(publish(3));
        assert!(acks.finish(b).is_empty(), "2 waits for 1");
        let ready: Vec<u16> = acks.finish(a).iter().map(|p| p.pkid).collect();
        assert_eq!(ready, [1, 2]);
        let ready: Vec<u16> = acks.finish(c).iter().map(|p| p.pkid).collect();
        assert_eq!(ready, [3]);
        assert!(acks.pending.is_empty());
    }
}
