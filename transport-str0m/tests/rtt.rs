//! Both ends of an open connection report the ICE round-trip time
//! (`Transport::rtt`, shown in the node's `ConnectionInfo::rtt`).

mod common;

use std::time::Duration;

use common::{Net, TestResult};
use overlay_core::{ConnId, Transport};

#[tokio::test]
async fn open_connections_report_their_rtt() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;
    // Keep both transports running while ICE keep-alives measure the RTT.
    let deadline = tokio::time::Instant::now() + common::GUARD;
    while [0, 1].iter().any(|&i| net.nodes[i].rtt(c).is_none()) {
        assert!(tokio::time::Instant::now() < deadline, "no RTT measured");
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(200), net.next()).await {
            return Err(format!("nothing expected on an idle connection, got {got:?}").into());
        }
    }
    for i in 0..2 {
        let rtt = net.nodes[i].rtt(c).unwrap_or_default();
        println!("node {i}: rtt {rtt:?}");
        assert!(
            rtt > Duration::ZERO && rtt < Duration::from_secs(1),
            "{rtt:?}"
        );
    }
    assert_eq!(net.nodes[0].rtt(ConnId(99)), None, "unknown connection");
    Ok(())
}
