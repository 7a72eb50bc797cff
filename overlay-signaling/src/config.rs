//! Server limits and timers.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::tls::ServerTls;

/// How a [`crate::SignalingServer`] listens and what it tolerates.
///
/// Start from [`ServerConfig::default`] (or [`ServerConfig::new`]) and set
/// the fields you need.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:0` (loopback, any free port).
    pub listen: SocketAddr,
    /// Longest accepted message, in bytes of JSON text. Longer messages get a
    /// `too_large` error and are dropped; messages longer than four times
    /// this close the connection (WebSocket close code 1009). Default 64 KiB.
    pub max_message_bytes: usize,
    /// Sustained messages per second allowed per client. Default 20.
    pub messages_per_second: u32,
    /// Messages a client may send at once before the rate applies. Default 40.
    pub burst: u32,
    /// A client whose messages are rate-limited this many times in a row is
    /// disconnected (close code 1008). Default 100.
    pub max_rate_violations: u32,
    /// Members per room. Default 1024.
    pub max_peers_per_room: usize,
    /// Rooms open at once. Default 1024.
    pub max_rooms: usize,
    /// WebSocket connections at once. Default 8192.
    pub max_connections: usize,
    /// WebSocket connections at once from one client IP address; more are
    /// refused (`address_limit`, close code 1008). Default 64. Behind a
    /// reverse proxy every client has the proxy's address: raise the
    /// per-address limits there.
    pub max_connections_per_address: usize,
    /// Rooms in which one client address may have members at once
    /// (`address_limit`). Default 16.
    pub max_rooms_per_address: usize,
    /// Members one client address may have in one room (`address_limit`):
    /// one client cannot fill a room. Default 32.
    pub max_members_per_address: usize,
    /// Relayed signals queued toward one client. A signal that finds them
    /// all taken is dropped and its *sender* gets `peer_busy`: a member is
    /// never disconnected because others flood it. Default 64.
    pub outgoing_queue: usize,
    /// Relayed signals one sender may have queued toward one client
    /// (`peer_busy` beyond): a flooding sender cannot take a member's whole
    /// queue from its other senders. Default 16.
    pub max_queued_per_sender: usize,
    /// Queue slots beyond [`ServerConfig::outgoing_queue`] kept for the
    /// client's own replies and pings. A client whose own replies do not
    /// fit (it does not read them) for [`ServerConfig::heartbeat_timeout`]
    /// is disconnected. Default 16.
    pub reply_reserve: usize,
    /// The server pings each client this often. Default 15 s.
    pub ping_interval: Duration,
    /// A client from which nothing (not even a pong) arrived for this long
    /// is dropped. Default 45 s.
    pub heartbeat_timeout: Duration,
    /// A connection must finish the WebSocket handshake and `join` within
    /// this time. Default 10 s.
    pub join_timeout: Duration,
    /// Relay signals only between two members one of which got the other as
    /// contact (the two ends of a join handshake). Default true.
    pub relay_requires_introduction: bool,
    /// On shutdown, how long to wait for clients to take their close frame.
    /// Default 2 s.
    pub shutdown_grace: Duration,
    /// The page served on plain HTTP requests and the opt-in room graph
    /// (see [`crate::WebConfig`]). Default: page on, observing off.
    pub web: crate::WebConfig,
    /// Serve `wss://` with this certificate and key (every connection
    /// must speak TLS). Default `None`: plain `ws://`.
    pub tls: Option<ServerTls>,
}

impl ServerConfig {
    /// The defaults, listening on `listen`.
    #[must_use]
    pub fn new(listen: SocketAddr) -> Self {
        ServerConfig {
            listen,
            ..ServerConfig::default()
        }
    }
}

impl ServerConfig {
    /// A server for `clients` clients that all run on this machine, as in
    /// tests, demos and benchmarks: the room size, the connection and room
    /// counts and every limit per client address fit `clients` (or keep
    /// their default where that is larger), and the rate limit is out of
    /// the way (a million messages per second). Not for a server others
    /// reach over a network.
    ///
    /// ```
    /// let config = overlay_signaling::ServerConfig::for_local_clients(5000);
    /// assert_eq!(config.max_members_per_address, 5000);
    /// assert_eq!(config.max_connections, 8192); // the default is larger
    /// ```
    #[must_use]
    pub fn for_local_clients(clients: usize) -> Self {
        let d = ServerConfig::default();
        ServerConfig {
            messages_per_second: 1_000_000,
            burst: 1_000_000,
            max_peers_per_room: clients.max(d.max_peers_per_room),
            max_rooms: clients.max(d.max_rooms),
            max_connections: clients.max(d.max_connections),
            max_connections_per_address: clients.max(d.max_connections_per_address),
            max_rooms_per_address: clients.max(d.max_rooms_per_address),
            max_members_per_address: clients.max(d.max_members_per_address),
            ..d
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            max_message_bytes: 64 * 1024,
            messages_per_second: 20,
            burst: 40,
            max_rate_violations: 100,
            max_peers_per_room: 1024,
            max_rooms: 1024,
            max_connections: 8192,
            max_connections_per_address: 64,
            max_rooms_per_address: 16,
            max_members_per_address: 32,
            outgoing_queue: 64,
            reply_reserve: 16,
            max_queued_per_sender: 16,
            ping_interval: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(45),
            join_timeout: Duration::from_secs(10),
            relay_requires_introduction: true,
            shutdown_grace: Duration::from_secs(2),
            web: crate::WebConfig::default(),
            tls: None,
        }
    }
}
