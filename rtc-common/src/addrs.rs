//! Local addresses for host candidates, and STUN server resolution.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// One local interface address usable for a host candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalIp {
    /// The address.
    pub ip: IpAddr,
    /// Its netmask, when the system reports one.
    pub netmask: Option<IpAddr>,
}

impl LocalIp {
    /// Whether `remote` lies in this address's subnet.
    pub fn same_subnet(&self, remote: IpAddr) -> bool {
        match (self.ip, self.netmask, remote) {
            (IpAddr::V4(a), Some(IpAddr::V4(m)), IpAddr::V4(r)) => {
                let m = u32::from(m);
                u32::from(a) & m == u32::from(r) & m
            }
            (IpAddr::V6(a), Some(IpAddr::V6(m)), IpAddr::V6(r)) => {
                let m = u128::from(m);
                u128::from(a) & m == u128::from(r) & m
            }
            _ => false,
        }
    }
}

/// The addresses host candidates are made of when binding `bind_ip`: just
/// `bind_ip` for a specific address; for an unspecified one (`0.0.0.0`,
/// `::`), every up interface address of that family (IPv6 link-local
/// addresses are left out: they need a scope id no candidate line carries).
///
/// # Errors
/// The system's interface list could not be read.
pub fn host_ips(bind_ip: IpAddr) -> std::io::Result<Vec<LocalIp>> {
    if !bind_ip.is_unspecified() {
        return Ok(vec![LocalIp {
            ip: bind_ip,
            netmask: None,
        }]);
    }
    let mut out = Vec::new();
    for iface in if_addrs::get_if_addrs()? {
        let (ip, netmask) = match &iface.addr {
            if_addrs::IfAddr::V4(v4) => (IpAddr::V4(v4.ip), IpAddr::V4(v4.netmask)),
            if_addrs::IfAddr::V6(v6) => (IpAddr::V6(v6.ip), IpAddr::V6(v6.netmask)),
        };
        if ip.is_ipv4() != bind_ip.is_ipv4() {
            continue;
        }
        if let IpAddr::V6(v6) = ip {
            if v6.segments()[0] & 0xffc0 == 0xfe80 {
                continue;
            }
        }
        if !out.iter().any(|l: &LocalIp| l.ip == ip) {
            out.push(LocalIp {
                ip,
                netmask: Some(netmask),
            });
        }
    }
    // Loopback last: real interfaces first in candidate order.
    out.sort_by_key(|l| l.ip.is_loopback());
    Ok(out)
}

/// The local address a datagram from `remote` most likely arrived on, for a
/// socket bound to an unspecified address: loopback for a loopback remote,
/// else the address whose subnet holds `remote`, else the first non-loopback
/// address of the same family.
pub fn pick_local_ip(locals: &[LocalIp], remote: IpAddr) -> Option<IpAddr> {
    let same_family = |l: &&LocalIp| l.ip.is_ipv4() == remote.is_ipv4();
    if remote.is_loopback() {
        if let Some(l) = locals
            .iter()
            .filter(same_family)
            .find(|l| l.ip.is_loopback())
        {
            return Some(l.ip);
        }
    }
    locals
        .iter()
        .filter(same_family)
        .find(|l| l.same_subnet(remote))
        .or_else(|| {
            locals
                .iter()
                .filter(same_family)
                .find(|l| !l.ip.is_loopback())
        })
        .or_else(|| locals.iter().find(same_family))
        .map(|l| l.ip)
}

/// A configured STUN server that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("STUN server {server:?}: {why}")]
pub struct StunServerError {
    /// The server as configured.
    pub server: String,
    /// What went wrong.
    pub why: String,
}

/// Resolve the configured STUN servers (`host:port`; a host name is looked
/// up with the system resolver, which may block briefly) to addresses of
/// the family of `bind_ip`.
///
/// # Errors
/// A server that does not parse or resolve to an address of that family.
pub fn resolve_stun_servers(
    servers: &[String],
    bind_ip: IpAddr,
) -> Result<Vec<SocketAddr>, StunServerError> {
    let mut out = Vec::new();
    for server in servers {
        let text = server.strip_prefix("stun:").unwrap_or(server);
        let addrs = text.to_socket_addrs().map_err(|e| StunServerError {
            server: server.clone(),
            why: e.to_string(),
        })?;
        let addr = addrs
            .into_iter()
            .find(|a| a.is_ipv4() == bind_ip.is_ipv4())
            .ok_or_else(|| StunServerError {
                server: server.clone(),
                why: "no address of the bind address's family".into(),
            })?;
        out.push(addr);
    }
    Ok(out)
}

