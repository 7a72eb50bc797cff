//! Binding `0.0.0.0`: host candidates come from the interface list, and
//! the local address of each datagram is inferred. Run inside a network
//! namespace that has only loopback (the test re-executes itself under
//! `unshare -n`), so the only interface is 127.0.0.1 and no traffic can
//! leave the machine. Set `N2N_SKIP_NETNS=1` to skip it deliberately
//! (a machine without `unshare`); otherwise a missing `unshare` fails it.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{frame, Got, Net, TestResult};
use overlay_core::{ConnId, TransportCommand as Cmd, TransportEvent as Ev};
use rtc_common::RtcConfig;

const SKIP: &str = "N2N_SKIP_NETNS";

async fn scenario() -> TestResult {
    let config = RtcConfig::loopback().with_bind_ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let mut net = Net::bind_with(2, &config)?;
    for node in &net.nodes {
        assert!(node.local_addr().ip().is_unspecified());
        let candidates: Vec<String> = node.local_candidates().collect();
        assert_eq!(
            candidates.len(),
            1,
            "only loopback in this namespace: {candidates:?}"
        );
        assert!(
            candidates[0].contains(" 127.0.0.1 ") && candidates[0].contains("typ host"),
            "{candidates:?}"
        );
    }
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    net.cmd(
        0,
        Cmd::Send {
            conn: c,
            frame: frame(5, 3000),
        },
    )?;
    loop {
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(1, Ev::Frame { frame: f, .. }) => {
                assert_eq!(f, frame(5, 3000));
                return Ok(());
            }
            Got::Event(_, Ev::Sent { .. }) => {}
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
}

#[test]
fn unspecified_bind_connects_over_interface_candidates() -> TestResult {
    if std::env::var_os(SKIP).is_some() {
        println!("skipped ({SKIP} is set)");
        return Ok(());
    }
    if std::env::var_os(common::IN_NETNS).is_none() {
        return common::reexec_in_netns(
            "unspecified_bind_connects_over_interface_candidates",
            SKIP,
        );
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(scenario())
}
