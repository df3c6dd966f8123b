//! Skiff's messaging trigger: runs a component for every message on the
//! subjects an app subscribes to.
//!
//! For each `[[trigger.messaging]]` of an app (`subject`, optional
//! `queue_group`, `broker` label, `component`), [`MessagingTrigger::run`]
//! subscribes on the app's broker of that label (the embedded broker, or
//! the one the runtime config's `[message_broker.LABEL]` names) and hands
//! every message to a **fresh instance** of the component, through its
//! export:
//! - `wasi:messaging/incoming-handler@0.2.0-draft#handle(message)`: the
//!   guest reads the message's topic, data, content type and metadata, and
//!   answers a request with `request-reply.reply`;
//! - or `wasmcloud:messaging/handler@0.2.0#handle-message(broker-message)`:
//!   the guest answers a request by publishing to its `reply-to` subject.
//!
//! Replying needs no grant: the answer goes back through the broker the
//! message came from. Anything else the handler publishes or requests goes
//! through the brokers its component's `message_brokers` grant.
//!
//! A handler that returns an error, traps, runs out of memory or passes the
//! component's `timeout` is logged with the component id and the subject;
//! later messages are delivered as usual. A broker that cannot be reached
//! is retried with exponential backoff (0.5 s doubling to 30 s); NATS
//! subscriptions survive reconnects on their own. A new version of the app
//! (`skiff up --watch`) takes over the subscriptions its routes share with
//! the old one ([`Running::hand_over`]), so a reload neither loses nor
//! repeats a message on them. When a runtime-config reload puts another
//! broker behind a label, each subscription there moves to it: subscribed
//! on the new broker first, then let go on the old one. Messages are handled
//! concurrently, bounded by the component's `max_concurrency` (waiting
//! rather than dropping).
//!
//! ```no_run
//! # async fn example(
//! #     engine: std::sync::Arc<skiff_engine::SkiffEngine>,
//! #     app: skiff_manifest::App,
//! #     options: skiff_trigger_http::LoadOptions,
//! # ) -> anyhow::Result<()> {
//! let trigger = skiff_trigger_messaging::MessagingTrigger::load(engine, &app, &options)?;
//! for s in trigger.subscriptions() {
//!     println!("{} `{}` -> {}", s.broker, s.subject, s.component);
//! }
//! trigger
//!     .run(async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use skiff_engine::SkiffEngine;
use skiff_host::HostState;
use skiff_manifest::App;
use skiff_messaging::bindings::{wasi, wasmcloud};
use skiff_messaging::{Broker, Message, MessagingHostView, MessagingManager};
use skiff_trigger_http::LoadOptions;
use skiff_trigger_http::trigger::{self, Handover, TriggerComponent, drain, stopped};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// First and longest wait before trying a broker again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// The export a component handles messages with.
enum Handler {
    /// `wasi:messaging/incoming-handler@0.2.0-draft`.
    Wasi(wasi::MessagingPre<HostState>),
    /// `wasmcloud:messaging/handler@0.2.0`.
    Wasmcloud(wasmcloud::MessagingPre<HostState>),
}

/// One loaded component, ready to instantiate per message.
struct MessagingComponent {
    component: TriggerComponent,
    handler: Handler,
}

/// One subscription: a subject on a broker, feeding one component.
struct Route {
    broker: String,
    subject: String,
    queue_group: Option<String>,
    component: usize,
}

/// One subscription, for the start-up banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The broker label and what serves it, e.g. `default (embedded)`.
    pub broker: String,
    /// The subject (wildcards allowed).
    pub subject: String,
    /// The queue group, if any.
    pub queue_group: Option<String>,
    /// The component id.
    pub component: String,
}

/// An app's messaging triggers, loaded and ready to subscribe.
pub struct MessagingTrigger {
    /// `None` for an app without messaging triggers.
    engine: Option<Arc<SkiffEngine>>,
    manager: Arc<MessagingManager>,
    components: Vec<Arc<MessagingComponent>>,
    routes: Vec<Route>,
}

