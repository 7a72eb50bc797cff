//! The server's command-line options (feature `cli`): one definition for
//! the `overlay-signaling` binary and `n2n signal`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::ServerConfig;
use crate::tls::{ServerTls, TlsError};
use crate::web::ObserveRooms;

/// The signaling server's options as command-line flags, for a
/// [`clap`] command: `#[command(flatten)] server: ServerArgs`, then
/// [`ServerArgs::to_config`].
///
/// ```
/// use clap::Parser;
/// use overlay_signaling::ServerArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     server: ServerArgs,
/// }
///
/// let cli = Cli::parse_from(["signal", "--listen", "127.0.0.1:0", "--rate", "5"]);
/// let config = cli.server.to_config()?;
/// assert_eq!((config.messages_per_second, config.burst), (5, 10));
/// assert!(config.tls.is_none());
/// # Ok::<(), overlay_signaling::TlsError>(())
/// ```
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct ServerArgs {
    /// Address to listen on (`0.0.0.0:PORT` accepts other machines; port 0
    /// picks a free one, printed at start).
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub listen: SocketAddr,
    /// Members per room.
    #[arg(long, default_value_t = 1024)]
    pub max_peers_per_room: usize,
    /// Rooms open at once.
    #[arg(long, default_value_t = 1024)]
    pub max_rooms: usize,
    /// WebSocket connections at once.
    #[arg(long, default_value_t = 8192)]
    pub max_connections: usize,
    /// WebSocket connections at once from one client address (raise it
    /// behind a reverse proxy, where every client has the proxy's address).
    #[arg(long, default_value_t = 64)]
    pub max_connections_per_address: usize,
    /// Rooms in which one client address may have members.
    #[arg(long, default_value_t = 16)]
    pub max_rooms_per_address: usize,
    /// Members one client address may have in one room.
    #[arg(long, default_value_t = 32)]
    pub max_members_per_address: usize,
    /// Longest message, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,
    /// Sustained messages per second per client.
    #[arg(long, default_value_t = 20)]
    pub rate: u32,
    /// Burst of messages per client [default: twice --rate].
    #[arg(long)]
    pub burst: Option<u32>,
    /// Seconds between heartbeat pings.
    #[arg(long, default_value_t = 15)]
    pub ping_secs: u64,
    /// Seconds of silence after which a client is dropped.
    #[arg(long, default_value_t = 45)]
    pub heartbeat_timeout_secs: u64,
    /// Serve wss:// with this certificate chain (PEM file); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM file) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Let the members of this room report their views for the page's room
    /// graph (repeatable; off by default).
    #[arg(long)]
    pub observe_room: Vec<String>,
    /// Let every room be observed (a demo or test server only).
    #[arg(long)]
    pub observe_all: bool,
    /// Do not serve the browser page on plain HTTP requests.
    #[arg(long)]
    pub no_page: bool,
}

impl ServerArgs {
    /// The server configuration these flags describe.
    ///
    /// # Errors
    /// A [`TlsError`] when `--tls-cert`/`--tls-key` cannot be read or do
    /// not make a certificate and its key.
    pub fn to_config(&self) -> Result<ServerConfig, TlsError> {
        let mut config = ServerConfig::new(self.listen);
        config.max_peers_per_room = self.max_peers_per_room;
        config.max_rooms = self.max_rooms;
        config.max_connections = self.max_connections;
        config.max_connections_per_address = self.max_connections_per_address;
        config.max_rooms_per_address = self.max_rooms_per_address;
        config.max_members_per_address = self.max_members_per_address;
        config.max_message_bytes = self.max_message_bytes;
        config.messages_per_second = self.rate;
        config.burst = self.burst.unwrap_or(self.rate.saturating_mul(2));
        config.ping_interval = Duration::from_secs(self.ping_secs.max(1));
        config.heartbeat_timeout = Duration::from_secs(self.heartbeat_timeout_secs.max(1));
        config.tls = self.tls()?;
        config.web.serve_page = !self.no_page;
        config.web.observe = if self.observe_all {
            ObserveRooms::All
        } else if self.observe_room.is_empty() {
            ObserveRooms::None
        } else {
            ObserveRooms::Named(self.observe_room.clone())
        };
        Ok(config)
    }

    /// The TLS setup of `--tls-cert` and `--tls-key` (`None` without them).
    ///
    /// # Errors
    /// As [`ServerTls::from_pem_files`].
    pub fn tls(&self) -> Result<Option<ServerTls>, TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => ServerTls::from_pem_files(cert, key).map(Some),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    fn parse(args: &[&str]) -> Result<ServerArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("signal").chain(args.iter().copied())).map(|c| c.server)
    }

    #[test]
    fn defaults_are_the_server_defaults_on_port_8765() -> Result<(), Box<dyn std::error::Error>> {
        let config = parse(&[])?.to_config()?;
        let defaults = ServerConfig::default();
        assert_eq!(config.listen, "127.0.0.1:8765".parse()?);
        assert_eq!(config.max_peers_per_room, defaults.max_peers_per_room);
        assert_eq!(config.max_rooms, defaults.max_rooms);
        assert_eq!(config.burst, defaults.burst);
        assert_eq!(config.ping_interval, defaults.ping_interval);
        assert_eq!(config.heartbeat_timeout, defaults.heartbeat_timeout);
        assert!(config.tls.is_none() && config.web.serve_page);
        assert_eq!(config.web.observe, ObserveRooms::None);
        Ok(())
    }

    #[test]
    fn flags_reach_the_config() -> Result<(), Box<dyn std::error::Error>> {
        let config = parse(&[
            "--rate",
            "3",
            "--burst",
            "4",
            "--observe-room",
            "a",
            "--observe-room",
            "b",
            "--no-page",
            "--heartbeat-timeout-secs",
            "0",
        ])?
        .to_config()?;
        assert_eq!((config.messages_per_second, config.burst), (3, 4));
        assert_eq!(config.heartbeat_timeout, Duration::from_secs(1));
        assert!(!config.web.serve_page);
        assert_eq!(
            config.web.observe,
            ObserveRooms::Named(vec!["a".into(), "b".into()])
        );
        Ok(())
    }

    #[test]
    fn tls_needs_both_files_and_reports_an_unreadable_one() {
        assert!(parse(&["--tls-cert", "c.pem"]).is_err());
        let args = parse(&[
            "--tls-cert",
            "/nonexistent/c.pem",
            "--tls-key",
            "/nonexistent/k.pem",
        ]);
        let err = args.map(|a| a.to_config().err());
        assert!(matches!(err, Ok(Some(TlsError::Read { .. }))), "{err:?}");
    }
}
