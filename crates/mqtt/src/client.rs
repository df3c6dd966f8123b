//! Connections: the grant check, connecting, and publishing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet,
    TlsConfiguration, Transport,
};
use skiff_outbound_networking::{AllowedHosts, OutboundTarget};
use tokio::sync::Mutex;

use crate::error::{Error, Result};

/// How long connecting (TCP and `CONNACK`) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a publish may wait for the broker's acknowledgement.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// The schemes `allowed_outbound_hosts` entries use for MQTT, and MQTT over TLS.
const SCHEME: &str = "mqtt";
const TLS_SCHEME: &str = "mqtts";

/// Largest payload a guest may publish (and the packet size the client
/// accepts).
const MAX_PACKET: usize = 16 << 20;

/// The delivery guarantee of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// QoS 0: sent once, no acknowledgement.
    AtMostOnce,
    /// QoS 1: acknowledged by `PUBACK`.
    AtLeastOnce,
    /// QoS 2: acknowledged by `PUBCOMP`.
    ExactlyOnce,
}

/// A connection to an MQTT broker (MQTT 3.1.1), opened only for an address
/// the component's `allowed_outbound_hosts` grants.
pub struct MqttConnection {
    client: AsyncClient,
    events: Mutex<EventLoop>,
    /// `host:port` of the broker, for messages.
    peer: String,
}

/// A client id no other connection of this process uses.
fn client_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "skiff-{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Splits `mqtt://[user:pw@]host[:port][/][?client_id=ID]` (or `mqtts://…`)
/// into the part the grant check reads, the client id, if one is given, and
/// whether the connection is TLS.
fn parse(address: &str) -> Result<(OutboundTarget, Option<String>, bool)> {
    let invalid =
        |why: String| Error::InvalidAddress(format!("invalid mqtt address `{address}`: {why}"));
    let (scheme, _) = address
        .split_once("://")
        .ok_or_else(|| invalid("expected `mqtt://host[:port]`".into()))?;
    let tls = scheme.eq_ignore_ascii_case(TLS_SCHEME);
    if !tls && !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(invalid(format!(
            "the scheme must be `mqtt` or `mqtts` (`{scheme}` is not supported by this host)"
        )));
    }
    let (url, query) = match address.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (address, None),
    };
    let target = OutboundTarget::from_url(url).map_err(|err| invalid(err.to_string()))?;
    let client_id = query.and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == "client_id")
            .map(|(_, v)| v.to_string())
    });
    Ok((target, client_id, tls))
}

