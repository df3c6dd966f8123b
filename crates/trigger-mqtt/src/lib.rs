//! Skiff's MQTT trigger: runs a component for every message published on an
//! MQTT topic, compatible with Spin's MQTT trigger plugin
//! (spinkube/spin-trigger-mqtt).
//!
//! For each `[[trigger.mqtt]]` of an app (`topic`, `qos`, `component`; the
//! broker, login and keep-alive from `[application.trigger.mqtt]`),
//! [`MqttTrigger::run`] subscribes on that broker (MQTT 3.1.1, over rumqttc;
//! `mqtts://` over TLS, the broker's certificate verified against the
//! system's roots) and hands every message to a **fresh instance** of the
//! component through the root-level export
//! `handle-message: func(message: payload, metadata: metadata) -> result<_, error>`
//! of the unversioned world `spin:mqtt-trigger/spin-mqtt` (vendored in
//! `wit/deps/spin-mqtt-trigger`), `metadata.topic` being the topic the
//! message was published on (for a wildcard subscription, not the filter).
//! The guest may import `spin:mqtt-trigger/spin-mqtt-types` (types only)
//! and whatever else the app's other triggers give it: the same linker and
//! grants.
//!
//! Semantics:
//! - each trigger has a connection of its own; messages are handled
//!   concurrently, bounded by the component's `max_concurrency` (waiting
//!   for a slot, not dropping);
//! - QoS 1 and 2 messages are acknowledged only once their handler has
//!   finished (returned `ok`, returned an error, trapped or timed out), in
//!   the order they arrived. The session of a QoS 1/2 subscription is
//!   persistent (`clean session` off) under a client id derived from the
//!   host name, app, component, broker, login, topic and QoS: when Skiff
//!   stops mid-handler (a crash, a kill), the broker sends the message again
//!   once the same subscription on the same host connects again, and keeps
//!   QoS 1/2 messages published while it was away. Delivery is at least
//!   once: a handler may see a message twice. A QoS 0 subscription uses a
//!   clean session under a client id of its own per connection;
//! - a handler that returns `error::other(…)`, traps, runs out of memory or
//!   passes the component's `timeout` is logged with the component id and
//!   the topic; later messages are delivered as usual;
//! - a broker that is down at start or goes away later is connected to
//!   again with backoff (0.5 s doubling to 30 s), each attempt logged; the
//!   subscription is made again on every connection;
//! - a new version of the app (`skiff up --watch`) takes over the
//!   connection of each subscription it shares with the old one
//!   ([`Running::hand_over`]), so a reload neither loses nor repeats a
//!   message on it.
//!
//! ```no_run
//! # async fn example(
//! #     engine: std::sync::Arc<skiff_engine::SkiffEngine>,
//! #     app: skiff_manifest::App,
//! #     options: skiff_trigger_http::LoadOptions,
//! # ) -> anyhow::Result<()> {
//! let trigger = skiff_trigger_mqtt::MqttTrigger::load(engine, &app, &options)?;
//! for s in trigger.subscriptions() {
//!     println!("{} `{}` (QoS {}) -> {}", s.broker, s.topic, s.qos, s.component);
//! }
//! trigger
//!     .run(async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
mod broker;
mod session;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result};
use skiff_engine::SkiffEngine;
use skiff_host::HostState;
use skiff_manifest::App;
use skiff_manifest::mqtt::{Qos, check_topic_filter};
use skiff_trigger_http::LoadOptions;
use skiff_trigger_http::trigger::{self, Handover, TriggerComponent};
use tokio::sync::mpsc;

use crate::bindings::spin::mqtt_trigger::spin_mqtt_types as mqtt_types;
use crate::broker::Broker;

/// One loaded component, ready to instantiate per message.
struct MqttComponent {
    component: TriggerComponent,
    pre: bindings::SpinMqttPre<HostState>,
}

/// One `[[trigger.mqtt]]`, resolved: a connection of its own.
pub(crate) struct Subscription {
    component: Arc<MqttComponent>,
    broker: Broker,
    /// Username and password; `None` connects anonymously.
    login: Option<(String, String)>,
    keep_alive: u16,
    /// The topic filter, templates expanded.
    topic: String,
    qos: Qos,
    /// The client id of a persistent session (QoS 1 and 2); `None`: a clean
    /// session under a fresh id per connection.
    session: Option<String>,
}

impl Subscription {
    /// What a connection of this subscription is made of, and the
    /// component's id: a subscription of a new version of the app the same
    /// in all of these takes over the old one's connection.
    fn identity(&self) -> String {
        format!(
            "{:?}\0{:?}\0{}\0{}\0{}\0{:?}\0{}",
            self.broker,
            self.login,
            self.keep_alive,
            self.topic,
            self.qos,
            self.session,
            self.component.component.id
        )
    }