/// Resolve a TURN server URL (`turn:HOST:PORT`, `HOST:PORT`, an optional
/// `?transport=udp`) to an address of the family of `bind_ip`. `turns:`
/// and `?transport=tcp` are refused: only UDP to the server is supported.
///
/// # Errors
/// A URL that does not parse, asks for TLS or TCP, or does not resolve to
/// an address of that family.
pub fn resolve_turn_url(url: &str, bind_ip: IpAddr) -> Result<SocketAddr, StunServerError> {
    let err = |why: &str| StunServerError {
        server: url.to_owned(),
        why: why.to_owned(),
    };
    if url.starts_with("turns:") {
        return Err(err(
            "TURN over TLS (turns:) is not supported: use turn: with UDP",
        ));
    }
    let text = url.strip_prefix("turn:").unwrap_or(url);
    let (text, query) = match text.split_once('?') {
        Some((t, q)) => (t, Some(q)),
        None => (text, None),
    };
    if let Some(q) = query {
        if q != "transport=udp" {
            return Err(err("only ?transport=udp is supported"));
        }
    }
    resolve_stun_servers(&[text.to_owned()], bind_ip)
        .map_err(|e| err(&e.why))?
        .into_iter()
        .next()
        .ok_or_else(|| err("no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn specific_bind_gives_one_host_ip() -> std::io::Result<()> {
        let ips = host_ips(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
        assert_eq!(
            ips,
            vec![LocalIp {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                netmask: None
            }]
        );
        Ok(())
    }

    #[test]
    fn unspecified_bind_lists_interfaces() -> std::io::Result<()> {
        let ips = host_ips(IpAddr::V4(Ipv4Addr::UNSPECIFIED))?;
        assert!(
            ips.iter().any(|l| l.ip.is_loopback()),
            "loopback is an interface: {ips:?}"
        );
        assert!(ips.iter().all(|l| l.ip.is_ipv4()));
        Ok(())
    }

    #[test]
    fn picks_the_subnet_of_the_remote() {
        let lo = LocalIp {
            ip: "127.0.0.1"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            netmask: "255.0.0.0".parse().ok(),
        };
        let lan = LocalIp {
            ip: IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
            netmask: Some(IpAddr::V4(Ipv4Addr::new(255, 255, 0, 0))),
        };
        let locals = [lan, lo];
        assert_eq!(
            pick_local_ip(&locals, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            Some(lo.ip)
        );
        assert_eq!(
            pick_local_ip(&locals, IpAddr::V4(Ipv4Addr::new(10, 1, 9, 9))),
            Some(lan.ip)
        );
        assert_eq!(
            pick_local_ip(&locals, IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8))),
            Some(lan.ip)
        );
    }

    #[test]
    fn resolves_literal_stun_servers() -> Result<(), StunServerError> {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let addrs = resolve_stun_servers(
            &["127.0.0.1:3478".into(), "stun:127.0.0.1:19302".into()],
            v4,
        )?;
        assert_eq!(addrs.len(), 2);
        assert!(resolve_stun_servers(&["no port".into()], v4).is_err());
        Ok(())
    }

    #[test]
    fn resolves_turn_urls() -> Result<(), StunServerError> {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let want = SocketAddr::from(([10, 0, 0, 1], 3478));
        assert_eq!(resolve_turn_url("turn:10.0.0.1:3478", v4)?, want);
        assert_eq!(resolve_turn_url("10.0.0.1:3478", v4)?, want);
        assert_eq!(
            resolve_turn_url("turn:10.0.0.1:3478?transport=udp", v4)?,
            want
        );
        assert!(resolve_turn_url("turns:10.0.0.1:5349", v4).is_err());
        assert!(resolve_turn_url("turn:10.0.0.1:3478?transport=tcp", v4).is_err());
        assert!(resolve_turn_url("turn:10.0.0.1", v4).is_err());
        Ok(())
    }
}
