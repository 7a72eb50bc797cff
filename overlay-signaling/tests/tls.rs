//! TLS: the server speaks `wss://` with a certificate from PEM files, the
//! client trusts an added root, relays work over it; a client that does
//! not trust the certificate gets a typed error saying what to do, and a
//! plain `ws://` client is not served. Certificates are made by the test
//! (rcgen: a private authority and a leaf for 127.0.0.1 and localhost).

mod common;

use common::{envelope, key, peer, server, TestResult};
use overlay_core::Signal;
use overlay_signaling::{
    ClientConfig, ClientError, Contact, Incoming, ServerTls, SignalingClient, TlsError,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};

struct Pki {
    ca_pem: String,
    leaf_pem: String,
    leaf_key_pem: String,
}

fn pki() -> Result<Pki, rcgen::Error> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        leaf_pem: leaf_cert.pem(),
        leaf_key_pem: leaf_key.serialize_pem(),
    })
}

#[tokio::test]
async fn wss_with_an_added_root() -> TestResult {
    let pki = pki()?;
    let dir = std::env::temp_dir().join(format!("n2n-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, &pki.leaf_pem)?;
    std::fs::write(&key_file, &pki.leaf_key_pem)?;
    let tls = ServerTls::from_pem_files(&cert_file, &key_file)?;
    let server = server(|c| c.tls = Some(tls)).await?;
    let url = server.url();
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");

    // Trusting the private authority: join and relay over TLS.
    let trusting = ClientConfig::default()
        .allowing_named(true)
        .with_root_certificate_pem(pki.ca_pem.as_bytes())?;
    let mut contact = SignalingClient::connect_with(&url, "r", &key(1), trusting.clone()).await?;
    let newcomer = SignalingClient::connect_with(&url, "r", &key(2), trusting.clone()).await?;
    assert_eq!(
        newcomer.request_contact(None).await?,
        Contact::Peer(peer(1))
    );
    let offer = envelope(peer(2), 9, Signal::Offer { sdp: "v=0".into() });
    newcomer.send(peer(1), offer.clone()).await?;
    assert_eq!(contact.recv().await?, Incoming::Signal(offer));
    // "localhost" is in the certificate too.
    let by_name = url.replace("127.0.0.1", "localhost");
    let third = SignalingClient::connect_with(&by_name, "r", &key(3), trusting).await?;
    assert_eq!(third.members_at_join(), 2);

    // Without that root: a typed error that says what to do.
    match SignalingClient::connect(&url, "r", &key(4)).await {
        Err(e @ ClientError::Tls { .. }) => {
            let text = e.to_string();
            assert!(text.contains("with_root_certificate_pem"), "{text}");
        }
        other => return Err(format!("expected a TLS error, got {other:?}").into()),
    }
    // Plain ws:// to a TLS server is not served.
    let plain = url.replacen("wss://", "ws://", 1);
    let refused = SignalingClient::connect(&plain, "r", &key(5)).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(server.stats().peers, 3);

    contact.close().await;
    newcomer.close().await;
    third.close().await;
    server.shutdown().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn unusable_certificates_and_keys_are_typed_errors() -> Result<(), Box<dyn std::error::Error>> {
    let pki = pki()?;
    assert!(matches!(
        ServerTls::from_pem(b"not pem", pki.leaf_key_pem.as_bytes()),
        Err(TlsError::NoCertificate { .. })
    ));
    assert!(matches!(
        ServerTls::from_pem(pki.leaf_pem.as_bytes(), b"no key here"),
        Err(TlsError::NoKey { .. })
    ));
    // A key that is not the certificate's.
    let other = KeyPair::generate()?.serialize_pem();
    assert!(matches!(
        ServerTls::from_pem(pki.leaf_pem.as_bytes(), other.as_bytes()),
        Err(TlsError::Rustls(_))
    ));
    let missing =
        ServerTls::from_pem_files("/nonexistent/c.pem".as_ref(), "/nonexistent/k.pem".as_ref());
    assert!(matches!(missing, Err(TlsError::Read { .. })));
    assert!(matches!(
        ClientConfig::default().with_root_certificate_pem(b"nothing"),
        Err(TlsError::NoCertificate { .. })
    ));
    Ok(())
}