impl MessagingTrigger {
    /// Compiles, links and pre-instantiates every component an app's
    /// `[[trigger.messaging]]` entries name, and expands their subjects
    /// (`{{ variable }}` templates come from the app's variables). Fails
    /// naming the component whose export or imports do not fit. An app
    /// without messaging triggers loads as an empty trigger
    /// ([`MessagingTrigger::is_empty`]).
    pub fn load(engine: Arc<SkiffEngine>, app: &App, options: &LoadOptions) -> Result<Self> {
        let mut trigger = MessagingTrigger {
            engine: None,
            manager: options.messaging.clone(),
            components: Vec::new(),
            routes: Vec::new(),
        };
        if app.messaging_triggers.is_empty() {
            return Ok(trigger);
        }
        let linker = skiff_host::component_linker(engine.engine())?;
        let mut index: HashMap<&str, usize> = HashMap::new();
        for t in &app.messaging_triggers {
            let component = match index.get(t.component.as_str()) {
                Some(&i) => i,
                None => {
                    let (component, pre) = TriggerComponent::load(
                        &engine,
                        &linker,
                        app,
                        options,
                        (&t.component, t.line),
                        ("messaging", "messages"),
                    )?;
                    let handler = match wasi::MessagingPre::new(pre.clone()) {
                        Ok(pre) => Handler::Wasi(pre),
                        Err(err) => match wasmcloud::MessagingPre::new(pre) {
                            Ok(pre) => Handler::Wasmcloud(pre),
                            Err(_) => {
                                return Err(anyhow::Error::from(err)).with_context(|| {
                                    format!(
                                        "component `{}` cannot handle messages: it must export \
                                         `wasi:messaging/incoming-handler@0.2.0-draft` or \
                                         `wasmcloud:messaging/handler@0.2.0`",
                                        component.id
                                    )
                                });
                            }
                        },
                    };
                    tracing::info!(
                        "component `{}` loaded for the messaging trigger",
                        component.id
                    );
                    trigger
                        .components
                        .push(Arc::new(MessagingComponent { component, handler }));
                    index.insert(&t.component, trigger.components.len() - 1);
                    trigger.components.len() - 1
                }
            };
            let subject = trigger::expand(
                options,
                &t.subject,
                "subject of the messaging trigger",
                t.line,
            )?;
            skiff_messaging::subject::check_subscribe(&subject).with_context(|| {
                format!(
                    "invalid subject of the messaging trigger on line {}",
                    t.line
                )
            })?;
            trigger.routes.push(Route {
                broker: t.broker.clone(),
                subject,
                queue_group: t.queue_group.clone(),
                component,
            });
        }
        trigger.engine = Some(engine);
        Ok(trigger)
    }

    /// Whether the app has no messaging triggers.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Every subscription, in manifest order.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.routes
            .iter()
            .map(|r| Subscription {
                broker: format!("{} ({})", r.broker, self.manager.describe(&r.broker)),
                subject: r.subject.clone(),
                queue_group: r.queue_group.clone(),
                component: self.components[r.component].component.id.to_string(),
            })
            .collect()
    }

    /// Subscribes and delivers messages until `shutdown` resolves; then
    /// waits (at most 10 s) for the handlers still running.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let running = self.start();
        shutdown.await;
        running.finish().await;
    }

    /// Subscribes on the current tokio runtime and delivers messages until
    /// the [`Running`] returned is stopped.
    pub fn start(self) -> Running {
        Running::default().hand_over(self)
    }
}

/// What a subscription's messages go to: one version of the app's
/// component.
struct Target {
    engine: Arc<SkiffEngine>,
    component: Arc<MessagingComponent>,
}

/// Started messaging triggers: a subscriber per route, known by its broker
/// label, subject and queue group.
#[derive(Default)]
pub struct Running(Handover<(String, String, Option<String>), Target>);

impl Running {
    /// Hands the subscriptions to `next`, a new version of the app, without
    /// a gap: a route both versions have (same broker label, subject and
    /// queue group) keeps its subscription, whose messages go to the new
    /// version's component from then on, so none is lost or delivered
    /// twice. A route only `next` has is subscribed afresh; one only the
    /// old version had is unsubscribed. Handlers in progress finish on the
    /// version they started on.
    pub fn hand_over(self, next: MessagingTrigger) -> Running {
        let routes: Vec<_> = match next.engine {
            Some(engine) => next
                .routes
                .into_iter()
                .map(|route| {
                    let key = (
                        route.broker.clone(),
                        route.subject.clone(),
                        route.queue_group.clone(),
                    );
                    let target = Arc::new(Target {
                        engine: engine.clone(),
                        component: next.components[route.component].clone(),
                    });
                    (key, target, route)
                })
                .collect(),
            None => Vec::new(),
        };
        let manager = next.manager;
        Running(self.0.hand_over(routes, |route, target, stop| {
            subscribe_loop(manager.clone(), route, target, stop)
        }))
    }

