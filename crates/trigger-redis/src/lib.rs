//! Skiff's Redis trigger: runs a component for every message published on
//! a Redis channel.
//!
//! For each `[[trigger.redis]]` of an app (`channel`, the trigger's
//! `address` or the app's `[application.trigger.redis] address`, and
//! `component`), [`RedisTrigger::run`] subscribes to the channel on that
//! Redis server and hands every message to a **fresh instance** of the
//! component through its export
//! `fermyon:spin/inbound-redis#handle-message(payload) -> result<_, error>`
//! — what spin-sdk's `#[redis_component]` produces — or Spin 3's
//! `spin:redis/inbound-redis@3.0.0` (the same function as an `async func`,
//! run concurrently on an engine with concurrency support). Triggers on one
//! server share one subscription connection, which a new version of the app
//! (`skiff up --watch`) takes over as it is ([`Running::hand_over`]), so a
//! reload neither loses nor repeats a message.
//!
//! A handler that returns an error, traps, runs out of memory or passes the
//! component's `timeout` is logged with the component id and the channel;
//! later messages are delivered as usual. When the server goes away, the
//! trigger logs it and resubscribes with exponential backoff (0.5 s doubling
//! to 30 s); messages published while it was away are lost, as with any
//! Redis subscriber. Messages are handled concurrently (bounded by the
//! component's `max_concurrency`, waiting rather than dropping).
//!
//! ```no_run
//! # async fn example(
//! #     engine: std::sync::Arc<skiff_engine::SkiffEngine>,
//! #     app: skiff_manifest::App,
//! #     options: skiff_trigger_http::LoadOptions,
//! # ) -> anyhow::Result<()> {
//! let trigger = skiff_trigger_redis::RedisTrigger::load(engine, &app, &options)?;
//! for s in trigger.subscriptions() {
//!     println!("{} `{}` -> {}", s.server, s.channel, s.component);
//! }
//! // Until Ctrl-C.
//! trigger
//!     .run(async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use skiff_engine::SkiffEngine;
use skiff_host::HostState;
use skiff_manifest::App;
use skiff_trigger_http::LoadOptions;
use skiff_trigger_http::trigger::{self, Handover, TriggerComponent, drain, stopped};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::bindings::{spin2, spin3};

/// How long connecting and subscribing may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// First and longest wait before resubscribing after the server went away.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// The export a component handles messages with.
enum Handler {
    /// `fermyon:spin/inbound-redis`.
    Spin2(spin2::InboundRedisPre<HostState>),
    /// `spin:redis/inbound-redis@3.0.0`.
    Spin3(spin3::InboundRedisPre<HostState>),
}

/// One loaded component, ready to instantiate per message.
struct RedisComponent {
    component: TriggerComponent,
    handler: Handler,
}

/// The channels subscribed on one Redis server.
struct Server {
    /// The address as configured (may hold a password): used to connect.
    address: String,
    /// `redis://host:port`, `rediss://host:port` (TLS) or the socket path, for logs.
    display: String,
    /// channel → indices into [`RedisTrigger::components`].
    channels: BTreeMap<String, Vec<usize>>,
}

/// One `(server, channel, component)` subscription, for the start-up banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The server, as `redis://host:port` or `rediss://host:port` (TLS), never
    /// with its password.
    pub server: String,
    /// The channel.
    pub channel: String,
    /// The component id.
    pub component: String,
}

/// An app's Redis triggers, loaded and ready to subscribe.
pub struct RedisTrigger {
    /// `None` for an app without Redis triggers, which so holds no engine
    /// (the HTTP trigger may move to another one, see `HttpApp::rebind`).
    engine: Option<Arc<SkiffEngine>>,
    components: Vec<Arc<RedisComponent>>,
    servers: Vec<Server>,
}

