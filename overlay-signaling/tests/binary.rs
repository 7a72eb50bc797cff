//! The standalone binary: it prints the URL it listens on, serves clients,
//! refuses a port in use with one clear line, and shuts down cleanly on
//! Ctrl-C (SIGINT), telling its clients why.

mod common;

use std::process::Stdio;

use common::{envelope, join, peer, TestResult, PATIENCE};
use overlay_core::Signal;
use overlay_signaling::{ClientError, Contact, Incoming};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_overlay-signaling");

#[tokio::test]
async fn standalone_server_serves_and_stops_cleanly() -> TestResult {
    let mut server = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
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
        .ok_or(format!("unexpected first line {line:?}"))?;
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
