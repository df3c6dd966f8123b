//! The operator's limits on outbound HTTP (`[outbound_http]` in the runtime config)
//! and its TLS client configurations (`[[client_tls]]`), shared by every instance
//! of an app and replaceable while it serves.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::{ClientTls, H2cPriorKnowledge, OutboundTarget};

/// Limits on a component's outbound HTTP requests.
///
/// A guest may ask for shorter timeouts through `wasi:http`'s request options;
/// it never gets longer ones than these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundHttpLimits {
    /// Longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Longest wait from sending the request to the response head.
    pub first_byte_timeout: Duration,
    /// Longest silence between two chunks of the response body.
    pub between_bytes_timeout: Duration,
    /// Largest response body, bytes (`None`: no limit). A larger declared
    /// `content-length` fails the request with `HTTP-response-body-size`; an
    /// undeclared body that grows past it fails its stream the same way.
    pub max_response_size: Option<u64>,
    /// Most outbound requests of the app in flight at once, waiting for their
    /// response head (`None`: no limit); more wait their turn.
    pub max_concurrent_requests: Option<usize>,
    /// Whether a connection whose response was read to its end is kept for
    /// the component's next request to the same destination (Spin's
    /// `connection_pooling`; default on).
    pub connection_pooling: bool,
    /// `http://` authorities (`host:port`) requests to which are sent as
    /// clear-text HTTP/2 with prior knowledge (`h2c_prior_knowledge`; default
    /// none). The environment's ([`H2cPriorKnowledge::from_env`]) apply too:
    /// see [`sends_h2c`](Self::sends_h2c).
    pub h2c_prior_knowledge: H2cPriorKnowledge,
}

impl OutboundHttpLimits {
    /// Whether a request to `target` goes as clear-text HTTP/2 with prior
    /// knowledge: an `http://` target named by [`h2c_prior_knowledge`](Self::h2c_prior_knowledge)
    /// or by the environment ([`SPIN_H2C_ENV`](crate::SPIN_H2C_ENV),
    /// [`SKIFF_H2C_ENV`](crate::SKIFF_H2C_ENV)); the union of both.
    pub fn sends_h2c(&self, target: &OutboundTarget) -> bool {
        self.h2c_prior_knowledge.matches(target)
            || H2cPriorKnowledge::from_env().is_ok_and(|env| env.matches(target))
    }
}

impl Default for OutboundHttpLimits {
    fn default() -> Self {
        OutboundHttpLimits {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            between_bytes_timeout: Duration::from_secs(60),
            max_response_size: None,
            max_concurrent_requests: None,
            connection_pooling: true,
            h2c_prior_knowledge: H2cPriorKnowledge::default(),
        }
    }
}

/// The current [`OutboundHttpLimits`] and [`ClientTls`] of an app: read by every
/// request, replaced by a runtime-config reload (requests already sent keep the
/// ones they started with).
#[derive(Debug, Default)]
pub struct SharedHttpLimits {
    current: RwLock<InForce>,
}

/// Limits and the semaphore enforcing their `max_concurrent_requests`.
#[derive(Debug, Clone, Default)]
struct InForce {
    limits: Arc<OutboundHttpLimits>,
    permits: Option<Arc<Semaphore>>,
    tls: Arc<ClientTls>,
}

impl SharedHttpLimits {
    /// A cell holding `limits`.
    pub fn new(limits: OutboundHttpLimits) -> Self {
        let cell = SharedHttpLimits::default();
        cell.set(limits);
        cell
    }

    /// The limits in force now, and the semaphore a request takes a permit
    /// of while it waits for its response head (`None`: no concurrency limit).
    pub fn get(&self) -> (Arc<OutboundHttpLimits>, Option<Arc<Semaphore>>) {
        let now = self.current.read().unwrap_or_else(|e| e.into_inner());
        (now.limits.clone(), now.permits.clone())
    }

    /// Puts `limits` in force for requests sent from now on. A changed
    /// concurrency limit starts a new count; requests in flight finish under
    /// the old one.
    pub fn set(&self, limits: OutboundHttpLimits) {
        let mut now = self.current.write().unwrap_or_else(|e| e.into_inner());
        let permits = match (limits.max_concurrent_requests, &now.permits) {
            (None, _) => None,
            (Some(n), Some(old)) if now.limits.max_concurrent_requests == Some(n) => {
                Some(old.clone())
            }
            (Some(n), _) => Some(Arc::new(Semaphore::new(n.max(1)))),
        };
        now.limits = Arc::new(limits);
        now.permits = permits;
    }

    /// The TLS client configurations in force now.
    pub fn tls(&self) -> Arc<ClientTls> {
        let now = self.current.read().unwrap_or_else(|e| e.into_inner());
        now.tls.clone()
    }

    /// Puts `tls` in force for requests sent from now on.
    pub fn set_tls(&self, tls: Arc<ClientTls>) {
        let mut now = self.current.write().unwrap_or_else(|e| e.into_inner());
        now.tls = tls;
    }
}
