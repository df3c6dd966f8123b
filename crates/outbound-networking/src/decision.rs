//! The answer to "may this component connect there?", with a reason a person can act on.

use std::fmt;
use std::net::IpAddr;

use crate::address::PrivateAddressKind;
use crate::blocked::BlockedBy;
use crate::target::OutboundTarget;

/// Whether a connection is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    /// The grant allows it.
    Allowed,
    /// It is denied; the [`Denial`] says why and what to add to `allowed_outbound_hosts`.
    Denied(Denial),
}

impl Decision {
    /// Whether the connection is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed)
    }

    /// `Ok(())` when allowed, the [`Denial`] otherwise, for use with `?`.
    pub fn into_result(self) -> Result<(), Denial> {
        match self {
            Decision::Allowed => Ok(()),
            Decision::Denied(denial) => Err(denial),
        }
    }

    pub(crate) fn not_granted(target: &OutboundTarget) -> Self {
        Decision::Denied(Denial {
            target: target.clone(),
            reason: DenialReason::NotGranted,
        })
    }

    pub(crate) fn blocked(target: &OutboundTarget, ip: IpAddr, by: BlockedBy) -> Self {
        Decision::Denied(Denial {
            target: target.clone(),
            reason: DenialReason::Blocked { ip, by },
        })
    }

    pub(crate) fn private_address(
        target: &OutboundTarget,
        ip: IpAddr,
        kind: PrivateAddressKind,
    ) -> Self {
        Decision::Denied(Denial {
            target: target.clone(),
            reason: DenialReason::PrivateAddress { ip, kind },
        })
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed => f.write_str("allowed"),
            Decision::Denied(denial) => denial.fmt(f),
        }
    }
}

/// A denied connection: the target and the reason.
///
/// `Display` reads like
/// ``"`https://evil.example.com:443` is not allowed: add `https://evil.example.com` to `allowed_outbound_hosts`"``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Denial {
    target: OutboundTarget,
    reason: DenialReason,
}

/// Why a connection was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenialReason {
    /// No `allowed_outbound_hosts` entry allows the scheme, host and port.
    NotGranted,
    /// An entry allows the target only through a wildcard (`*`, `*.domain`), but the address
    /// it resolved to is private; Skiff's SSRF guard wants the host, IP or CIDR named.
    PrivateAddress {
        /// The resolved address.
        ip: IpAddr,
        /// What kind of private address it is.
        kind: PrivateAddressKind,
    },
    /// The address is in a network the operator blocks (`block_networks` in the
    /// runtime config), which no grant overrides.
    Blocked {
        /// The address.
        ip: IpAddr,
        /// The entry of `block_networks` that holds it.
        by: BlockedBy,
    },
}

impl Denial {
    /// The denied target.
    pub fn target(&self) -> &OutboundTarget {
        &self.target
    }

    /// Why it was denied.
    pub fn reason(&self) -> DenialReason {
        self.reason
    }

    /// The `allowed_outbound_hosts` entry that would allow the target.
    pub fn suggestion(&self) -> String {
        self.target.as_pattern()
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = &self.target;
        let suggestion = self.suggestion();
        match self.reason {
            DenialReason::NotGranted => write!(
                f,
                "`{target}` is not allowed: add `{suggestion}` to `allowed_outbound_hosts`"
            ),
            DenialReason::Blocked { ip, by } => {
                let ip_is = match target.ip() == Some(ip) {
                    true => format!("{ip} is"),
                    false => format!("it resolved to {ip},"),
                };
                write!(
                    f,
                    "`{target}` is not allowed: {ip_is} in {by}, which the runtime config's \
                     `[outbound_networking] block_networks` blocks for every component"
                )
            }
            DenialReason::PrivateAddress { ip, kind } => {
                if target.ip() == Some(ip) {
                    write!(f, "`{target}` is not allowed: {ip} is a {kind} address")?;
                } else {
                    write!(
                        f,
                        "`{target}` is not allowed: it resolved to {ip}, a {kind} address"
                    )?;
                }
                write!(
                    f,
                    ", and wildcard entries (`*`, `*.domain`) do not reach private addresses: \
                     add `{suggestion}` to `allowed_outbound_hosts` to allow it explicitly"
                )
            }
        }
    }
}
