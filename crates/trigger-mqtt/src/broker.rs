//! Where and how a subscription connects: the broker's address
//! (`mqtt://host[:port]`, `mqtts://` for TLS), the login, keep-alive, and
//! the client id of each connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use sha2::{Digest, Sha256};

/// The largest message a handler is given. A larger one is acknowledged
/// and dropped, with a warning (see [`MAX_INCOMING_PACKET`]).
pub(crate) const MAX_MESSAGE: usize = 16 << 20;

/// The largest packet read from the broker: MQTT's own limit (a remaining
/// length of 256 MiB, plus the fixed header). Refusing a packet ends the
/// connection unread, and a broker sends an unacknowledged QoS 1/2 message
/// again on every reconnect of a persistent session, so a message over
/// [`MAX_MESSAGE`] would be refused forever; read, it can be acknowledged.
pub(crate) const MAX_INCOMING_PACKET: usize = 268_435_455 + 5;

/// A broker's address, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broker {
    /// The host name or IP address (an IPv6 address in brackets).
    pub host: String,
    pub port: u16,
    /// `mqtts://`: TLS, the broker's certificate verified for `host`.
    pub tls: bool,
}

impl Broker {
    /// Parses `mqtt://host[:port][/]` or `mqtts://host[:port][/]` (ports
    /// 1883 and 8883 by default). Credentials go in `username` and
    /// `password`, not in the address.
    pub fn parse(address: &str) -> Result<Broker> {
        let Some((scheme, rest)) = address.split_once("://") else {
            bail!("`{address}` is not an MQTT broker address: write `mqtt://host:port`");
        };
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            _ => bail!(
                "`{scheme}://` is not an MQTT scheme: write `mqtt://host:port`, or \
                 `mqtts://host:port` for TLS"
            ),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('@') {
            bail!(
                "put the broker's credentials in `username` and `password` of \
                 [application.trigger.mqtt], not in its address"
            );
        }
        if authority.contains(['/', '?', '#']) {
            bail!("`{address}` has a path or query: an MQTT broker address is `mqtt://host:port`");
        }
        let (host, port) = match authority.rsplit_once(':') {
            // `[::1]` alone holds colons but no port.
            Some((host, port)) if !port.contains(']') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| anyhow::anyhow!("`{port}` in `{address}` is not a port"))?;
                (host, port)
            }
            _ => (authority, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() {
            bail!("`{address}` names no host");
        }
        Ok(Broker {
            host: host.to_string(),
            port,
            tls,
        })
    }

    /// `mqtt://host:port` or `mqtts://host:port`, for logs and the banner.
    pub fn display(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// The options of one connection as `client_id`, with manual acks (the
    /// trigger acknowledges a message once its handler is done).
    pub fn options(
        &self,
        client_id: &str,
        login: Option<&(String, String)>,
        keep_alive: u16,
        clean_session: bool,
    ) -> Result<MqttOptions> {
        // Brackets stay around an IPv6 address: rumqttc writes `host:port`.
        let mut options = MqttOptions::new(client_id, self.host.clone(), self.port);
        if self.tls {
            let config = skiff_outbound_networking::tls_client_config()
                .map_err(|why| anyhow::anyhow!("MQTT over TLS to {}: {why}", self.display()))?;
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
        }
        options
            .set_keep_alive(Duration::from_secs(keep_alive.into()))
            .set_clean_session(clean_session)
            .set_manual_acks(true)
            .set_max_packet_size(MAX_INCOMING_PACKET, MAX_MESSAGE);
        if let Some((user, password)) = login {
            options.set_credentials(user.clone(), password.clone());
        }
        Ok(options)
    }
}

/// A client id no other connection uses: for a clean session, which
/// nothing resumes.
pub(crate) fn unique_client_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "skiff-{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The client id of a persistent session: the same for the same
/// subscription (`parts`: app, component, broker, login, topic, QoS) on the
/// same host across restarts, so the broker resumes it and redelivers what
/// was not acknowledged; a different one for another host (another
/// replica), another topic or another broker. `skiff-` and 16 hex digits:
/// 22 characters, within the 23 every MQTT 3.1.1 broker accepts.
pub(crate) fn session_client_id(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    hash.update(host_name().as_bytes());
    for part in parts {
        hash.update([0]);
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    format!("skiff-{}", hex::encode(&digest[..8]))
}

/// This machine's host name (a pod's name under Kubernetes), or empty.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let b = Broker::parse("mqtt://localhost:1883").unwrap();
        assert_eq!((b.host.as_str(), b.port, b.tls), ("localhost", 1883, false));
        assert_eq!(b.display(), "mqtt://localhost:1883");
        let b = Broker::parse("mqtts://broker.example").unwrap();
        assert_eq!((b.port, b.tls), (8883, true));
        let b = Broker::parse("MQTT://10.0.0.1/").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("10.0.0.1", 1883));
        let b = Broker::parse("mqtt://[::1]:1884").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("[::1]", 1884));
        let b = Broker::parse("mqtt://[::1]").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("[::1]", 1883));
        for bad in [
            "localhost:1883",
            "http://h",
            "mqtt://",
            "mqtt://h:x",
            "mqtt://u:p@h",
            "mqtt://h/path",
        ] {
            assert!(Broker::parse(bad).is_err(), "{bad}");
        }
        let err = Broker::parse("mqtt://user:secret@h").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn client_ids() {
        let a = session_client_id(&["app", "c", "mqtt://h:1", "", "t", "1"]);
        assert_eq!(
            a,
            session_client_id(&["app", "c", "mqtt://h:1", "", "t", "1"])
        );
        assert_ne!(
            a,
            session_client_id(&["app", "c", "mqtt://h:1", "", "u", "1"])
        );
        assert_eq!(a.len(), 22);
        assert_ne!(unique_client_id(), unique_client_id());
    }
}
