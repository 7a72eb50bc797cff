//! What this process holds: resident memory, threads, open sockets
//! (Linux `/proc`; zero where it cannot be read).

/// A numeric field of `/proc/self/status` (`"VmRSS:"` in KiB,
/// `"Threads:"`...); 0 if it cannot be read.
pub fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Resident memory of this process, KiB.
pub fn rss_kib() -> u64 {
    proc_status("VmRSS:")
}

/// Threads of this process.
pub fn threads() -> u64 {
    proc_status("Threads:")
}

/// CPU time (user + system) of this process so far (`/proc/self/stat`,
/// in Linux's clock ticks of 1/100 s); zero if it cannot be read.
pub fn cpu_time() -> std::time::Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command name (which ends with ')').
            let rest: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
            let utime: u64 = rest.get(11)?.parse().ok()?;
            let stime: u64 = rest.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    std::time::Duration::from_millis(ticks * 10)
}

/// Open sockets of this process (file descriptors that are sockets).
pub fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// A counter of the `Udp:` lines of `/proc/net/snmp` (`"OutDatagrams"`,
/// `"RcvbufErrors"`...): every socket of the network namespace, not this
/// process alone; 0 if it cannot be read.
pub fn udp_counter(name: &str) -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    udp_counter_in(&snmp, name)
}

/// [`udp_counter`] from the text of `/proc/net/snmp`: the `Udp:` header
/// line names the fields, the next `Udp:` line holds their values.
fn udp_counter_in(snmp: &str, name: &str) -> u64 {
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{cpu_time, udp_counter_in};

    #[test]
    fn cpu_time_grows_with_work() {
        // Work until the counter moves (one tick is 10 ms of CPU); a
        // reader that cannot parse the file stays at zero for 10 s.
        let before = cpu_time();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while cpu_time() == before && start.elapsed() < std::time::Duration::from_secs(10) {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        assert!(cpu_time() > before, "{before:?} then {:?}", cpu_time());
    }

    #[test]
    fn udp_counters_are_read_by_name() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
            Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\n\
            Udp: 10 2 0 7 3\n\
            UdpLite: InDatagrams OutDatagrams\nUdpLite: 99 98\n";
        assert_eq!(udp_counter_in(snmp, "OutDatagrams"), 7);
        assert_eq!(udp_counter_in(snmp, "RcvbufErrors"), 3);
        assert_eq!(udp_counter_in(snmp, "Missing"), 0);
        assert_eq!(udp_counter_in("", "OutDatagrams"), 0);
    }
}
