//! Which candidate pair each open connection uses: a direct path between
//! host addresses, one through a NAT's public mapping (server- or
//! peer-reflexive), or a TURN relay.
//!
//! Both backends record the selected pair when a connection's ICE agent
//! settles on it; [`Paths`] is a cloneable handle on that table, taken from
//! the transport before it moves into its node.
//!
//! ```
//! use overlay_core::ConnId;
//! use rtc_common::paths::{CandidateKind, Paths, SelectedPath};
//!
//! let paths = Paths::default();
//! let seen_by_node = paths.clone();
//! paths.set(ConnId(7), SelectedPath::new(CandidateKind::Host, CandidateKind::Srflx));
//! assert_eq!(seen_by_node.get(ConnId(7)).map(|p| p.via()), Some(CandidateKind::Srflx));
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use overlay_core::ConnId;

/// Most paths remembered: one per connection a node holds; connections
/// past this (which the engine's own limits make unlikely) go unrecorded.
pub const MAX_PATHS: usize = 65_536;

/// An ICE candidate's type (RFC 8445 §5.1.1), as the backends report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CandidateKind {
    /// A local interface address.
    Host,
    /// A NAT's public mapping, learnt from a STUN server.
    Srflx,
    /// A NAT's public mapping, learnt from the remote's connectivity checks.
    Prflx,
    /// An address on a TURN server that relays to the peer.
    Relay,
}

impl CandidateKind {
    /// The SDP name: `host`, `srflx`, `prflx`, `relay`.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::Srflx => "srflx",
            CandidateKind::Prflx => "prflx",
            CandidateKind::Relay => "relay",
        }
    }

    /// Read an SDP type name (`typ host` and so on).
    pub fn from_sdp(typ: &str) -> Option<Self> {
        match typ {
            "host" => Some(CandidateKind::Host),
            "srflx" => Some(CandidateKind::Srflx),
            "prflx" => Some(CandidateKind::Prflx),
            "relay" => Some(CandidateKind::Relay),
            _ => None,
        }
    }
}

impl std::fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The candidate pair a connection selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectedPath {
    /// This side's candidate.
    pub local: CandidateKind,
    /// The remote's candidate, as this side knows it.
    pub remote: CandidateKind,
}

impl SelectedPath {
    /// A pair of a local and a remote candidate type.
    pub fn new(local: CandidateKind, remote: CandidateKind) -> Self {
        SelectedPath { local, remote }
    }

    /// How the traffic travels, in one word: `relay` if either end is a
    /// relay candidate; else `srflx` if either end is a NAT mapping
    /// (server- or peer-reflexive: the traffic crosses a NAT); else `host`.
    pub fn via(&self) -> CandidateKind {
        let kinds = [self.local, self.remote];
        if kinds.contains(&CandidateKind::Relay) {
            CandidateKind::Relay
        } else if kinds
            .iter()
            .any(|k| matches!(k, CandidateKind::Srflx | CandidateKind::Prflx))
        {
            CandidateKind::Srflx
        } else {
            CandidateKind::Host
        }
    }
}

impl std::fmt::Display for SelectedPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (local {}, remote {})",
            self.via(),
            self.local,
            self.remote
        )
    }
}

/// The selected path of each open connection of one transport (a shared
/// handle: clones see the same table).
#[derive(Debug, Clone, Default)]
pub struct Paths(Arc<Mutex<BTreeMap<ConnId, SelectedPath>>>);

impl Paths {
    /// Record the path of `conn` (replacing an earlier one).
    pub fn set(&self, conn: ConnId, path: SelectedPath) {
        if let Ok(mut t) = self.0.lock() {
            if t.len() < MAX_PATHS || t.contains_key(&conn) {
                t.insert(conn, path);
            }
        }
    }

    /// Forget `conn` (it closed).
    pub fn remove(&self, conn: ConnId) {
        if let Ok(mut t) = self.0.lock() {
            t.remove(&conn);
        }
    }

    /// The path of `conn`, if it has one yet.
    pub fn get(&self, conn: ConnId) -> Option<SelectedPath> {
        self.0.lock().ok().and_then(|t| t.get(&conn).copied())
    }

    /// Every recorded path.
    pub fn all(&self) -> Vec<(ConnId, SelectedPath)> {
        self.0
            .lock()
            .map(|t| t.iter().map(|(c, p)| (*c, *p)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CandidateKind::*;

    #[test]
    fn via_prefers_relay_then_reflexive() {
        assert_eq!(SelectedPath::new(Host, Host).via(), Host);
        assert_eq!(SelectedPath::new(Host, Prflx).via(), Srflx);
        assert_eq!(SelectedPath::new(Srflx, Host).via(), Srflx);
        assert_eq!(SelectedPath::new(Host, Relay).via(), Relay);
        assert_eq!(SelectedPath::new(Relay, Srflx).via(), Relay);
    }

    #[test]
    fn handles_share_one_table() {
        let a = Paths::default();
        let b = a.clone();
        a.set(ConnId(1), SelectedPath::new(Relay, Host));
        assert_eq!(b.get(ConnId(1)).map(|p| p.via()), Some(Relay));
        b.remove(ConnId(1));
        assert!(a.all().is_empty());
    }
}
