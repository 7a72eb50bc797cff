//! The standalone binary: it prints the URL it listens on, serves clients,
//! refuses a port in use with one clear line, and shuts down cleanly on
//! Ctrl-C (SIGINT), telling its clients why.

mod common;

use std::process::Stdio;

use common::{envelope, join, key, peer, TestResult, PATIENCE};
use overlay_core::Signal;
use overlay_signaling::{ClientConfig, ClientError, Contact, Incoming, SignalingClient};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_overlay-signaling");

/// Start the binary with `args`; the URL its first line says it listens on.
async fn start(args: &[&str]) -> Result<(Child, String), Box<dyn std::error::Error>> {
    let mut server = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = server.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, BufReader::new(stdout).read_line(&mut line)).await??;
    let url = line
        .trim()
        .strip_prefix("signaling server listening on ")
        .ok_or(format!("unexpected first line {line:?}"))?
        .to_owned();
    Ok((server, url))
}

#[tokio::test]
async fn standalone_server_serves_and_stops_cleanly() -> TestResult {
    let (mut server, url) = start(&["--listen", "127.0.0.1:0"]).await?;
    let url = url.as_str();
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();

    let mut contact = join(url, "r", 1).await?;
    let newcomer = join(url, "r", 2).await?;
    assert_eq!(
        newcomer.request_contact(None).await?,
        Contact::Peer(peer(1))
    );
    let offer = envelope(peer(2), 3, Signal::Offer { sdp: "v=0".into() });
    newcomer.send(peer(1), offer.clone()).await?;
    assert_eq!(contact.recv().await?, Incoming::Signal(offer));

    // A second server on the same port: one line saying what to do.
    let busy = Command::new(BIN)
        .args(["--listen", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = tokio::time::timeout(PATIENCE, busy.wait_with_output()).await??;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr)?;
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("choose another port"), "{stderr}");

    // Ctrl-C: clients are told, the process exits with success.
    let pid = server.id().ok_or("server already exited")?;
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .await?;
    assert!(status.success());
    assert_eq!(contact.recv().await, Err(ClientError::ShuttingDown));
    let status = tokio::time::timeout(PATIENCE, server.wait()).await??;
    assert!(status.success(), "{status:?}");
    newcomer.close().await;
    Ok(())
}

/// `--tls-cert` and `--tls-key`: the server prints a `wss://` URL and a
/// client that trusts the certificate joins through it; a bad key file is
/// one line saying what is wrong.
#[tokio::test]
async fn standalone_server_serves_wss() -> TestResult {
    let issuer_key = rcgen::KeyPair::generate()?;
    let cert =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])?.self_signed(&issuer_key)?;
    let dir = std::env::temp_dir().join(format!("n2n-binary-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (cert_file, key_file, bad_file) =
        (dir.join("c.pem"), dir.join("k.pem"), dir.join("bad.pem"));
    std::fs::write(&cert_file, cert.pem())?;
    std::fs::write(&key_file, issuer_key.serialize_pem())?;
    std::fs::write(&bad_file, "no key")?;

    let bad = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_file)
        .arg("--tls-key")
        .arg(&bad_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = tokio::time::timeout(PATIENCE, bad.wait_with_output()).await??;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr)?;
    assert!(
        stderr.starts_with("error: no private key found"),
        "{stderr}"
    );

    let (cert_arg, key_arg) = (
        cert_file.to_str().ok_or("path")?,
        key_file.to_str().ok_or("path")?,
    );
    let (mut server, url) = start(&[
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert_arg,
        "--tls-key",
        key_arg,
    ])
    .await?;
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    // A self-signed certificate: the client adds it as a root.
    let config = ClientConfig::default().with_root_certificate_pem(cert.pem().as_bytes())?;
    let client = SignalingClient::connect_with(&url, "r", &key(1), config).await?;
    assert_eq!(client.request_contact(None).await?, Contact::Alone);
    client.close().await;
    server.kill().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
