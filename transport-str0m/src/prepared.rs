//! What a node prepares once and every connection reuses.
//!
//! Building an [`str0m::Rtc`] with str0m's defaults generates a fresh DTLS
//! certificate (key pair and self-signed X.509) and sets up every audio and
//! video codec and RTP header extension str0m knows, none of which a data
//! channel uses. A node instead:
//! - installs the crypto provider once per process ([`install_crypto`]),
//!   and hands it to every `Rtc` explicitly (no global lookup per build);
//! - makes one DTLS certificate ([`NodeRtcConfig::new`]) and clones it into
//!   each `Rtc` (the remote checks its fingerprint from the SDP, which is per
//!   connection anyway);
//! - clears the codec list and the RTP extension map: SDP then carries only
//!   the `application` line, and the session holds no media state.
//!
//! The resulting `str0m::RtcConfig` is cloned for each connection.
//! `examples/setup_bench.rs` measures what this saves.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::config::CryptoProvider;
use str0m::{Rtc, RtcConfig};

use crate::error::BindError;

/// STUN retransmissions before ICE calls a pair dead. str0m's default (9)
/// makes a vanished peer noticed after its retransmissions (RTO 250 ms
/// doubling up to 3 s) add up to ~21 s; 5 adds up to ~9.5 s (about 15 s
/// from the last answer to the close, measured by `tests/vanished_peer.rs`),
/// and still retries connectivity checks for ~9 s.
pub const ICE_RETRANSMITS: usize = 5;

/// The process-wide crypto provider (aws-lc-rs), installed as str0m's
/// process default the first time it is asked for.
pub fn install_crypto() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            // A no-op if someone installed one before us; both are aws-lc-rs.
            str0m::crypto::from_feature_flags().install_process_default();
            Arc::new(str0m::crypto::from_feature_flags())
        })
        .clone()
}

/// A node's prepared str0m configuration: crypto provider, one DTLS
/// certificate, no codecs. Cheap to clone into each connection.
#[derive(Debug, Clone)]
pub struct NodeRtcConfig {
    base: RtcConfig,
}

impl NodeRtcConfig {
    /// Prepare: install the crypto provider (once per process) and make the
    /// node's DTLS certificate.
    ///
    /// # Errors
    /// [`BindError::Certificate`] if the provider cannot make a certificate.
    pub fn new() -> Result<Self, BindError> {
        let provider = install_crypto();
        let cert = provider.dtls_provider.generate_certificate().ok_or(BindError::Certificate)?;
        let mut base = Rtc::builder()
            .set_crypto_provider(provider)
            .set_dtls_cert(cert)
            .clear_codecs()
            .clear_extension_map();
        base.set_max_stun_retransmits(ICE_RETRANSMITS);
        Ok(NodeRtcConfig { base })
    }

    /// A new `Rtc` from the prepared configuration.
    pub fn build(&self, now: Instant) -> Rtc {
        self.base.clone().build(now)
    }

    /// The prepared str0m configuration (to adjust before building).
    pub fn rtc_config(&self) -> &RtcConfig {
        &self.base
    }
}
