//! `n2n signal`: the signaling server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use n2n_overlay::signaling::{ObserveRooms, ServerConfig, ServerTls, SignalingServer};

use crate::error::CliError;

/// Options of `n2n signal`.
#[derive(Debug, clap::Args)]
pub(crate) struct SignalArgs {
    /// Address to listen on (`0.0.0.0:PORT` accepts other machines; port 0
    /// picks a free one, printed at start).
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Members per room.
    #[arg(long, default_value_t = 1024)]
    max_peers_per_room: usize,
    /// Sustained messages per second per client.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// Seconds of silence after which a client is dropped.
    #[arg(long, default_value_t = 45)]
    heartbeat_timeout_secs: u64,
    /// WebSocket connections at once from one client address (raise it
    /// behind a reverse proxy, where every client has the proxy's address).
    #[arg(long, default_value_t = 64)]
    max_connections_per_address: usize,
    /// Members one client address may have in one room.
    #[arg(long, default_value_t = 32)]
    max_members_per_address: usize,
    /// Serve wss:// with this certificate chain (PEM file); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM file) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Let the members of this room report their views for the page's room
    /// graph (repeatable; off by default).
    #[arg(long)]
    observe_room: Vec<String>,
    /// Let every room be observed (a demo or test server only).
    #[arg(long)]
    observe_all: bool,
    /// Do not serve the browser page on plain HTTP requests.
    #[arg(long)]
    no_page: bool,
}

/// Bind, print `listening on ws://ADDR/` (`wss://` with TLS), serve until Ctrl-C.
pub(crate) async fn run(args: SignalArgs) -> Result<(), CliError> {
    let mut config = ServerConfig::new(args.listen);
    config.max_peers_per_room = args.max_peers_per_room;
    config.messages_per_second = args.rate;
    config.burst = args.rate.saturating_mul(2);
    config.heartbeat_timeout = Duration::from_secs(args.heartbeat_timeout_secs.max(1));
    config.max_connections_per_address = args.max_connections_per_address;
    config.max_members_per_address = args.max_members_per_address;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(ServerTls::from_pem_files(cert, key)?);
    }
    config.web.serve_page = !args.no_page;
    config.web.observe = if args.observe_all {
        ObserveRooms::All
    } else if args.observe_room.is_empty() {
        ObserveRooms::None
    } else {
        ObserveRooms::Named(args.observe_room.clone())
    };
    let config_observe = config.web.observe.clone();
    let server = SignalingServer::bind(config).await?;
    println!("listening on {}", server.url());
    if !args.no_page && args.tls_cert.is_none() {
        println!(
            "browser page: http://{}/?room=lobby (room graph: {})",
            server.local_addr(),
            match &config_observe {
                ObserveRooms::All => "every room".to_owned(),
                ObserveRooms::Named(r) => r.join(", "),
                _ => "off; --observe-room NAME turns it on".to_owned(),
            }
        );
    }
    tokio::signal::ctrl_c().await.map_err(CliError::CtrlC)?;
    server.shutdown().await;
    println!("stopped");
    Ok(())
}