impl MqttConnection {
    /// Connects to the broker at `address` (`mqtt://host[:port]`, or
    /// `mqtts://host:port` over TLS, optionally `?client_id=ID`) if `allowed`
    /// grants `mqtt://host:port` (`mqtts://host:port`), and waits for the
    /// broker to accept the session. The check runs before any network
    /// traffic, and again on each address a name resolves to (the SSRF guard
    /// of [`AllowedHosts::allows_resolved`]). Plain connections go to the
    /// allowed address itself; TLS connections, once an address is allowed,
    /// connect by name, so the broker's certificate is verified for the name
    /// (against the system's roots, or `SSL_CERT_FILE`). Empty `username`
    /// means no credentials; `keep_alive_secs` 0 disables keep-alive pings.
    pub async fn connect(
        address: &str,
        username: &str,
        password: &str,
        keep_alive_secs: u64,
        allowed: &AllowedHosts,
    ) -> Result<Self> {
        let (target, client_id, tls) = parse(address)?;
        let decision = match target.ip() {
            Some(ip) => allowed.allows_resolved(&target, ip),
            None => allowed.check(&target),
        };
        decision
            .into_result()
            .map_err(|denial| Error::ConnectionFailed(denial.to_string()))?;
        let port = target.port();
        let host = target.host().to_string();
        let peer = format!("{host}:{port}");
        let addrs: Vec<SocketAddr> = match target.ip() {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((&*host, port)))
                .await
                .map_err(|_| Error::ConnectionFailed(format!("resolving `{host}` timed out")))?
                .map_err(|err| {
                    Error::ConnectionFailed(format!("could not resolve mqtt host `{host}`: {err}"))
                })?
                .collect(),
        };
        let mut last = format!("`{host}` resolved to no address");
        for addr in addrs {
            if let Err(denial) = allowed.allows_resolved(&target, addr.ip()).into_result() {
                last = denial.to_string();
                continue;
            }
            // TLS connects by name (the certificate is verified for it), so
            // every allowed address would be the same attempt: one is made.
            let at = if tls { peer.clone() } else { addr.to_string() };
            let id = client_id.clone().unwrap_or_else(self::client_id);
            let mut options = if tls {
                let config = skiff_outbound_networking::tls_client_config().map_err(|why| {
                    Error::ConnectionFailed(format!("mqtt over TLS to {peer}: {why}"))
                })?;
                let mut options = MqttOptions::new(id, host.clone(), port);
                options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
                options
            } else {
                MqttOptions::new(id, addr.ip().to_string(), addr.port())
            };
            options
                .set_keep_alive(Duration::from_secs(keep_alive_secs))
                .set_max_packet_size(MAX_PACKET, MAX_PACKET);
            if !username.is_empty() {
                options.set_credentials(username, password);
            }
            let (client, mut events) = AsyncClient::new(options, 16);
            match tokio::time::timeout(CONNECT_TIMEOUT, wait_connack(&mut events)).await {
                Ok(Ok(())) => {
                    return Ok(MqttConnection {
                        client,
                        events: Mutex::new(events),
                        peer,
                    });
                }
                Ok(Err(err)) => last = format!("{at}: {err}"),
                Err(_) => last = format!("{at}: no CONNACK within {CONNECT_TIMEOUT:?}"),
            }
            if tls {
                break;
            }
        }
        Err(Error::ConnectionFailed(format!(
            "could not connect to the mqtt broker at {peer}: {last}"
        )))
    }

    /// `host:port` of the broker.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Publishes `payload` to `topic` and waits until the broker has it as
    /// `qos` promises: written to the socket (QoS 0), `PUBACK` (QoS 1) or
    /// `PUBCOMP` (QoS 2).
    pub async fn publish(&self, topic: &str, payload: Vec<u8>, qos: Qos) -> Result<()> {
        if payload.len() > MAX_PACKET {
            return Err(Error::Other(format!(
                "the payload of {} bytes exceeds this host's limit of {MAX_PACKET} bytes",
                payload.len()
            )));
        }
        let mut events = self.events.lock().await;
        let qos = match qos {
            Qos::AtMostOnce => rumqttc::QoS::AtMostOnce,
            Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
            Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
        };
        self.client
            .publish(topic, qos, false, payload)
            .await
            .map_err(|err| Error::Other(format!("mqtt publish to {}: {err}", self.peer)))?;
        let wait = async {
            let mut id = None;
            loop {
                let event = events.poll().await.map_err(|err| {
                    Error::Other(format!(
                        "the connection to the mqtt broker at {} failed: {err}",
                        self.peer
                    ))
                })?;
                match event {
                    Event::Outgoing(Outgoing::Publish(pkid)) => {
                        if qos == rumqttc::QoS::AtMostOnce {
                            return Ok(());
                        }
                        id = Some(pkid);
                    }
                    Event::Incoming(Packet::PubAck(ack))
                        if qos == rumqttc::QoS::AtLeastOnce && Some(ack.pkid) == id =>
                    {
                        return Ok(());
                    }
                    Event::Incoming(Packet::PubComp(comp))
                        if qos == rumqttc::QoS::ExactlyOnce && Some(comp.pkid) == id =>
                    {
                        return Ok(());
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(PUBLISH_TIMEOUT, wait)
            .await
            .map_err(|_| {
                Error::Other(format!(
                    "the mqtt broker at {} did not acknowledge the publish to `{topic}` within \
                     {PUBLISH_TIMEOUT:?}",
                    self.peer
                ))
            })?
    }
}

/// Polls until the broker's `CONNACK`.
async fn wait_connack(events: &mut EventLoop) -> std::result::Result<(), ConnectionError> {
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = events.poll().await? {
            return Ok(());
        }
    }
}