    /// The options of the next connection.
    fn options(&self) -> Result<rumqttc::MqttOptions> {
        let id = self
            .session
            .clone()
            .unwrap_or_else(broker::unique_client_id);
        self.broker.options(
            &id,
            self.login.as_ref(),
            self.keep_alive,
            self.session.is_none(),
        )
    }
}

/// One subscription, for the start-up banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttSubscription {
    /// The broker, as `mqtt://host:port` or `mqtts://host:port`.
    pub broker: String,
    /// The topic filter, templates expanded.
    pub topic: String,
    /// The subscription's quality of service.
    pub qos: Qos,
    /// The component id.
    pub component: String,
}

/// An app's MQTT triggers, loaded and ready to subscribe.
pub struct MqttTrigger {
    /// `None` for an app without MQTT triggers.
    engine: Option<Arc<SkiffEngine>>,
    subscriptions: Vec<Arc<Subscription>>,
}

impl MqttTrigger {
    /// Compiles, links and pre-instantiates every component an app's
    /// `[[trigger.mqtt]]` entries name, and resolves their brokers, logins
    /// and topics (`{{ variable }}` templates expand from the app's
    /// variables). Fails naming the component that does not export
    /// `handle-message` (or whose imports do not fit), or the trigger whose
    /// address or expanded topic is not valid. An app without MQTT triggers
    /// loads as an empty trigger ([`MqttTrigger::is_empty`]).
    pub fn load(engine: Arc<SkiffEngine>, app: &App, options: &LoadOptions) -> Result<Self> {
        let mut trigger = MqttTrigger {
            engine: None,
            subscriptions: Vec::new(),
        };
        if app.mqtt_triggers.is_empty() {
            return Ok(trigger);
        }
        let mut linker = skiff_host::component_linker(engine.engine())?;
        // The types-only interface a guest may import: nothing to define in it.
        linker
            .instance(bindings::MQTT_TYPES)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("could not add `{}` to the linker", bindings::MQTT_TYPES))?;
        let expand = |what: &str, text: &str, line: usize| {
            trigger::expand(options, text, &format!("{what} of the mqtt trigger"), line)
        };
        let mut components: HashMap<&str, Arc<MqttComponent>> = HashMap::new();
        let mut sessions: HashMap<String, usize> = HashMap::new();
        for t in &app.mqtt_triggers {
            let component = match components.get(t.component.as_str()) {
                Some(c) => c.clone(),
                None => {
                    let c = Arc::new(load_component(&engine, &linker, app, options, t)?);
                    components.insert(&t.component, c.clone());
                    c
                }
            };
            let address = t.effective_address(app).with_context(|| {
                format!(
                    "the mqtt trigger on line {} has no broker address: set `address` in \
                     [application.trigger.mqtt]",
                    t.line
                )
            })?;
            let address = expand("address", address, t.line)?;
            let broker = Broker::parse(&address).with_context(|| {
                format!("invalid address of the mqtt trigger on line {}", t.line)
            })?;
            let topic = expand("topic", &t.topic, t.line)?;
            check_topic_filter(&topic)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("invalid topic of the mqtt trigger on line {}", t.line))?;
            let username = match &app.mqtt.username {
                Some(u) => expand("username", u, t.line)?,
                None => String::new(),
            };
            let password = match &app.mqtt.password {
                Some(p) => expand("password", p, t.line)?,
                None => String::new(),
            };
            anyhow::ensure!(
                !username.is_empty() || password.is_empty(),
                "[application.trigger.mqtt] has a `password` but no `username`: MQTT sends a \
                 password only with a username"
            );
            let login = (!username.is_empty()).then(|| (username.clone(), password));
            let session = (t.qos != Qos::AtMostOnce).then(|| {
                let qos = t.qos.to_string();
                let parts = [
                    app.name.as_str(),
                    component.component.id.as_ref(),
                    &broker.display(),
                    &username,
                    &topic,
                    &qos,
                ];
                // The same subscription twice gets a session each.
                let key = parts.join("\0");
                let n = sessions.entry(key).or_default();
                *n += 1;
                let n = n.to_string();
                let mut parts = parts.to_vec();
                parts.push(&n);
                broker::session_client_id(&parts)
            });
            trigger.subscriptions.push(Arc::new(Subscription {
                component,
                broker,
                login,
                keep_alive: app.mqtt.keep_alive,
                topic,
                qos: t.qos,
                session,
            }));
        }
        trigger.engine = Some(engine);
        Ok(trigger)
    }

    /// Whether the app has no MQTT triggers.
    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }

    /// Every subscription, in manifest order.
    pub fn subscriptions(&self) -> Vec<MqttSubscription> {
        self.subscriptions
            .iter()
            .map(|s| MqttSubscription {
                broker: s.broker.display(),
                topic: s.topic.clone(),
                qos: s.qos,
                component: s.component.component.id.to_string(),
            })
            .collect()
    }

    /// Subscribes and delivers messages until `shutdown` resolves; then
    /// waits (at most 10 s) for the handlers still running, acknowledges
    /// what they handled and disconnects.
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

