//! The standalone signaling server: `overlay-signaling --listen 127.0.0.1:8765`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use overlay_signaling::{ServerConfig, SignalingServer};

/// WebSocket signaling server for n2n-overlay: rooms, contacts, and relay of
/// handshake signals between newcomers and their contacts.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (use 0.0.0.0:PORT to accept other machines).
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Members per room.
    #[arg(long, default_value_t = 1024)]
    max_peers_per_room: usize,
    /// Rooms open at once.
    #[arg(long, default_value_t = 1024)]
    max_rooms: usize,
    /// WebSocket connections at once.
    #[arg(long, default_value_t = 8192)]
    max_connections: usize,
    /// Longest message, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_message_bytes: usize,
    /// Sustained messages per second per client.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// Burst of messages per client.
    #[arg(long, default_value_t = 40)]
    burst: u32,
    /// Seconds between heartbeat pings.
    #[arg(long, default_value_t = 15)]
    ping_secs: u64,
    /// Seconds of silence after which a client is dropped.
    #[arg(long, default_value_t = 45)]
    heartbeat_timeout_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut config = ServerConfig::new(args.listen);
    config.max_peers_per_room = args.max_peers_per_room;
    config.max_rooms = args.max_rooms;
    config.max_connections = args.max_connections;
    config.max_message_bytes = args.max_message_bytes;
    config.messages_per_second = args.rate;
    config.burst = args.burst;
    config.ping_interval = Duration::from_secs(args.ping_secs.max(1));
    config.heartbeat_timeout = Duration::from_secs(args.heartbeat_timeout_secs.max(1));
    let server = match SignalingServer::bind(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("signaling server listening on {}", server.url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    server.shutdown().await;
    ExitCode::SUCCESS
}
