//! The standalone signaling server: `overlay-signaling --listen 127.0.0.1:8765`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use overlay_signaling::{ServerConfig, ServerTls, SignalingServer};

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
    /// WebSocket connections at once from one client address.
    #[arg(long, default_value_t = 64)]
    max_connections_per_address: usize,
    /// Rooms in which one client address may have members.
    #[arg(long, default_value_t = 16)]
    max_rooms_per_address: usize,
    /// Members one client address may have in one room.
    #[arg(long, default_value_t = 32)]
    max_members_per_address: usize,
    /// Serve wss:// with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
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
    config.max_connections_per_address = args.max_connections_per_address;
    config.max_rooms_per_address = args.max_rooms_per_address;
    config.max_members_per_address = args.max_members_per_address;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        match ServerTls::from_pem_files(cert, key) {
            Ok(tls) => config.tls = Some(tls),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
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
