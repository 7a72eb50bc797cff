//! Which transport the command's nodes run on.

use std::net::IpAddr;

use n2n_overlay::{Keypair, MemoryNetwork, Node, NodeConfig};

/// A transport backend, chosen with `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackendKind {
    /// WebRTC on str0m (sans-IO; one UDP socket per node).
    Str0m,
    /// WebRTC on webrtc-rs.
    #[value(name = "webrtc-rs")]
    WebrtcRs,
    /// In-process channels (no network; same process only).
    Memory,
}

impl BackendKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            BackendKind::Str0m => "str0m",
            BackendKind::WebrtcRs => "webrtc-rs",
            BackendKind::Memory => "memory",
        }
    }
}

/// Spawns nodes on one backend.
pub(crate) struct Backend {
    kind: BackendKind,
    memory: MemoryNetwork,
    #[cfg_attr(not(any(feature = "str0m", feature = "webrtc-rs")), allow(dead_code))]
    bind: IpAddr,
    #[cfg_attr(not(any(feature = "str0m", feature = "webrtc-rs")), allow(dead_code))]
    stun: Vec<String>,
}

impl Backend {
    /// A backend of `kind` whose sockets bind `bind`, asking `stun` servers
    /// for server-reflexive candidates. Fails at once, with what to do, if
    /// this build lacks the backend.
    pub(crate) fn new(kind: BackendKind, bind: IpAddr, stun: Vec<String>) -> Result<Self, String> {
        let compiled = match kind {
            BackendKind::Str0m => cfg!(feature = "str0m"),
            BackendKind::WebrtcRs => cfg!(feature = "webrtc-rs"),
            BackendKind::Memory => true,
        };
        if !compiled {
            let feature = kind.name();
            return Err(format!(
                "this n2n was built without the {feature} backend: rebuild with `cargo run --release --features {feature} -- ...`, or pick another --backend"
            ));
        }
        Ok(Backend {
            kind,
            memory: MemoryNetwork::new(),
            bind,
            stun,
        })
    }

    pub(crate) fn kind(&self) -> BackendKind {
        self.kind
    }

    #[cfg(any(feature = "str0m", feature = "webrtc-rs"))]
    fn rtc(&self) -> n2n_overlay::RtcConfig {
        let mut c = n2n_overlay::RtcConfig::loopback().with_bind_ip(self.bind);
        for s in &self.stun {
            c = c.with_stun_server(s.clone());
        }
        c
    }

    /// Start a node (on the current tokio runtime).
    pub(crate) fn spawn(&self, keypair: Keypair, config: NodeConfig) -> Result<Node, String> {
        match self.kind {
            BackendKind::Memory => Ok(Node::spawn(self.memory.transport(), keypair, config)),
            #[cfg(feature = "str0m")]
            BackendKind::Str0m => {
                let t = n2n_overlay::str0m::Str0mTransport::bind(&self.rtc()).map_err(|e| {
                    format!(
                        "cannot open a UDP socket on {}: {e}; check --bind",
                        self.bind
                    )
                })?;
                Ok(Node::spawn(t, keypair, config))
            }
            #[cfg(feature = "webrtc-rs")]
            BackendKind::WebrtcRs => {
                let t = n2n_overlay::webrtc_rs::WebRtcTransport::new(self.rtc()).map_err(|e| {
                    format!("cannot start the webrtc-rs transport: {e}; check --bind")
                })?;
                Ok(Node::spawn(t, keypair, config))
            }
            #[allow(unreachable_patterns)]
            other => Err(format!("backend {} is not in this build", other.name())),
        }
    }
}
