//! Spray on real nodes over the memory transport (tokio's paused clock):
//! the same state machine as in the simulator, driven by a ProtocolHandle.

use std::collections::HashMap;
use std::time::Duration;

use overlay_core::{Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId};
use overlay_spray::graph::Graph;
use overlay_spray::node::SprayHandle;
use overlay_spray::SprayConfig;
use rand::{Rng, SeedableRng};

#[tokio::test(start_paused = true)]
async fn twenty_nodes_converge_and_broadcast() {
    let n = 20;
    let net = MemoryNetwork::new();
    let protocol = ProtocolId::new("spray").expect("valid id");
    let config = SprayConfig::default().with_period(Duration::from_secs(1));
    let mut nodes = Vec::new();
    let mut sprays = Vec::new();
    let mut inboxes = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for i in 0..n {
        let node = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
        let (spray, rx) = SprayHandle::start(&node, protocol, config.clone(), i as u64)
            .await
            .expect("protocol registered");
        if i > 0 {
            // Through a random earlier peer (deterministic pick).
            let contact = &nodes[rng.gen_range(0..i)];
            spray.join_via(contact).await.expect("joined");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        nodes.push(node);
        sprays.push(spray);
        inboxes.push(rx);
    }
    tokio::time::sleep(Duration::from_secs(20)).await;

    let index: HashMap<_, _> = sprays
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id(), i as u32))
        .collect();
    let mut out = Vec::new();
    for s in &sprays {
        let view = s.view().await.expect("running");
        let mut arcs = Vec::new();
        for (p, c) in view {
            for _ in 0..c {
                arcs.push(index[&p]);
            }
        }
        out.push(arcs);
    }
    let g = Graph::new(out);
    let mean = g.arcs() as f64 / n as f64;
    let ln = (n as f64).ln();
    assert!(
        (mean - ln).abs() < 0.25 * ln,
        "mean view {mean} vs ln N {ln}"
    );
    assert_eq!(g.components(), 1);
    let moved: u64 = {
        let mut t = 0;
        for s in &sprays {
            t += s.stats().await.expect("running").arcs_moved;
        }
        t
    };
    assert!(moved > 0, "shuffles moved arcs");

    // A broadcast reaches everyone else exactly once.
    let id = sprays[3]
        .broadcast(&b"hello overlay"[..])
        .await
        .expect("running");
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (i, rx) in inboxes.iter_mut().enumerate() {
        if i == 3 {
            assert!(
                rx.try_recv().is_err(),
                "the origin does not deliver to itself"
            );
            continue;
        }
        let d = rx
            .try_recv()
            .unwrap_or_else(|_| panic!("peer {i} got no broadcast"));
        assert_eq!((d.id, &d.payload[..]), (id, &b"hello overlay"[..]));
        assert!(rx.try_recv().is_err(), "peer {i} got a duplicate");
    }

    // A graceful leave: the leaver's node stops, the rest stays one component.
    sprays[5].leave().await.expect("left");
    assert!(!nodes[5].is_running() || sprays[5].view().await.is_err());
}
