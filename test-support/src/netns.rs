//! Running a test inside a loopback-only network namespace
//! (`unshare -n`), so that a third-party WebRTC stack sees no other
//! interface and no traffic leaves the machine.

use crate::TestResult;

/// Set inside the network namespace a test re-executed itself in.
pub const IN_NETNS: &str = "N2N_TEST_IN_NETNS";

/// Whether this process is the re-executed test inside the namespace.
pub fn in_netns() -> bool {
    std::env::var_os(IN_NETNS).is_some()
}

/// Run `test` of this test binary again inside `unshare -n` (a network
/// namespace with only loopback, brought up). Fails with the reason if
/// that cannot be done; the message names `skip_var`, the variable that
/// skips the test deliberately.
pub fn reexec_in_netns(test: &str, skip_var: &str) -> TestResult {
    let exe = std::env::current_exe()?;
    let status = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(IN_NETNS, "1")
        .status()
        .map_err(|e| {
            format!(
                "cannot run `unshare -n` ({e}); set {skip_var}=1 to skip this test deliberately"
            )
        })?;
    if !status.success() {
        return Err(format!(
            "{test} failed inside `unshare -n` ({status}); see its output above. \
             If unshare itself failed (not root?), set {skip_var}=1 to skip deliberately"
        )
        .into());
    }
    Ok(())
}
