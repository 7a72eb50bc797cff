//! Shared test harness: servers on 127.0.0.1 port 0, a raw WebSocket client
//! that sends arbitrary text, ids and envelopes.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use overlay_core::{HandshakeId, Keypair, PeerId, ProtocolId, Signal, SignalEnvelope};
use overlay_signaling::wire::{self, Nonce, ServerFrame, ServerMessage};
use overlay_signaling::{
    ClientConfig, ClientError, ErrorCode, ServerConfig, SignalingClient, SignalingServer,
};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type Error = Box<dyn std::error::Error>;

/// A liveness guard for awaits that must complete (not a timing assertion):
/// a broken server fails the test instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn key(n: u8) -> Keypair {
    Keypair::from_secret_bytes([n; 32])
}

pub fn peer(n: u8) -> PeerId {
    key(n).peer_id()
}

/// Join `room` as peer `n` with the real client; other members may name it.
pub async fn join(url: &str, room: &str, n: u8) -> Result<SignalingClient, ClientError> {
    let config = ClientConfig::default().allowing_named(true);
    SignalingClient::connect_with(url, room, &key(n), config).await
}

pub fn envelope(from: PeerId, handshake: u64, signal: Signal) -> SignalEnvelope {
    SignalEnvelope {
        handshake: HandshakeId(handshake),
        from,
        to: None,
        protocol: ProtocolId::new("spray").unwrap_or_else(|_| unreachable!("valid name")),
        seq: 0,
        // The server relays envelopes without checking signatures.
        signature: overlay_core::SignatureBytes([0; 64]),
        signal,
        more: Vec::new(),
    }
}

/// A server with `tune` applied to the defaults, on 127.0.0.1 port 0.
pub async fn server(tune: impl FnOnce(&mut ServerConfig)) -> Result<SignalingServer, Error> {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("overlay_signaling=debug")
        .try_init();
    let mut config = ServerConfig::default();
    tune(&mut config);
    Ok(SignalingServer::bind(config).await?)
}

/// A WebSocket client that sends whatever the test wants.
pub struct Raw {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The server's join challenge (its first frame).
    pub nonce: Nonce,
}

/// How a raw connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Close(u16),
    /// The socket ended without a close frame.
    Dropped,
}

impl Raw {
    /// Connect and read the challenge.
    pub async fn connect(url: &str) -> Result<Raw, Error> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        let mut raw = Raw {
            ws,
            nonce: Nonce([0; 32]),
        };
        match raw.next_frame().await?.msg {
            ServerMessage::Challenge { nonce } => raw.nonce = nonce,
            other => return Err(format!("expected the challenge, got {other:?}").into()),
        }
        Ok(raw)
    }

    /// Connect, and return the first frame instead of expecting a challenge.
    pub async fn connect_unchecked(url: &str) -> Result<Raw, Error> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Raw {
            ws,
            nonce: Nonce([0; 32]),
        })
    }

    pub async fn send_text(&mut self, text: impl Into<String>) -> TestResult {
        self.ws.send(Message::Text(text.into().into())).await?;
        Ok(())
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> TestResult {
        self.ws.send(Message::Binary(bytes.into())).await?;
        Ok(())
    }

    /// Queue texts and flush them in one go (they reach the server together).
    pub async fn send_burst(&mut self, texts: Vec<String>) -> TestResult {
        for text in texts {
            self.ws.feed(Message::Text(text.into())).await?;
        }
        self.ws.flush().await?;
        Ok(())
    }

    /// The next JSON frame from the server (pings answered and skipped).
    pub async fn next_json(&mut self) -> Result<serde_json::Value, Error> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .map_err(|_| "no message from the server")?
                .ok_or("connection ended")??;
            match message {
                Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
                Message::Close(frame) => return Err(format!("connection closed: {frame:?}").into()),
                _ => {}
            }
        }
    }

    pub async fn next_frame(&mut self) -> Result<ServerFrame, Error> {
        Ok(serde_json::from_value(self.next_json().await?)?)
    }

    /// Expect an error frame; returns (id, code).
    pub async fn expect_error(&mut self) -> Result<(Option<u64>, ErrorCode), Error> {
        let frame = self.next_frame().await?;
        match frame.msg {
            ServerMessage::Error { code, message } => {
                assert!(!message.is_empty(), "error frames explain themselves");
                Ok((frame.id, code))
            }
            other => Err(format!("expected an error, got {other:?}").into()),
        }
    }

    /// A signed join as `key` (other members may name it).
    pub async fn join(&mut self, room: &str, key: &Keypair) -> Result<ServerFrame, Error> {
        let signature = wire::sign_join(key, &self.nonce, room);
        self.send_text(
            json!({"v": 2, "type": "join", "room": room, "peer": key.peer_id(),
                   "signature": signature, "allowNamed": true})
            .to_string(),
        )
        .await?;
        self.next_frame().await
    }

    /// Every frame until the connection ends, and how it ended.
    pub async fn frames_until_end(&mut self) -> Result<(Vec<ServerFrame>, Ended), Error> {
        let mut frames = Vec::new();
        loop {
            let next = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .map_err(|_| "connection still open")?;
            match next {
                None | Some(Err(_)) => return Ok((frames, Ended::Dropped)),
                Some(Ok(Message::Close(frame))) => {
                    let end = frame.map_or(Ended::Dropped, |f| Ended::Close(u16::from(f.code)));
                    return Ok((frames, end));
                }
                Some(Ok(Message::Text(text))) => frames.push(serde_json::from_str(text.as_str())?),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Read until the connection ends; skips text frames.
    pub async fn ended(&mut self) -> Result<Ended, Error> {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .map_err(|_| "connection still open")?;
            match next {
                None | Some(Err(_)) => return Ok(Ended::Dropped),
                Some(Ok(Message::Close(frame))) => {
                    return Ok(frame.map_or(Ended::Dropped, |f| Ended::Close(u16::from(f.code))));
                }
                Some(Ok(_)) => {}
            }
        }
    }
}

pub fn request_contact(id: u64, want: Option<PeerId>) -> String {
    match want {
        Some(p) => json!({"v": 2, "type": "requestContact", "id": id, "peer": p}).to_string(),
        None => json!({"v": 2, "type": "requestContact", "id": id}).to_string(),
    }
}

pub fn signal_to(id: u64, to: PeerId, envelope: &SignalEnvelope) -> String {
    json!({"v": 2, "type": "signal", "id": id, "to": to, "envelope": envelope}).to_string()
}

/// Wait until the server's stats satisfy `ready` (a condition, not a time).
pub async fn until(
    server: &SignalingServer,
    ready: impl Fn(&overlay_signaling::ServerStats) -> bool,
) -> TestResult {
    for _ in 0..10_000 {
        if ready(&server.stats()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(format!(
        "server never reached the expected state: {:?}",
        server.stats()
    )
    .into())
}
