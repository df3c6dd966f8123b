//! Integration tests of `skiff-messaging`: the broker suite on both
//! backends (the embedded broker and a loopback `nats-server`), what only
//! NATS has (authentication, a server that goes away and comes back), and
//! the manager that hands an app its brokers by label.

mod backends;
mod manager;
mod nats;

use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use skiff_messaging::{Message, Subscription};

/// The bound on waiting for something that should happen.
pub const WAIT: Duration = Duration::from_secs(20);

/// The next message of `subscription`, waiting at most [`WAIT`].
pub async fn next(subscription: &mut Subscription) -> Result<Message> {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .with_context(|| format!("no message within {WAIT:?}"))?
        .context("the subscription ended")
}

/// The messages `subscription` holds now, without waiting for more
/// (unconstrained: tokio's cooperative budget would otherwise make a full
/// queue look empty after 128 messages).
pub fn drain_ready(subscription: &mut Subscription) -> Vec<Message> {
    use futures_util::FutureExt;
    let mut messages = Vec::new();
    while let Some(Some(message)) = tokio::task::unconstrained(subscription.next()).now_or_never() {
        messages.push(message);
    }
    messages
}

/// The payload as text.
pub fn text(message: &Message) -> String {
    String::from_utf8_lossy(&message.payload).into_owned()
}
