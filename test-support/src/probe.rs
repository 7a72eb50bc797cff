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
