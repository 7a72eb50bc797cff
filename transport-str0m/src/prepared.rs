//! What a node prepares once and every connection reuses.
//!
//! Where the ~0.9 ms of building one [`str0m::Rtc`] goes (`perf` on
//! `examples/rtc_build_profile.rs`): almost all of it in elliptic-curve
//! key generation and key exchanges on P-384, P-256 and X25519. They are
//! not the connection's keys: str0m's aws-lc-rs backend builds a new
//! DTLS configuration (`dimpl::Config`) for every `Rtc`, and building one
//! self-tests the crypto provider by running a key exchange in every
//! group. The certificate (~0.04 ms to make) and the codec tables are
//! small by comparison.
//!
//! So a node prepares:
//! - the crypto provider, installed once per process ([`install_crypto`]),
//!   with a DTLS provider whose `dimpl::Config` is built and validated once
//!   per process and shared by every connection (an `Arc`); everything
//!   else is str0m's own aws-lc-rs provider;
//! - one DTLS certificate per node, cloned into each connection (the
//!   remote checks its fingerprint from the SDP);
//! - a str0m configuration without audio/video codecs or RTP extensions
//!   (SDP then carries only the `application` line), with
//!   [`ICE_RETRANSMITS`] set, cloned for each connection.
//!
//! `cargo run --release -p n2n-benches --example str0m_setup` prints the
//! build cost with str0m's defaults
//! and with this preparation.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::config::CryptoProvider;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};
use str0m::crypto::CryptoError;
use str0m::{Rtc, RtcConfig};

use crate::error::BindError;

/// STUN retransmissions before ICE calls a pair dead (str0m's default is
/// 9). A vanished peer is noticed sooner by the transport's own silence
/// timer ([`rtc_common::RtcConfig::silence_timeout`]): str0m's ICE keeps a
/// pair for 15 s after the remote's last check whatever this is. 5 still
/// retries connectivity checks for several seconds during setup.
pub const ICE_RETRANSMITS: usize = 5;

/// str0m's aws-lc-rs DTLS provider, with the DTLS configuration made once.
#[derive(Debug)]
struct PreparedDtls {
    /// (MTU, configuration) for the MTU str0m asks with (its default).
    config: OnceLock<Option<(usize, Arc<dimpl::Config>)>>,
}

static PREPARED_DTLS: PreparedDtls = PreparedDtls {
    config: OnceLock::new(),
};

fn str0m_default() -> &'static CryptoProvider {
    static BASE: OnceLock<CryptoProvider> = OnceLock::new();
    BASE.get_or_init(str0m::crypto::from_feature_flags)
}

impl PreparedDtls {
    /// The shared configuration for `mtu`, if it is the prepared one.
    fn config_for(&self, mtu: Option<usize>) -> Option<Arc<dimpl::Config>> {
        let mtu = mtu?;
        let prepared = self.config.get_or_init(|| {
            // As str0m's provider does: ICE has already proven the remote
            // reachable, so no server cookie.
            match dimpl::Config::builder().use_server_cookie(false).mtu(mtu).build() {
                Ok(c) => Some((mtu, Arc::new(c))),
                Err(e) => {
                    tracing::warn!(error = %e, "no prepared DTLS configuration; building one per connection");
                    None
                }
            }
        });
        match prepared {
            Some((m, c)) if *m == mtu => Some(c.clone()),
            _ => None,
        }
    }
}

impl DtlsProvider for PreparedDtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        str0m_default().dtls_provider.generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        match (version, self.config_for(mtu)) {
            (DtlsVersion::Dtls12, Some(config)) => Ok(Box::new(Dtls12(dimpl::Dtls::new_12(
                config,
                cert.clone(),
                now,
            )))),
            _ => str0m_default()
                .dtls_provider
                .new_dtls(cert, now, version, mtu),
        }
    }
}

/// A DTLS 1.2 instance: dimpl's, handed to str0m as is.
struct Dtls12(dimpl::Dtls);

impl std::fmt::Debug for Dtls12 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dtls12")
    }
}

impl DtlsInstance for Dtls12 {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }
    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }
    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }
    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }
    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }
    fn is_active(&self) -> bool {
        self.0.is_active()
    }
    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }
    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }
    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

/// The process-wide crypto provider: str0m's aws-lc-rs one with the
/// prepared DTLS configuration. The first call also installs str0m's
/// provider as the process default (for `Rtc`s built elsewhere).
pub fn install_crypto() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            // A no-op if someone installed one before us.
            str0m::crypto::from_feature_flags().install_process_default();
            Arc::new(CryptoProvider {
                dtls_provider: &PREPARED_DTLS,
                ..str0m_default().clone()
            })
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
        let cert = provider
            .dtls_provider
            .generate_certificate()
            .ok_or(BindError::Certificate)?;
        let mut base = Rtc::builder()
            .set_crypto_provider(provider)
            .set_dtls_cert(cert)
            .clear_codecs()
            .clear_extension_map()
            // No statistics timer: it woke every connection every interval
            // for no traffic. The round-trip time (`Transport::rtt`) comes
            // from the ICE keep-alive exchanges themselves.
            .set_stats_interval(None);
        base.set_max_stun_retransmits(ICE_RETRANSMITS);
        Ok(NodeRtcConfig { base })
    }

    /// A new `Rtc` from the prepared configuration.
    pub fn build(&self, now: Instant) -> Rtc {
        self.base.clone().build(now)
    }

    /// Probe the selected ICE pair every `interval` (str0m's
    /// `max_stun_rto`; 3 s by default in str0m, 1 s in
    /// [`rtc_common::RtcConfig::keepalive_interval`]): the keep-alive traffic
    /// that lets a silent remote be noticed within
    /// [`rtc_common::RtcConfig::silence_timeout`]. Each end sends one STUN
    /// binding request per interval and answers the other's.
    #[must_use]
    pub fn with_keepalive_interval(mut self, interval: std::time::Duration) -> Self {
        self.base.set_max_stun_rto(interval);
        self
    }

    /// The prepared str0m configuration.
    pub fn rtc_config(&self) -> &RtcConfig {
        &self.base
    }

    /// Adjust the prepared str0m configuration before binding a transport
    /// with it ([`Str0mTransport::bind_prepared`](crate::Str0mTransport::bind_prepared)).
    ///
    /// For example `set_sctp_max_buffered_amount`: str0m keeps 128 KiB per
    /// connection by default. Its SCTP library scans the in-flight data on
    /// every poll, so on loopback a smaller buffer is faster (16 KiB frames,
    /// one way: 32 MB/s at 64 KiB, 26 MB/s at 128 KiB, 17 MB/s at 256 KiB),
    /// while over a long round trip the buffer bounds throughput (at most
    /// one buffer per round trip). The default suits the Internet; it must
    /// stay at least the engine's largest frame.
    #[must_use]
    pub fn with_rtc_config(mut self, f: impl FnOnce(RtcConfig) -> RtcConfig) -> Self {
        self.base = f(self.base);
        self
    }
}
