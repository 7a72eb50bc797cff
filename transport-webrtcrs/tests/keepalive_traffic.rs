//! What noticing a crashed remote within seconds costs: the datagrams an
//! idle open connection sends (ICE keep-alives every
//! `RtcConfig::keepalive_interval` and their answers), counted by the
//! kernel in a network namespace of this test's own (`unshare -n`), so no
//! other traffic on the machine is counted. Prints the rate; set
//! `N2N_SKIP_NETNS=1` to skip where `unshare` is not allowed.

mod common;

use std::time::Duration;

use common::{Pair, Side};
use n2n_test_support::netns;
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

/// UDP datagrams this network namespace has sent so far.
fn udp_out() -> u64 {
    n2n_test_support::probe::udp_counter("OutDatagrams")
}

#[test]
fn idle_keepalive_traffic() -> common::TestResult {
    if std::env::var_os("N2N_SKIP_NETNS").is_some() {
        println!("skipped (N2N_SKIP_NETNS)");
        return Ok(());
    }
    if !netns::in_netns() {
        return netns::reexec_in_netns("idle_keepalive_traffic", "N2N_SKIP_NETNS");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        common::init_tracing();
        let a = WebRtcTransport::bind(&RtcConfig::loopback())?;
        let b = WebRtcTransport::bind(&RtcConfig::loopback())?;
        let mut pair = Pair::new(a, b);
        pair.open(Side::A).await;
        // Let the handshake's own traffic settle.
        assert!(pair.next_within(Duration::from_secs(2)).await.is_none());
        let before = udp_out();
        let window = Duration::from_secs(6);
        if let Some(got) = pair.next_within(window).await {
            return Err(format!("nothing expected on an idle connection, got {got:?}").into());
        }
        let sent = udp_out() - before;
        let per_s = sent as f64 / window.as_secs_f64();
        println!(
            "idle webrtc-rs connection, both ends: {sent} datagrams in {window:?} ({per_s:.2}/s)"
        );
        assert!(sent > 0, "an idle connection must keep proving it is alive");
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
