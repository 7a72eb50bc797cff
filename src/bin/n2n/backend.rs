//! Which transport the command's nodes run on, and how they cross NATs.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use n2n_overlay::{Keypair, MemoryNetwork, Node, NodeConfig};

use crate::error::CliError;

/// Environment variable holding the TURN username (when no file is given).
pub(crate) const TURN_USERNAME_ENV: &str = "N2N_TURN_USERNAME";
/// Environment variable holding the TURN credential (when no file is given).
pub(crate) const TURN_CREDENTIAL_ENV: &str = "N2N_TURN_CREDENTIAL";

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

/// How WebRTC nodes get through NATs: STUN and TURN servers, and how long
/// a connection may take to open.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct NatArgs {
    /// STUN server (HOST:PORT) for server-reflexive candidates behind a NAT; repeatable.
    #[arg(long)]
    pub(crate) stun: Vec<String>,
    /// TURN server (turn:HOST:PORT, over UDP), the relay of last resort; repeatable.
    /// The credentials come from N2N_TURN_USERNAME and N2N_TURN_CREDENTIAL, or --turn-credentials.
    #[arg(long)]
    pub(crate) turn: Vec<String>,
    /// File with the TURN username on its first line and the credential on its second
    /// (instead of the environment).
    #[arg(long)]
    pub(crate) turn_credentials: Option<PathBuf>,
    /// Seconds a WebRTC connection may take to open before it is given up.
    #[arg(long, default_value_t = 30)]
    pub(crate) handshake_timeout: u64,
}

impl NatArgs {
    /// The TURN username and credential (read from the file or the
    /// environment; never printed), if any TURN server is configured.
    fn turn_credentials(&self) -> Result<Option<(String, String)>, CliError> {
        if self.turn.is_empty() {
            return Ok(None);
        }
        let Some(path) = &self.turn_credentials else {
            return match (
                std::env::var(TURN_USERNAME_ENV),
                std::env::var(TURN_CREDENTIAL_ENV),
            ) {
                (Ok(u), Ok(c)) if !u.is_empty() => Ok(Some((u, c))),
                _ => Err(CliError::TurnCredentialsMissing),
            };
        };
        let text = std::fs::read_to_string(path).map_err(|source| {
            CliError::TurnCredentialsUnreadable {
                path: path.clone(),
                source,
            }
        })?;
        let mut lines = text.lines();
        match (lines.next(), lines.next()) {
            (Some(u), Some(c)) if !u.trim().is_empty() => {
                Ok(Some((u.trim().to_owned(), c.trim().to_owned())))
            }
            _ => Err(CliError::TurnCredentialsMalformed { path: path.clone() }),
        }
    }
}

/// The candidate pair each connection of a node selected.
#[cfg(any(feature = "str0m", feature = "webrtc-rs"))]
pub(crate) type Paths = n2n_overlay::paths::Paths;

/// The candidate pair each connection of a node selected (none without a
/// WebRTC backend).
#[cfg(not(any(feature = "str0m", feature = "webrtc-rs")))]
#[derive(Debug, Clone, Default)]
pub(crate) struct Paths;

/// `path=VIA local=KIND remote=KIND` for a connection, `path=-` before its
/// ICE agent selected a pair (or on the memory backend).
pub(crate) fn describe_path(paths: &Paths, conn: n2n_overlay::ConnId) -> String {
    #[cfg(any(feature = "str0m", feature = "webrtc-rs"))]
    if let Some(p) = paths.get(conn) {
        return format!("path={} local={} remote={}", p.via(), p.local, p.remote);
    }
    let _ = (paths, conn);
    "path=-".to_owned()
}

/// Spawns nodes on one backend.
pub(crate) struct Backend {
    kind: BackendKind,
    memory: MemoryNetwork,
    #[cfg_attr(not(any(feature = "str0m", feature = "webrtc-rs")), allow(dead_code))]
    bind: IpAddr,
    #[cfg(any(feature = "str0m", feature = "webrtc-rs"))]
    rtc: n2n_overlay::RtcConfig,
}

impl Backend {
    /// A backend of `kind` whose sockets bind `bind`, crossing NATs as
    /// `nat` says. Fails at once, with what to do, if this build lacks the
    /// backend or the TURN credentials are missing.
    pub(crate) fn new(kind: BackendKind, bind: IpAddr, nat: &NatArgs) -> Result<Self, CliError> {
        let compiled = match kind {
            BackendKind::Str0m => cfg!(feature = "str0m"),
            BackendKind::WebrtcRs => cfg!(feature = "webrtc-rs"),
            BackendKind::Memory => true,
        };
        if !compiled {
            return Err(CliError::BackendNotBuilt(kind.name()));
        }
        let credentials = nat.turn_credentials()?;
        #[cfg(any(feature = "str0m", feature = "webrtc-rs"))]
        let rtc = {
            let mut c = n2n_overlay::RtcConfig::loopback()
                .with_bind_ip(bind)
                .with_handshake_timeout(Duration::from_secs(nat.handshake_timeout.max(1)));
            for s in &nat.stun {
                c = c.with_stun_server(s.clone());
            }
            if let Some((username, credential)) = credentials {
                for url in &nat.turn {
                    c = c.with_turn_server(n2n_overlay::TurnServer::new(
                        url.clone(),
                        username.clone(),
                        credential.clone(),
                    ));
                }
            }
            c
        };
        #[cfg(not(any(feature = "str0m", feature = "webrtc-rs")))]
        let _ = (credentials, Duration::ZERO);
        Ok(Backend {
            kind,
            memory: MemoryNetwork::new(),
            bind,
            #[cfg(any(feature = "str0m", feature = "webrtc-rs"))]
            rtc,
        })
    }

    pub(crate) fn kind(&self) -> BackendKind {
        self.kind
    }

    /// Start a node (on the current tokio runtime).
    pub(crate) fn spawn(&self, keypair: Keypair, config: NodeConfig) -> Result<Node, CliError> {
        self.spawn_with_paths(keypair, config).map(|(node, _)| node)
    }

    /// Start a node, with a handle on the candidate pair each of its
    /// connections selected (always empty on the memory backend).
    pub(crate) fn spawn_with_paths(
        &self,
        keypair: Keypair,
        config: NodeConfig,
    ) -> Result<(Node, Paths), CliError> {
        match self.kind {
            BackendKind::Memory => Ok((
                Node::spawn(self.memory.transport(), keypair, config),
                Default::default(),
            )),
            #[cfg(feature = "str0m")]
            BackendKind::Str0m => {
                let t = n2n_overlay::str0m::Str0mTransport::bind(&self.rtc)
                    .map_err(|e| self.transport_error(e))?;
                let paths = t.paths();
                Ok((Node::spawn(t, keypair, config), paths))
            }
            #[cfg(feature = "webrtc-rs")]
            BackendKind::WebrtcRs => {
                let t = n2n_overlay::webrtc_rs::WebRtcTransport::bind(&self.rtc)
                    .map_err(|e| self.transport_error(e))?;
                let paths = t.paths();
                Ok((Node::spawn(t, keypair, config), paths))
            }
            #[allow(unreachable_patterns)]
            other => Err(CliError::BackendNotBuilt(other.name())),
        }
    }

    /// This backend's transport could not start.
    #[cfg(any(feature = "str0m", feature = "webrtc-rs"))]
    fn transport_error(&self, e: impl std::error::Error + Send + Sync + 'static) -> CliError {
        CliError::Transport {
            backend: self.kind.name(),
            bind: self.bind,
            source: Box::new(e),
        }
    }
}
