//! The client's errors before any server answers: an unreachable server, a
//! URL that is not ws:// or wss://, a bad room name. Each error
//! message says what to do.

mod common;

use common::{join, TestResult};
use overlay_signaling::ClientError;

#[tokio::test]
async fn connect_errors_say_what_to_do() -> TestResult {
    // A port nobody listens on: bind one, then free it.
    let free = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await?
        .local_addr()?;
    let url = format!("ws://{free}/");
    match join(&url, "r", 1).await {
        Err(e @ ClientError::Unreachable { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&url) && text.contains("check that it runs"),
                "{text}"
            );
        }
        other => return Err(format!("expected Unreachable, got {other:?}").into()),
    }

    match join("http://127.0.0.1:1/", "r", 1).await {
        Err(ClientError::InvalidUrl { reason, .. }) => {
            assert!(reason.contains("ws://"), "{reason}")
        }
        other => return Err(format!("expected InvalidUrl, got {other:?}").into()),
    }
    // wss:// is built in: nobody listens there.
    match join(&format!("wss://{free}/"), "r", 1).await {
        Err(ClientError::Unreachable { .. }) => {}
        other => return Err(format!("expected Unreachable, got {other:?}").into()),
    }
    match join(&url, "", 1).await {
        Err(ClientError::InvalidRoom { reason, .. }) => {
            assert!(reason.contains("1 to 64 bytes"), "{reason}")
        }
        other => return Err(format!("expected InvalidRoom, got {other:?}").into()),
    }
    Ok(())
}
