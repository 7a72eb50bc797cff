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
//! - SRTP ciphers made on first use ([`LazySrtp`]): str0m builds eight per
//!   connection once DTLS connects, and a data channel never uses them;
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
use str0m::crypto::{
    AeadAes128GcmCipher, AeadAes256GcmCipher, Aes128CmSha1_80Cipher, SrtpProvider,
    SupportedAeadAes128Gcm, SupportedAeadAes256Gcm, SupportedAes128CmSha1_80,
};
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

/// str0m's SRTP ciphers, made when first used.
///
/// Once DTLS connects, str0m derives SRTP keys and builds eight cipher
/// contexts per connection (RTP and RTCP, each way, both directions'
/// contexts), ~5 KiB of aws-lc key schedules that a data-channel-only
/// connection never touches: str0m has no setting to skip them
/// (`Session::set_keying_material` in str0m 0.25's `src/session.rs`
/// builds both `SrtpContext`s unconditionally). Each cipher here keeps its
/// key and builds the real one on its first packet.
#[derive(Debug)]
struct LazySrtp;

static LAZY_SRTP: LazySrtp = LazySrtp;

/// A cipher made on first use from `key` by `make`.
struct Lazy<K, C: ?Sized> {
    key: K,
    encrypt: bool,
    make: fn(K, bool) -> Box<C>,
    cipher: Option<Box<C>>,
}

impl<K, C: ?Sized> std::fmt::Debug for Lazy<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazySrtpCipher")
            .field("made", &self.cipher.is_some())
            .finish_non_exhaustive()
    }
}

impl<K: Copy, C: ?Sized> Lazy<K, C> {
    fn new(key: K, encrypt: bool, make: fn(K, bool) -> Box<C>) -> Box<Self> {
        Box::new(Lazy {
            key,
            encrypt,
            make,
            cipher: None,
        })
    }

    fn get(&mut self) -> &mut C {
        let (key, encrypt, make) = (self.key, self.encrypt, self.make);
        self.cipher.get_or_insert_with(|| make(key, encrypt))
    }
}

fn base_srtp() -> &'static dyn SrtpProvider {
    str0m_default().srtp_provider
}

impl Aes128CmSha1_80Cipher for Lazy<[u8; 16], dyn Aes128CmSha1_80Cipher> {
    fn encrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.get().encrypt(iv, input, output)
    }
    fn decrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.get().decrypt(iv, input, output)
    }
}

impl AeadAes128GcmCipher for Lazy<[u8; 16], dyn AeadAes128GcmCipher> {
    fn encrypt(
        &mut self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.get().encrypt(iv, aad, input, output)
    }
    fn decrypt(
        &mut self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.get().decrypt(iv, aads, input, output)
    }
}

impl AeadAes256GcmCipher for Lazy<[u8; 32], dyn AeadAes256GcmCipher> {
    fn encrypt(
        &mut self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.get().encrypt(iv, aad, input, output)
    }
    fn decrypt(
        &mut self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.get().decrypt(iv, aads, input, output)
    }
}

impl SupportedAes128CmSha1_80 for LazySrtp {
    fn create_cipher(&self, key: [u8; 16], encrypt: bool) -> Box<dyn Aes128CmSha1_80Cipher> {
        Lazy::new(key, encrypt, |k, e| {
            base_srtp().aes_128_cm_sha1_80().create_cipher(k, e)
        })
    }
}

impl SupportedAeadAes128Gcm for LazySrtp {
    fn create_cipher(&self, key: [u8; 16], encrypt: bool) -> Box<dyn AeadAes128GcmCipher> {
        Lazy::new(key, encrypt, |k, e| {
            base_srtp().aead_aes_128_gcm().create_cipher(k, e)
        })
    }
}

impl SupportedAeadAes256Gcm for LazySrtp {
    fn create_cipher(&self, key: [u8; 32], encrypt: bool) -> Box<dyn AeadAes256GcmCipher> {
        Lazy::new(key, encrypt, |k, e| {
            base_srtp().aead_aes_256_gcm().create_cipher(k, e)
        })
    }
}