impl RedisTrigger {
    /// Compiles, links and pre-instantiates every component an app's
    /// `[[trigger.redis]]` entries name, and resolves their addresses and
    /// channels (`{{ variable }}` templates expand from the app's variables).
    /// Fails naming the component whose export or imports do not fit, or
    /// the trigger whose address is unusable. An app without Redis triggers
    /// loads as an empty trigger ([`RedisTrigger::is_empty`]).
    pub fn load(engine: Arc<SkiffEngine>, app: &App, options: &LoadOptions) -> Result<Self> {
        let mut components: Vec<Arc<RedisComponent>> = Vec::new();
        let mut servers: Vec<Server> = Vec::new();
        if app.redis_triggers.is_empty() {
            return Ok(RedisTrigger {
                engine: None,
                components,
                servers,
            });
        }
        let linker = skiff_host::component_linker(engine.engine())?;
        let mut index: HashMap<&str, usize> = HashMap::new();
        let expand = |what: &str, text: &str, line: usize| {
            trigger::expand(options, text, &format!("{what} of the redis trigger"), line)
        };
        for trigger in &app.redis_triggers {
            let i = match index.get(trigger.component.as_str()) {
                Some(&i) => i,
                None => {
                    let (component, pre) = TriggerComponent::load(
                        &engine,
                        &linker,
                        app,
                        options,
                        (&trigger.component, trigger.line),
                        ("redis", "redis messages"),
                    )?;
                    let handler = match spin2::InboundRedisPre::new(pre.clone()) {
                        Ok(pre) => Handler::Spin2(pre),
                        Err(err) => match spin3::InboundRedisPre::new(pre) {
                            Ok(pre) => Handler::Spin3(pre),
                            Err(_) => {
                                return Err(anyhow::Error::from(err)).with_context(|| {
                                    format!(
                                        "component `{}` cannot handle redis messages: it must \
                                         export `fermyon:spin/inbound-redis` (spin-sdk's \
                                         `#[redis_component]`) or \
                                         `spin:redis/inbound-redis@3.0.0`",
                                        component.id
                                    )
                                });
                            }
                        },
                    };
                    tracing::info!("component `{}` loaded for the redis trigger", component.id);
                    components.push(Arc::new(RedisComponent { component, handler }));
                    index.insert(&trigger.component, components.len() - 1);
                    components.len() - 1
                }
            };
            let address = trigger.effective_address(app).with_context(|| {
                format!(
                    "the redis trigger on line {} has no address: set `address` on it or in \
                     [application.trigger.redis]",
                    trigger.line
                )
            })?;
            let address = expand("address", address, trigger.line)?;
            let channel = expand("channel", &trigger.channel, trigger.line)?;
            let display = display_address(&address).with_context(|| {
                format!(
                    "invalid address of the redis trigger on line {}",
                    trigger.line
                )
            })?;
            let server = match servers.iter_mut().position(|s| s.address == address) {
                Some(s) => &mut servers[s],
                None => {
                    servers.push(Server {
                        address,
                        display,
                        channels: BTreeMap::new(),
                    });
                    servers.last_mut().expect("just pushed")
                }
            };
            server.channels.entry(channel).or_default().push(i);
        }
        Ok(RedisTrigger {
            engine: Some(engine),
            components,
            servers,
        })
    }

