//! This backend's settings beyond the shared [`RtcConfig`]: [`Options`],
//! and the [`Settings`] every connection task reads.

use std::sync::Arc;
use std::time::Duration;

use rtc::crypto::RTCCryptoProvider;
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};

use crate::error::BindError;
#[cfg(doc)]
use overlay_core::Transport;
use rtc_common::RtcConfig;

/// Settings of this backend beyond the shared [`RtcConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Bytes a data channel may hold unacknowledged before `send` waits
    /// (`PeerConnectionBuilder::with_data_channel_send_buffer_limit`).
    /// 1 MiB by default: unbounded, a burst of sends is an order of
    /// magnitude slower (measured in `benches/README.md`).
    pub send_buffer_limit: usize,
    /// Work around the driver's 600 ms setup stall (see the crate docs).
    /// `true` by default; `false` only to measure the stall.
    pub fix_setup_stall: bool,
    /// Bytes of frames the engine may have queued in a connection's pump
    /// ([`Transport::send_window`]); 256 KiB by default.
    pub send_window: usize,
    /// How long the offering (ICE-controlling) side waits before it
    /// nominates a pair whose remote candidate is peer-reflexive. The
    /// library's default is 1 s; with trickle ICE the remote's first check
    /// often arrives before its candidate does, which makes the pair
    /// peer-reflexive, so the default costs a second of setup. 0 by default
    /// (as libwebrtc).
    pub prflx_acceptance_min_wait: Duration,
    /// ICE check pacing while connecting. The library checks (and the
    /// offering side nominates a pair that became valid) only on this tick,
    /// 200 ms by default; a pair that turns valid just after a tick waits
    /// for the next one. 25 ms by default (RFC 8445 suggests 50 ms pacing for
    /// the checks of one agent; on a LAN or loopback setup takes a few
    /// checks, so the extra traffic is brief). The number of
    /// checks per pair is scaled so a pair is still tried for ~1.4 s.
    pub ice_check_interval: Duration,
    /// Hold the datagrams a fast remote sends before the library can use
    /// them (an ICE check before the remote description is applied, a DTLS
    /// record before ICE selected a pair) and hand them to the library
    /// once it can, instead of letting it drop them and waiting for the
    /// remote's retransmission (see the crate docs, "Early packets").
    /// `true` by default; `false` only to measure what the drops cost.
    pub hold_early_packets: bool,
    /// Put the candidates gathered so far into the offer or answer: the
    /// description is sent once the first local candidate is gathered (or
    /// gathering is over, or after [`Options::description_wait`]) rather
    /// than at once with none, and those candidates are not trickled
    /// again. The remote can then check at once when the description
    /// arrives instead of one signaling hop later; with libdatachannel
    /// (libjuice) this saves its 50 ms pacing of a triggered check (see
    /// `docs/INTEROP-SETUP.md`). `true` by default; `false` only to measure.
    pub candidates_in_description: bool,
    /// Longest a description waits for its first local candidate
    /// ([`Options::candidates_in_description`]); 20 ms by default. Host
    /// candidates come in the library's first pass after the description
    /// is set (well under a millisecond on an idle machine).
    pub description_wait: Duration,
    /// When this side offers: longest it waits, once the answer is here,
    /// for the remote's first ICE check before applying the answer (and so
    /// before sending its own first check); 10 ms by default, zero to
    /// apply the answer at once. A remote that has our candidate (it is in
    /// the offer) checks as soon as it answered, so its check is normally
    /// here already and nothing waits. Why: a check of ours that reaches
    /// libdatachannel (libjuice) before its own first check left makes it
    /// postpone that check by 50 ms, twice (see `docs/INTEROP-SETUP.md`);
    /// and with the remote's check in hand the library nominates at once.
    /// Needs [`Options::hold_early_packets`].
    pub remote_check_wait: Duration,
    /// Make one DTLS certificate (ECDSA P-256) and one crypto provider when
    /// the transport binds and give them to every connection, as the str0m
    /// backend and browsers with a stored `RTCCertificate` do; `false`: the
    /// library makes a fresh key pair and self-signed certificate for each
    /// connection (~0.07 ms of CPU and a few KiB each; see
    /// `docs/INTEROP-SETUP.md`, "Memory per idle connection"). `true` by default. What it means for privacy:
    /// DTLS 1.2 sends certificates in the clear, so an observer on the path
    /// can tell that two connections are the same node's; the node's
    /// `PeerId` already says so to every peer and to the signaling server
    /// (`SECURITY.md`).
    pub certificate_per_node: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            send_buffer_limit: 1024 * 1024,
            fix_setup_stall: true,
            send_window: 256 * 1024,
            prflx_acceptance_min_wait: Duration::ZERO,
            ice_check_interval: Duration::from_millis(25),
            hold_early_packets: true,
            candidates_in_description: true,
            description_wait: Duration::from_millis(20),
            remote_check_wait: Duration::from_millis(10),
            certificate_per_node: true,
        }
    }
}

