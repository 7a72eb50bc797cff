//! What the WebRTC backends of n2n-overlay (`transport-str0m`,
//! `transport-webrtcrs`) share: their configuration, and the tolerant
//! reading of browser-shaped signals, written once.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// Configuration common to the WebRTC backends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RtcConfig {
    /// Address to bind the UDP socket to. `127.0.0.1` (the default) for
    /// tests on one machine; `0.0.0.0` offers one host candidate per local
    /// interface.
    pub bind_ip: IpAddr,
    /// UDP port to bind; 0 (the default) picks a free one.
    pub port: u16,
    /// STUN servers (`host:port`) asked for server-reflexive candidates.
    pub stun_servers: Vec<String>,
    /// Socket receive buffer, bytes. The OS default (208 KiB on Linux) drops
    /// packets on loopback under load; 4 MiB by default.
    pub recv_buffer_bytes: usize,
    /// Socket send buffer, bytes.
    pub send_buffer_bytes: usize,
}

impl Default for RtcConfig {
    fn default() -> Self {
        RtcConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            stun_servers: Vec::new(),
            recv_buffer_bytes: 4 * 1024 * 1024,
            send_buffer_bytes: 4 * 1024 * 1024,
        }
    }
}

impl RtcConfig {
    /// Loopback only, the configuration tests use.
    pub fn loopback() -> Self {
        Self::default()
    }

    /// Bind to `ip` (use `0.0.0.0` for every interface).
    pub fn with_bind_ip(mut self, ip: IpAddr) -> Self {
        self.bind_ip = ip;
        self
    }

    /// Add a STUN server (`host:port`).
    pub fn with_stun_server(mut self, server: impl Into<String>) -> Self {
        self.stun_servers.push(server.into());
        self
    }
}