    /// Whether the app has no Redis triggers.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Every subscription, server by server, channels sorted.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let mut out = Vec::new();
        for server in &self.servers {
            for (channel, components) in &server.channels {
                for &i in components {
                    out.push(Subscription {
                        server: server.display.clone(),
                        channel: channel.clone(),
                        component: self.components[i].component.id.to_string(),
                    });
                }
            }
        }
        out
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

/// What a server's subscriber delivers to: one version of the app.
struct Routes {
    engine: Arc<SkiffEngine>,
    components: Arc<Vec<Arc<RedisComponent>>>,
    /// channel → indices into `components`.
    channels: BTreeMap<String, Vec<usize>>,
}

/// Started Redis triggers: a subscriber per server, by address.
#[derive(Default)]
pub struct Running(Handover<String, Routes>);

impl Running {
    /// Hands the subscriptions to `next`, a new version of the app, without
    /// a gap: a server both versions use keeps its connection, which first
    /// takes the new version's channel table (a message arriving from then on
    /// goes to the new version's components), then subscribes the channels
    /// only the new version has and unsubscribes those only the old had, so
    /// no message on a channel both versions subscribe is lost or delivered
    /// twice. A server only `next` uses is subscribed afresh; one only the
    /// old version used is let go. Handlers in progress finish on the
    /// version they started on.
    pub fn hand_over(self, next: RedisTrigger) -> Running {
        let components = Arc::new(next.components);
        let servers: Vec<_> = match next.engine {
            Some(engine) => next
                .servers
                .into_iter()
                .map(|server| {
                    let routes = Arc::new(Routes {
                        engine: engine.clone(),
                        components: components.clone(),
                        channels: server.channels,
                    });
                    (
                        server.address.clone(),
                        routes,
                        (server.address, server.display),
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        Running(
            self.0
                .hand_over(servers, |(address, display), routes, stop| {
                    subscribe_loop(address, display, routes, stop)
                }),
        )
    }

    /// Tells every subscriber to stop taking messages (handlers in progress
    /// finish).
    pub fn stop(&self) {
        self.0.stop();
    }

    /// Stops the subscribers and waits (at most 10 s each) for the handlers
    /// still running.
    pub async fn finish(self) {
        self.0.finish("redis trigger").await;
    }
}

/// `host:port` of a redis address, without credentials.
fn display_address(address: &str) -> Result<String> {
    use redis::IntoConnectionInfo;
    let info = address
        .into_connection_info()
        .map_err(|err| anyhow::anyhow!("`{}`: {err}", redact(address)))?;
    Ok(match info.addr() {
        redis::ConnectionAddr::Tcp(..) => format!("redis://{}", info.addr()),
        redis::ConnectionAddr::TcpTls { .. } => format!("rediss://{}", info.addr()),
        other => other.to_string(),
    })
}

/// The address with any password replaced by `***`.
fn redact(address: &str) -> String {
    match (address.find("://"), address.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &address[..scheme + 3], &address[at..])
        }
        _ => address.to_string(),
    }
}

/// `channels` as a list for logs: `` `a`, `b` ``.
fn names<'a>(channels: impl IntoIterator<Item = &'a String>) -> String {
    channels
        .into_iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Subscribes to the channels of the version in `routes` and delivers
/// messages; follows each new version `routes` is given on the same
/// connection; resubscribes with backoff whenever the connection fails,
/// until `stop` turns true.
async fn subscribe_loop(
    address: String,
    server: String,
    mut routes: watch::Receiver<Arc<Routes>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF.0;
    let mut handlers = JoinSet::new();
    loop {
        let mut current = routes.borrow_and_update().clone();
        let mut channels: BTreeSet<String> = current.channels.keys().cloned().collect();
        let subscribed = tokio::select! {
            result = tokio::time::timeout(CONNECT_TIMEOUT, subscribe(&address, &channels)) => {
                result.unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {CONNECT_TIMEOUT:?}")))
            }
            () = stopped(&mut stop) => break,
        };
        match subscribed {
            Ok((mut sink, mut messages)) => {
                backoff = BACKOFF.0;
                tracing::info!(
                    "redis trigger subscribed to channel(s) {} at {server}",
                    names(&channels)
                );
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => {
                                let channel = message.get_channel_name().to_string();
                                let payload = message.get_payload_bytes().to_vec();
                                for &i in current.channels.get(&channel).into_iter().flatten() {
                                    handlers.spawn(handle(
                                        current.engine.clone(),
                                        current.components[i].clone(),
                                        channel.clone(),
                                        payload.clone(),
                                    ));
                                }
                            }
                            None => {
                                tracing::warn!(
                                    "redis trigger lost its connection to {server}; \
                                     resubscribing to {}",
                                    names(&channels)
                                );
                                break;
                            }
                        },
                        Ok(()) = routes.changed() => {
                            // A new version: it takes the messages from now
                            // on; then the connection's channels follow it.
                            current = routes.borrow_and_update().clone();
                            let wanted: BTreeSet<String> = current.channels.keys().cloned().collect();
                            let changed = tokio::time::timeout(
                                CONNECT_TIMEOUT,
                                resubscribe(&mut sink, &channels, &wanted),
                            )
                            .await
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {CONNECT_TIMEOUT:?}")));
                            match changed {
                                Ok(()) => {
                                    channels = wanted;
                                    tracing::info!(
                                        "redis trigger at {server} handed to the new version, \
                                         subscribed to channel(s) {}",
                                        names(&channels)
                                    );
                                }
                                Err(err) => {
                                    tracing::warn!(
                                        "redis trigger could not change its subscriptions at \
                                         {server}: {err:#}; resubscribing"
                                    );
                                    break;
                                }
                            }
                        }
                        // Reap finished handlers so the set does not grow.
                        Some(_) = handlers.join_next(), if !handlers.is_empty() => {}
                        () = stopped(&mut stop) => {
                            drain(handlers, "redis trigger").await;
                            return;
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(
                "redis trigger could not subscribe to {} at {server}: {err:#}; retrying in \
                 {backoff:?}",
                names(&channels)
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stopped(&mut stop) => break,
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
    drain(handlers, "redis trigger").await;
}

/// A pub/sub connection subscribed to `channels`: its sink (to change the
/// channels) and its messages.
async fn subscribe(
    address: &str,
    channels: &BTreeSet<String>,
) -> Result<(redis::aio::PubSubSink, redis::aio::PubSubStream)> {
    let client = redis::Client::open(address)?;
    let (mut sink, messages) = client.get_async_pubsub().await?.split();
    for channel in channels {
        sink.subscribe(channel).await?;
    }
    Ok((sink, messages))
}

/// Subscribes the channels of `wanted` not in `had`, then unsubscribes
/// those of `had` not in `wanted`; each command waits for the server's
/// confirmation.
async fn resubscribe(
    sink: &mut redis::aio::PubSubSink,
    had: &BTreeSet<String>,
    wanted: &BTreeSet<String>,
) -> Result<()> {
    for channel in wanted.difference(had) {
        sink.subscribe(channel).await?;
    }
    for channel in had.difference(wanted) {
        sink.unsubscribe(channel).await?;
    }
    Ok(())
}

/// Delivers one message to a fresh instance of `component`; every failure
/// is logged with the component id and the channel.
async fn handle(
    engine: Arc<SkiffEngine>,
    component: Arc<RedisComponent>,
    channel: String,
    payload: Vec<u8>,
) {
    let place = format!("redis channel `{channel}`");
    let span = skiff_telemetry::event::consumer_span(
        "redis",
        &channel,
        &component.component.id,
        None,
        None,
    );
    let handler = &component.handler;
    component
        .component
        .run(&engine, &place, span, move |mut store| async move {
            Ok(match handler {
                Handler::Spin2(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    instance
                        .fermyon_spin_inbound_redis()
                        .call_handle_message(&mut store, &payload)
                        .await?
                        .map_err(|err| format!("{err:?}"))
                }
                Handler::Spin3(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    store
                        .run_concurrent(async |accessor| {
                            instance
                                .spin_redis_inbound_redis()
                                .call_handle_message(accessor, payload)
                                .await
                        })
                        .await??
                        .map_err(|err| format!("{err:?}"))
                }
            })
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::{display_address, redact};

    #[test]
    fn logs_never_show_a_password() {
        assert_eq!(
            redact("redis://user:p@ss@cache:6380/0"),
            "redis://***@cache:6380/0"
        );
        assert_eq!(redact("redis://cache:6380"), "redis://cache:6380");
        assert_eq!(
            display_address("redis://user:secret@127.0.0.1:6380/1").unwrap(),
            "redis://127.0.0.1:6380"
        );
        assert_eq!(
            display_address("rediss://:secret@cache.example:6380").unwrap(),
            "rediss://cache.example:6380"
        );
        let err = display_address("redis://user:secret@/").unwrap_err();
        assert!(!format!("{err:#}").contains("secret"), "{err:#}");
    }
}
