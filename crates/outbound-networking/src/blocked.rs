//! The operator's blocked networks (`[outbound_networking] block_networks` in
//! the runtime config, Spin's key): addresses no component may connect to,
//! whatever its `allowed_outbound_hosts` say.
//!
//! ```
//! use skiff_outbound_networking::BlockedNetworks;
//! let blocked = BlockedNetworks::parse(&["203.0.113.0/24", "private"])?;
//! assert!(blocked.blocks("203.0.113.9".parse().unwrap()).is_some());
//! assert!(blocked.blocks("10.1.2.3".parse().unwrap()).is_some());
//! assert!(blocked.blocks("198.51.100.1".parse().unwrap()).is_none());
//! # Ok::<(), String>(())
//! ```

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;

use crate::address::private_address_kind;

/// Networks no outbound connection may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockedNetworks {
    networks: Vec<IpNet>,
    private: bool,
}

/// Which entry blocks an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedBy {
    /// A CIDR range (or single address) of the list.
    Network(IpNet),
    /// The `private` keyword: loopback, private, link-local and similar
    /// addresses (those [`private_address_kind`] names).
    Private,
}

impl std::fmt::Display for BlockedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlockedBy::Network(net) => write!(f, "`{net}`"),
            BlockedBy::Private => f.write_str("`private`"),
        }
    }
}

impl BlockedNetworks {
    /// Parses entries: CIDR ranges (`10.0.0.0/8`, `fd00::/8`), single
    /// addresses, or `private`. An error names the entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut blocked = BlockedNetworks::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry == "private" {
                blocked.private = true;
                continue;
            }
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "`{entry}` is neither an IP network in CIDR notation (`10.0.0.0/8`), an IP \
                         address, nor `private`"
                    )
                })?;
            blocked.networks.push(net.trunc());
        }
        Ok(blocked)
    }

    /// Whether nothing is blocked.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && !self.private
    }

    /// The entry that blocks `ip`, if one does.
    pub fn blocks(&self, ip: IpAddr) -> Option<BlockedBy> {
        let ip = ip.to_canonical();
        if let Some(net) = self.networks.iter().find(|net| net.contains(&ip)) {
            return Some(BlockedBy::Network(*net));
        }
        (self.private && private_address_kind(ip).is_some()).then_some(BlockedBy::Private)
    }
}

/// The [`BlockedNetworks`] of an app: read by every connection check, replaced
/// by a runtime-config reload.
#[derive(Debug, Default)]
pub struct SharedBlockedNetworks {
    current: RwLock<Arc<BlockedNetworks>>,
}

impl SharedBlockedNetworks {
    /// A cell holding `blocked`.
    pub fn new(blocked: BlockedNetworks) -> Self {
        SharedBlockedNetworks {
            current: RwLock::new(Arc::new(blocked)),
        }
    }

    /// The networks blocked now.
    pub fn get(&self) -> Arc<BlockedNetworks> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Blocks `blocked` from now on (instead of what was).
    pub fn set(&self, blocked: BlockedNetworks) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(blocked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_match() {
        let blocked = BlockedNetworks::parse(&["1.1.1.1", "8.8.8.8/16", "fd00::/8"]).unwrap();
        assert_eq!(
            blocked.blocks("8.8.200.1".parse().unwrap()),
            Some(BlockedBy::Network("8.8.0.0/16".parse().unwrap()))
        );
        assert!(blocked.blocks("1.1.1.1".parse().unwrap()).is_some());
        assert!(blocked.blocks("::ffff:1.1.1.1".parse().unwrap()).is_some());
        assert!(blocked.blocks("fd12::1".parse().unwrap()).is_some());
        assert!(blocked.blocks("1.1.1.2".parse().unwrap()).is_none());
        assert!(blocked.blocks("127.0.0.1".parse().unwrap()).is_none());
        let private = BlockedNetworks::parse(&["private"]).unwrap();
        assert_eq!(
            private.blocks("127.0.0.1".parse().unwrap()),
            Some(BlockedBy::Private)
        );
        assert!(private.blocks("192.168.1.1".parse().unwrap()).is_some());
        assert!(private.blocks("93.184.216.34".parse().unwrap()).is_none());
        let err = BlockedNetworks::parse(&["10.0.0.0/33"]).unwrap_err();
        assert!(err.contains("`10.0.0.0/33` is neither"), "{err}");
        assert!(BlockedNetworks::parse::<&str>(&[]).unwrap().is_empty());
    }
}