impl Options {
    /// Turn the setup-stall workaround on or off (off only to measure it).
    #[must_use]
    pub fn with_fix_setup_stall(mut self, on: bool) -> Self {
        self.fix_setup_stall = on;
        self
    }

    /// Turn the holding of early datagrams on or off (off only to measure
    /// what their loss costs).
    #[must_use]
    pub fn with_hold_early_packets(mut self, on: bool) -> Self {
        self.hold_early_packets = on;
        self
    }

    /// Set [`Options::remote_check_wait`] (zero: apply the answer at once).
    #[must_use]
    pub fn with_remote_check_wait(mut self, wait: Duration) -> Self {
        self.remote_check_wait = wait;
        self
    }

    /// Turn on or off sending the gathered candidates inside the offer or
    /// answer (off only to measure what trickling them alone costs).
    #[must_use]
    pub fn with_candidates_in_description(mut self, on: bool) -> Self {
        self.candidates_in_description = on;
        self
    }

    /// Set [`Options::certificate_per_node`] (`false`: a certificate made
    /// for each connection).
    #[must_use]
    pub fn with_certificate_per_node(mut self, on: bool) -> Self {
        self.certificate_per_node = on;
        self
    }
}

/// Everything a connection task needs to know.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) rtc: RtcConfig,
    pub(crate) send_buffer_limit: usize,
    pub(crate) fix_stall: bool,
    pub(crate) prflx_acceptance_min_wait: Duration,
    pub(crate) ice_check_interval: Duration,
    pub(crate) hold_early_packets: bool,
    /// `Some(longest wait)`: send the local description with the first
    /// gathered candidates in it ([`Options::candidates_in_description`]).
    pub(crate) description_wait: Option<Duration>,
    /// [`Options::remote_check_wait`].
    pub(crate) remote_check_wait: Duration,
    /// [`Options::certificate_per_node`]: the node's certificate and
    /// crypto provider, or `None` to let the library make them per
    /// connection.
    pub(crate) node_crypto: Option<NodeCrypto>,
}

/// The DTLS certificate and crypto provider all of a node's connections
/// share ([`Options::certificate_per_node`]).
pub(crate) struct NodeCrypto {
    pub(crate) provider: Arc<dyn RTCCryptoProvider>,
    pub(crate) certificate: RTCCertificate,
}

impl std::fmt::Debug for NodeCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCrypto").finish_non_exhaustive()
    }
}

impl NodeCrypto {
    /// The library's default provider and a fresh ECDSA P-256 certificate
    /// (what the library would make for each connection).
    ///
    /// # Errors
    /// [`BindError::Certificate`] if the provider or the certificate
    /// cannot be made.
    pub(crate) fn generate() -> Result<Self, BindError> {
        let failed = |reason: String| BindError::Certificate { reason };
        let provider = rtc::crypto::default_provider().map_err(|e| failed(e.to_string()))?;
        // WebRTC checks fingerprints, not the subject name: random, as the
        // library's own (a fixed name would mark the software in the clear).
        let name = format!("{:016x}", rand::random::<u64>());
        let params = CertificateParams::new(vec![name]).map_err(|e| failed(e.to_string()))?;
        let certificate = RTCCertificate::generate(
            provider.crypto(),
            rtc::crypto::SignatureScheme::EcdsaP256Sha256,
            params,
        )
        .map_err(|e| failed(e.to_string()))?;
        Ok(NodeCrypto {
            provider,
            certificate,
        })
    }
}
