//! The one error type of the command: every failure of `n2n`, each with a
//! message that says what to do. `main` prints it as one line on stderr
//! (`error: ...`) and exits with code 1.

use std::io;
use std::path::PathBuf;

use n2n_overlay::join::JoinError;
use n2n_overlay::signaling::{ClientError, ServerError, TlsError};
use n2n_overlay::sim::InvariantError;
use n2n_overlay::{ArcError, ConnectError, IdParseError, NodeError, SendError};

use crate::backend::{TURN_CREDENTIAL_ENV, TURN_USERNAME_ENV};

/// Why `n2n` (or one of the `n2n peer` commands typed on stdin) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// A command-line value out of its range.
    #[error("{flag} {rule}")]
    Argument {
        /// The option, e.g. `--peers`.
        flag: &'static str,
        /// What it must be.
        rule: &'static str,
    },
    /// `--protocol` (or the demo's protocol name) is not a protocol id.
    #[error("{0} (--protocol)")]
    ProtocolName(#[source] IdParseError),
    /// The backend asked for was not compiled into this `n2n`.
    #[error(
        "this n2n was built without the {0} backend: rebuild with `cargo run --release --features {0} -- ...`, or pick another --backend"
    )]
    BackendNotBuilt(&'static str),
    /// `n2n peer --backend memory`: the memory network is one process's.
    #[error(
        "the memory backend only connects peers of one process: use --backend str0m or webrtc-rs"
    )]
    MemoryAcrossProcesses,
    /// `n2n bench` in a build without the `bench` feature.
    #[cfg(not(feature = "bench"))]
    #[error(
        "this n2n was built without benchmarks: run `cargo run --release --features bench -- bench`"
    )]
    BenchNotBuilt,
    /// A benchmark could not run.
    #[cfg(feature = "bench")]
    #[error("benchmark failed: {0}")]
    Bench(#[source] n2n_benches::BenchError),
    /// The `--turn-credentials` file could not be read.
    #[error("cannot read the TURN credentials file {}: {source}", path.display())]
    TurnCredentialsUnreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The `--turn-credentials` file does not hold two lines.
    #[error(
        "the TURN credentials file {} must hold the username on its first line and the credential on its second",
        path.display()
    )]
    TurnCredentialsMalformed {
        /// The file.
        path: PathBuf,
    },
    /// `--turn` without credentials.
    #[error(
        "--turn needs credentials: set {TURN_USERNAME_ENV} and {TURN_CREDENTIAL_ENV}, or pass --turn-credentials FILE"
    )]
    TurnCredentialsMissing,
    /// A node's WebRTC transport could not start.
    #[cfg(any(feature = "str0m", feature = "webrtc-rs"))]
    #[error(
        "cannot start the {backend} transport on {bind}: {source}; check --bind, --stun and --turn"
    )]
    Transport {
        /// The backend's name.
        backend: &'static str,
        /// The address its socket was to bind.
        bind: std::net::IpAddr,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The signaling server could not start (its message names the flag).
    #[error(transparent)]
    Server(#[from] ServerError),
    /// `--tls-cert` / `--tls-key` are not a usable certificate and key.
    #[error("{0} (--tls-cert, --tls-key)")]
    Tls(#[from] TlsError),
    /// The room is full.
    #[error("room {room:?} is full ({detail}): pick another room with --room")]
    RoomFull {
        /// The room.
        room: String,
        /// The server's words.
        detail: String,
    },
    /// Our peer id is already in the room.
    #[error("this peer id is already in room {room:?} ({detail}): start the peer again")]
    DuplicatePeer {
        /// The room.
        room: String,
        /// The server's words.
        detail: String,
    },
    /// Joining through the signaling server failed otherwise (the message
    /// says what to do).
    #[error(transparent)]
    Join(JoinError),
    /// A node's task stopped under us.
    #[error("a node stopped unexpectedly ({0}); run with RUST_LOG=debug to see why")]
    Node(#[from] NodeError),
    /// The output directory could not be created.
    #[error("cannot create {}: {source}; pick another directory with --out", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// An output file could not be written.
    #[error("cannot write {}: {source}; pick another directory with --out", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Reading stdin failed.
    #[error("cannot read stdin: {0}")]
    Stdin(#[source] io::Error),
    /// Waiting for Ctrl-C failed.
    #[error("cannot wait for Ctrl-C: {0}")]
    CtrlC(#[source] io::Error),
    /// The demo or the simulation ran, with failures.
    #[error("{what} ran with failures: {problems} (run with RUST_LOG=debug for details)")]
    RanWithFailures {
        /// "the demo", "the simulation".
        what: &'static str,
        /// What failed, counted.
        problems: String,
    },
    /// The simulation broke an invariant of the overlay (a bug).
    #[error("the simulation broke an invariant: {0}")]
    Invariant(#[source] InvariantError),
    /// An `n2n peer` command named no known peer.
    #[error("no neighbour has an id starting with {0:?}: /peers lists them")]
    NoSuchPeer(String),
    /// An `n2n peer` command named a prefix several peers share.
    #[error("{prefix:?} names {count} neighbours: give more digits")]
    AmbiguousPeer {
        /// What was typed.
        prefix: String,
        /// How many known peers start with it.
        count: usize,
    },
    /// An `n2n peer` line that is no command.
    #[error("unknown command {0:?}: /help lists the commands")]
    UnknownCommand(String),
    /// `/bridge` failed.
    #[error("bridge failed: {0}")]
    Bridge(#[source] ConnectError),
    /// `/connect` failed.
    #[error("connect failed: {0}")]
    Connect(#[source] ConnectError),
    /// A message could not be sent.
    #[error(transparent)]
    Send(#[from] SendError),
    /// `/disconnect` failed.
    #[error(transparent)]
    Disconnect(#[from] ArcError),
}

impl CliError {
    /// A join failure of `room`, with the room's name where it helps.
    pub(crate) fn join(error: JoinError, room: &str) -> Self {
        match error {
            JoinError::Signaling(ClientError::RoomFull(detail)) => CliError::RoomFull {
                room: room.to_owned(),
                detail,
            },
            JoinError::Signaling(ClientError::DuplicatePeer(detail)) => CliError::DuplicatePeer {
                room: room.to_owned(),
                detail,
            },
            other => CliError::Join(other),
        }
    }
}