/// What a connection's messages go to: one version of the app's
/// subscription (its component, on its engine).
pub(crate) struct Target {
    pub engine: Arc<SkiffEngine>,
    pub sub: Arc<Subscription>,
}

/// Started MQTT triggers: a connection per subscription, known by its
/// [`Subscription::identity`].
#[derive(Default)]
pub struct Running(Handover<String, Target>);

impl Running {
    /// Hands the connections to `next`, a new version of the app, without
    /// a gap: a subscription both versions have (same broker, login, topic,
    /// QoS, session and component id) keeps its connection, whose messages
    /// go to the new version's component from then on, so none is lost or
    /// delivered twice. A subscription only `next` has connects afresh; one
    /// only the old version had disconnects once its handlers finish.
    pub fn hand_over(self, next: MqttTrigger) -> Running {
        let subscriptions: Vec<_> = match next.engine {
            Some(engine) => next
                .subscriptions
                .into_iter()
                .map(|sub| {
                    let key = sub.identity();
                    let target = Arc::new(Target {
                        engine: engine.clone(),
                        sub,
                    });
                    (key, target, ())
                })
                .collect(),
            None => Vec::new(),
        };
        Running(
            self.0
                .hand_over(subscriptions, |(), target, stop| session::run(target, stop)),
        )
    }

    /// Tells every connection to stop taking messages (handlers in progress
    /// finish, then what they handled is acknowledged).
    pub fn stop(&self) {
        self.0.stop();
    }

    /// Stops the connections and waits (at most 10 s each) for the handlers
    /// still running, their acknowledgements and the disconnects.
    pub async fn finish(self) {
        self.0.finish("mqtt trigger").await;
    }
}

/// Loads the component trigger `t` names and checks its export.
fn load_component(
    engine: &SkiffEngine,
    linker: &wasmtime::component::Linker<HostState>,
    app: &App,
    options: &LoadOptions,
    t: &skiff_manifest::MqttTrigger,
) -> Result<MqttComponent> {
    let (component, pre) = TriggerComponent::load(
        engine,
        linker,
        app,
        options,
        (&t.component, t.line),
        ("mqtt", "mqtt messages"),
    )?;
    let pre = bindings::SpinMqttPre::new(pre)
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!(
                "component `{}` cannot handle mqtt messages: it must export the function \
                 `handle-message: func(message: payload, metadata: metadata) -> result<_, \
                 error>` of Spin's MQTT trigger (world `spin:mqtt-trigger/spin-mqtt`)",
                component.id
            )
        })?;
    tracing::info!("component `{}` loaded for the mqtt trigger", component.id);
    Ok(MqttComponent { component, pre })
}

/// Delivers one message, published on `topic`, to a fresh instance of
/// `sub`'s component; every failure is logged with the component id and the
/// topic. Then reports `done`'s sequence number, for the message to be
/// acknowledged.
async fn handle(
    engine: Arc<SkiffEngine>,
    sub: Arc<Subscription>,
    topic: String,
    payload: Vec<u8>,
    done: Option<(u64, mpsc::UnboundedSender<u64>)>,
) {
    let place = if topic == sub.topic {
        format!("mqtt topic `{topic}`")
    } else {
        format!("mqtt topic `{topic}` (subscription `{}`)", sub.topic)
    };
    let span = skiff_telemetry::event::consumer_span(
        "mqtt",
        &topic,
        &sub.component.component.id,
        None,
        None,
    );
    let pre = &sub.component.pre;
    sub.component
        .component
        .run(&engine, &place, span, move |mut store| async move {
            let instance = pre.instantiate_async(&mut store).await?;
            let metadata = mqtt_types::Metadata { topic };
            Ok(instance
                .call_handle_message(&mut store, &payload, &metadata)
                .await?
                .map_err(|mqtt_types::Error::Other(message)| message))
        })
        .await;
    if let Some((seq, tx)) = done {
        let _ = tx.send(seq);
    }
}
