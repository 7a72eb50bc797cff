//! TLS for the server (`wss://`) and the roots the client trusts, on
//! rustls with the aws-lc-rs crypto provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate or key could not be used for TLS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        reason: String,
    },
    /// No PEM certificate in the certificate data.
    #[error("no certificate found in {what}: expected PEM blocks `-----BEGIN CERTIFICATE-----`")]
    NoCertificate {
        /// Where we looked.
        what: String,
    },
    /// No usable PEM private key in the key data.
    #[error("no private key found in {what}: expected a PEM `PRIVATE KEY` block (PKCS#8, PKCS#1 or SEC1) ({reason})")]
    NoKey {
        /// Where we looked.
        what: String,
        /// The parser's complaint.
        reason: String,
    },
    /// rustls refused the certificate chain, key or root.
    #[error("TLS setup failed: {0}; check that the key belongs to the certificate")]
    Rustls(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what: what.to_owned(),
        });
    }
    Ok(certs)
}

/// The crypto provider: aws-lc-rs (str0m uses it already; no ring).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The server's certificate chain and key: with it in
/// [`ServerConfig::tls`](crate::ServerConfig::tls) the server speaks
/// `wss://` only.
#[derive(Clone)]
pub struct ServerTls {
    pub(crate) config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// From PEM text: the certificate chain (leaf first) and its private key.
    ///
    /// # Errors
    /// [`TlsError::NoCertificate`], [`TlsError::NoKey`],
    /// [`TlsError::Rustls`] (the key does not match, unsupported algorithm).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        Self::build(cert_pem, key_pem, "the certificate", "the key")
    }

    /// From PEM files (as `n2n signal --tls-cert FILE --tls-key FILE`).
    ///
    /// # Errors
    /// [`TlsError::Read`], and as [`ServerTls::from_pem`].
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        Self::build(
            &read(cert)?,
            &read(key)?,
            &cert.display().to_string(),
            &key.display().to_string(),
        )
    }

    fn build(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_what: &str,
        key_what: &str,
    ) -> Result<Self, TlsError> {
        let chain = certificates(cert_pem, cert_what)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::NoKey {
            what: key_what.to_owned(),
            reason: e.to_string(),
        })?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }
}

/// Roots a client trusts for `wss://`: the system's, plus any added.
pub(crate) fn client_config(
    extra_roots: &[Vec<u8>],
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system root rustls cannot parse is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    for der in extra_roots {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| TlsError::Rustls(format!("the added root certificate: {e}")))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The DER certificates in PEM text (for
/// [`ClientConfig::with_root_certificate_pem`](crate::ClientConfig::with_root_certificate_pem)).
pub(crate) fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, TlsError> {
    Ok(certificates(pem, "the root certificate")?
        .into_iter()
        .map(|c| c.as_ref().to_vec())
        .collect())
}