    /// Tells every subscriber to stop taking messages (handlers in progress
    /// finish).
    pub fn stop(&self) {
        self.0.stop();
    }

    /// Stops the subscribers and waits (at most 10 s each) for the handlers
    /// still running.
    pub async fn finish(self) {
        self.0.finish("messaging trigger").await;
    }
}

/// Subscribes `route` and delivers its messages to the component in
/// `target`, which a new version of the app replaces; tries again with
/// backoff whenever the broker cannot be reached or the subscription ends
/// (and at once after a runtime-config reload), until `stop` turns true. A
/// reload that moves the label to another broker moves the subscription
/// itself ([`MessagingManager::subscribe`]).
async fn subscribe_loop(
    manager: Arc<MessagingManager>,
    route: Route,
    target: watch::Receiver<Arc<Target>>,
    mut stop: watch::Receiver<bool>,
) {
    let label = &route.broker;
    let subject = &route.subject;
    let group = route
        .queue_group
        .as_deref()
        .map(|g| format!(" in queue group `{g}`"))
        .unwrap_or_default();
    let mut backoff = BACKOFF.0;
    let mut handlers = JoinSet::new();
    let mut changes = manager.changes();
    loop {
        changes.mark_unchanged();
        let subscribed = manager.subscribe(label, subject, route.queue_group.as_deref());
        let subscribed = tokio::select! {
            subscribed = subscribed => subscribed,
            () = stopped(&mut stop) => break,
        };
        match subscribed {
            // A runtime-config reload that puts another broker behind the
            // label moves the subscription there itself.
            Ok(mut messages) => {
                backoff = BACKOFF.0;
                tracing::info!(
                    "messaging trigger subscribed to `{subject}`{group} on broker `{label}` ({})",
                    messages.broker().describe()
                );
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => {
                                let to = target.borrow().clone();
                                handlers.spawn(handle(
                                    to.engine.clone(),
                                    to.component.clone(),
                                    messages.broker().clone(),
                                    message,
                                ));
                            }
                            None => {
                                tracing::warn!(
                                    "messaging trigger lost its subscription to `{subject}` on \
                                     broker `{label}` ({}); subscribing again",
                                    messages.broker().describe()
                                );
                                break;
                            }
                        },
                        // Reap finished handlers so the set does not grow.
                        Some(_) = handlers.join_next(), if !handlers.is_empty() => {}
                        () = stopped(&mut stop) => {
                            drain(handlers, "messaging trigger").await;
                            return;
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(
                "messaging trigger could not subscribe to `{subject}` on broker `{label}` ({}): \
                 {err}; retrying in {backoff:?}",
                manager.describe(label)
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            // A reload may have put a broker that answers behind the label:
            // try it now rather than after the backoff.
            Ok(()) = changes.changed() => {}
            () = stopped(&mut stop) => break,
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
    drain(handlers, "messaging trigger").await;
}

/// Delivers one message to a fresh instance of `component`; every failure
/// is logged with the component id and the subject.
async fn handle(
    engine: Arc<SkiffEngine>,
    component: Arc<MessagingComponent>,
    broker: Arc<dyn Broker>,
    message: Message,
) {
    let place = format!("subject `{}`", message.subject);
    // A message that carries a trace (NATS headers) continues it.
    let header = |name: &str| {
        message
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let span = skiff_telemetry::event::consumer_span(
        broker.system(),
        &message.subject,
        &component.component.id,
        header("traceparent"),
        header("tracestate"),
    );
    let handler = &component.handler;
    component
        .component
        .run(&engine, &place, span, move |mut store| async move {
            Ok(match handler {
                Handler::Wasi(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let message = store.data_mut().messaging().receive(message, broker)?;
                    instance
                        .wasi_messaging_incoming_handler()
                        .call_handle(&mut store, message)
                        .await?
                        .map_err(|err| format!("{err:?}"))
                }
                Handler::Wasmcloud(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    if let Some(reply_to) = &message.reply_to {
                        store.data_mut().messaging().allow_reply(reply_to, broker);
                    }
                    let message =
                        wasmcloud::exports::wasmcloud::messaging::handler::BrokerMessage {
                            subject: message.subject,
                            body: message.payload.to_vec(),
                            reply_to: message.reply_to,
                        };
                    instance
                        .wasmcloud_messaging_handler()
                        .call_handle_message(&mut store, &message)
                        .await?
                }
            })
        })
        .await;
}
