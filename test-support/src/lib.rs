//! Test scaffolding shared by the n2n-overlay backends' integration tests
//! (a dev-dependency only; never published).
//!
//! Each backend's `tests/common/mod.rs` re-exports what its tests use, so
//! a test file writes `mod common;` and `common::...` as before:
//!
//! - [`interop`]: the libwebrtc peer (`interop/peer.js`, npm `@roamhq/wrtc`):
//!   installs its npm packages on first use, runs the echo scenario inside
//!   a loopback-only network namespace ([`netns`]).
//! - [`overlay`]: a random overlay grown by bridging, and the overlay
//!   invariant checked on every node.
//! - [`stun`]: a fake STUN server on loopback.
//! - [`conformance_tests!`]: the core's conformance suite, one test per case.
//! - [`pair`]: two transports driven against each other, signals carried in
//!   memory; the triangle scenario on three nodes.
//! - [`probe`]: resident memory, threads and open sockets of this process.
//! - [`identity`]: the verdict on the relay-in-the-middle attack.

use std::time::{Duration, Instant};

pub mod identity;
pub mod interop;
pub mod netns;
pub mod overlay;
pub mod pair;
pub mod probe;
pub mod stun;

#[doc(hidden)]
pub use overlay_core::testkit as __testkit;

/// What a test returns.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Upper bound on any wait in these tests: a guard against hangs, not a
/// timing assertion.
pub const GUARD: Duration = Duration::from_secs(30);

/// Log to the test's output, filtered by `RUST_LOG` (default: warnings,
/// but only errors from webrtc-rs, whose warnings are routine noise).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,webrtc=error,rtc=error".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Wait (up to [`GUARD`]) until `f` holds, checking every 20 ms; panics
/// (a test failure) naming `what` if it never does.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + GUARD;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The core's transport conformance suite as one `#[tokio::test]` per case
/// (a failure names its case), for the transport `$make` builds
/// (`async fn make() -> MyTransport`). The cases take turns, one at a
/// time, so that their real-time timeouts do not depend on how many other
/// cases share the cores. The calling crate needs `tokio` (with `macros`
/// and `rt-multi-thread`) among its dev-dependencies.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        static CONFORMANCE_TURN: ::tokio::sync::Mutex<()> = ::tokio::sync::Mutex::const_new(());
        $crate::conformance_tests!(@case $make, direct_connect);
        $crate::conformance_tests!(@case $make, bridged_connect);
        $crate::conformance_tests!(@case $make, batch_duplicates);
        $crate::conformance_tests!(@case $make, messages_in_order);
        $crate::conformance_tests!(@case $make, close_seen_by_both);
        $crate::conformance_tests!(@case $make, pending_timeout);
        $crate::conformance_tests!(@case $make, dying_revive);
        $crate::conformance_tests!(@case $make, concurrent_handshakes);
        $crate::conformance_tests!(@case $make, frame_sizes);
        $crate::conformance_tests!(@case $make, oversized_frame);
        $crate::conformance_tests!(@case $make, crash_vs_graceful);
        $crate::conformance_tests!(@case $make, local_failure_closes_remote);
        $crate::conformance_tests!(@case $make, signals_out_of_order);
        $crate::conformance_tests!(@case $make, resources_freed);
    };
    (@case $make:path, $name:ident) => {
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() -> ::std::result::Result<(), $crate::__testkit::ConformanceError> {
            let _turn = CONFORMANCE_TURN.lock().await;
            let took = $crate::__testkit::$name($make).await?;
            println!(
                "{} ok in {:.1} ms",
                stringify!($name),
                took.as_secs_f64() * 1e3
            );
            Ok(())
        }
    };
}