impl SrtpProvider for LazySrtp {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        &LAZY_SRTP
    }
    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        &LAZY_SRTP
    }
    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        &LAZY_SRTP
    }
    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        base_srtp().srtp_aes_128_ecb_round(key, input, output);
    }
    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        base_srtp().srtp_aes_256_ecb_round(key, input, output);
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
                srtp_provider: &LAZY_SRTP,
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
    /// The acceptor's (ICE controlled) keep-alive interval, when it differs
    /// from the initiator's ([`NodeRtcConfig::with_keepalive`]).
    controlled_rto: Option<std::time::Duration>,
    /// Connections this node accepts run ICE-lite
    /// ([`NodeRtcConfig::with_lite_acceptor`]).
    lite_acceptor: bool,
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
        Ok(NodeRtcConfig {
            base,
            controlled_rto: None,
            lite_acceptor: false,
        })
    }

    /// A new `Rtc` from the prepared configuration.
    pub fn build(&self, now: Instant) -> Rtc {
        self.base.clone().build(now)
    }

    /// A new `Rtc` for a connection's end: the initiator (the offer's
    /// side, ICE controlling) or the acceptor, which may keep alive less
    /// often ([`NodeRtcConfig::with_keepalive`]).
    pub fn build_for(&self, now: Instant, initiator: bool) -> Rtc {
        let mut config = self.base.clone();
        if let (false, Some(rto)) = (initiator, self.controlled_rto) {
            config.set_max_stun_rto(rto);
        }
        if !initiator && self.lite_acceptor {
            config = config.set_ice_lite(true);
        }
        config.build(now)
    }

    /// Run ICE-lite (RFC 8445 2.5) on the connections this node accepts:
    /// for a node with a public address that many others dial, such as a
    /// hub. Its SDP answers say `a=ice-lite`; the initiator (a full agent,
    /// ICE controlling) does all the connectivity checks and keep-alives,
    /// and the lite end only answers them. An idle accepted connection
    /// then costs this node 2 datagrams per initiator keep-alive (the
    /// check and its answer) instead of 3, and no timer wake-up at all:
    /// its silence timer hears the initiator's checks.
    ///
    /// Use it only where every initiator can reach this node directly: a
    /// lite end sends no checks, so it opens no NAT binding toward the
    /// remote, gathers nothing and never uses a relay. Initiators must
    /// keep alive at least three times per silence timeout of this node
    /// (this backend's initiators check every keep-alive interval, 4 per
    /// silence timeout at the defaults; libwebrtc checks every 2.5 s once
    /// a pair is stable, so raise the silence timeout to 8 s or more for
    /// browsers). A lite end times no round trip of its own
    /// ([`Transport::rtt`](overlay_core::Transport::rtt) is `None` there).
    /// Connections this node initiates stay full ICE.
    #[must_use]
    pub fn with_lite_acceptor(mut self, lite: bool) -> Self {
        self.lite_acceptor = lite;
        self
    }

    /// Keep-alives for a silence timeout: the initiator's end checks the
    /// selected pair every `interval` and the acceptor's every
    /// `silence_timeout / 2` (never more often than `interval`).
    ///
    /// Either end's silence timer is satisfied by one exchange per
    /// interval: the initiator hears the answers to its checks, the
    /// acceptor hears the checks. The acceptor's own, slower checks keep
    /// it hearing something at least twice per silence timeout when the
    /// initiator is another stack that checks less often than `interval`
    /// (libwebrtc: every 2.5 s once a pair is stable). Between two nodes on
    /// this backend an idle connection then costs each end 3 datagrams per
    /// `interval` at the defaults (1 s, 4 s) instead of 4, and the
    /// acceptor wakes half as often: a hub, which accepts, does a quarter
    /// less idle work per connection.
    #[must_use]
    pub fn with_keepalive(
        mut self,
        interval: std::time::Duration,
        silence_timeout: std::time::Duration,
    ) -> Self {
        self.base.set_max_stun_rto(interval);
        self.controlled_rto = Some(interval.max(silence_timeout / 2));
        self
    }

    /// Probe the selected ICE pair every `interval` (str0m's
    /// `max_stun_rto`; 3 s by default in str0m, 1 s in
    /// [`rtc_common::RtcConfig::keepalive_interval`]): the keep-alive traffic
    /// that lets a silent remote be noticed within
    /// [`rtc_common::RtcConfig::silence_timeout`]. Each end sends one STUN
    /// binding request per interval and answers the other's (see
    /// [`NodeRtcConfig::with_keepalive`] for what a transport sets).
    #[must_use]
    pub fn with_keepalive_interval(mut self, interval: std::time::Duration) -> Self {
        self.base.set_max_stun_rto(interval);
        self.controlled_rto = None;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A lazy cipher makes nothing until used, then encrypts and decrypts
    /// exactly as str0m's own.
    #[test]
    fn lazy_srtp_ciphers_match_str0m() -> Result<(), CryptoError> {
        let key = [7u8; 16];
        let iv = [3u8; 12];
        let input = b"a packet nobody sends on a data channel";
        let mut lazy = Lazy::new(key, true, |k, e| {
            base_srtp().aead_aes_128_gcm().create_cipher(k, e)
        });
        assert!(lazy.cipher.is_none(), "made before first use");
        let mut base = base_srtp().aead_aes_128_gcm().create_cipher(key, true);
        let (mut a, mut b) = (vec![0; input.len() + 16], vec![0; input.len() + 16]);
        AeadAes128GcmCipher::encrypt(&mut *lazy, &iv, b"associated 12", input, &mut a)?;
        base.encrypt(&iv, b"associated 12", input, &mut b)?;
        assert!(lazy.cipher.is_some());
        assert_eq!(a, b);
        let mut dec = LAZY_SRTP.aead_aes_128_gcm().create_cipher(key, false);
        let mut plain = vec![0; a.len()];
        let n = dec.decrypt(&iv, &[b"associated 12"], &a, &mut plain)?;
        assert_eq!(&plain[..n], input);

        let key = [9u8; 16];
        let iv16 = [1u8; 16];
        let mut lazy = LAZY_SRTP.aes_128_cm_sha1_80().create_cipher(key, true);
        let mut base = base_srtp().aes_128_cm_sha1_80().create_cipher(key, true);
        let (mut a, mut b) = (vec![0; input.len()], vec![0; input.len()]);
        lazy.encrypt(&iv16, input, &mut a)?;
        base.encrypt(&iv16, input, &mut b)?;
        assert_eq!(a, b);

        let key = [5u8; 32];
        let mut lazy = LAZY_SRTP.aead_aes_256_gcm().create_cipher(key, true);
        let mut base = base_srtp().aead_aes_256_gcm().create_cipher(key, true);
        let (mut a, mut b) = (vec![0; input.len() + 16], vec![0; input.len() + 16]);
        lazy.encrypt(&iv, b"associated 12", input, &mut a)?;
        base.encrypt(&iv, b"associated 12", input, &mut b)?;
        assert_eq!(a, b);
        Ok(())
    }
}
