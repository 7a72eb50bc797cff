//! The client's errors before any server answers: an unreachable server, a
//! URL that is not ws://, wss:// (not built in), a bad room name. Each error
//! message says what to do.

mod common;

use common::{peer, TestResult};
use overlay_signaling::{ClientError, SignalingClient};

#[tokio::test]
async fn connect_errors_say_what_to_do() -> TestResult {
    // A port nobody listens on: bind one, then free it.
    let free = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await?
        .local_addr()?;
    let url = format!("ws://{free}/");
    match SignalingClient::connect(&url, "r", peer(1)).await {
        Err(e @ ClientError::Unreachable { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&url) && text.contains("check that it runs"),
                "{text}"
            );
        }
        other => return Err(format!("expected Unreachable, got {other:?}").into()),
    }

    match SignalingClient::connect("http://127.0.0.1:1/", "r", peer(1)).await {
        Err(ClientError::InvalidUrl { reason, .. }) => {
            assert!(reason.contains("ws://"), "{reason}")
        }
        other => return Err(format!("expected InvalidUrl, got {other:?}").into()),
    }
    match SignalingClient::connect("wss://127.0.0.1:1/", "r", peer(1)).await {
        Err(ClientError::InvalidUrl { reason, .. }) => {
            assert!(reason.contains("TLS proxy"), "{reason}")
        }
        other => return Err(format!("expected InvalidUrl, got {other:?}").into()),
    }
    match SignalingClient::connect(&url, "", peer(1)).await {
        Err(ClientError::InvalidRoom { reason, .. }) => {
            assert!(reason.contains("1 to 64 bytes"), "{reason}")
        }
        other => return Err(format!("expected InvalidRoom, got {other:?}").into()),
    }
    Ok(())
}
