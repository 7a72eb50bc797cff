//! The node's task handles every command already queued in one pass
//! (then flushes once): bursts from many senders arrive complete and in
//! order per sender through small queues, and a steady flood of commands
//! does not keep the node from reading the network.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use overlay_core::{link_out_of_band, Event, Keypair, MemoryNetwork, Node, NodeConfig, ProtocolId};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Guard against hangs only (the behaviour is checked by the asserts).
const HANG: Duration = Duration::from_secs(60);

fn small_queues() -> NodeConfig {
    let mut cfg = NodeConfig::default();
    cfg.command_capacity = 8;
    cfg.event_capacity = 8;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_from_many_senders_arrive_complete_and_in_order() -> TestResult {
    const SENDERS: u32 = 8;
    const EACH: u32 = 1500;
    let net = MemoryNetwork::new();
    let a = Node::spawn(net.transport(), Keypair::generate(), small_queues());
    let b = Node::spawn(net.transport(), Keypair::generate(), small_queues());
    let p = ProtocolId::new("burst")?;
    let (ha, _ea) = a.protocol(p).await?;
    let (_hb, mut eb) = b.protocol(p).await?;
    link_out_of_band(&ha, &b).await?;
    // Several tasks send at once: A's command queue holds many sends at a
    // time, handled in batches.
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let (ha, to) = (ha.clone(), b.id());
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let mut m = s.to_be_bytes().to_vec();
                m.extend(i.to_be_bytes());
                ha.send(to, m).await?;
            }
            Ok::<_, overlay_core::SendError>(())
        }));
    }
    let mut next = vec![0u32; SENDERS as usize];
    let mut total = 0;
    tokio::time::timeout(HANG, async {
        while total < SENDERS * EACH {
            match eb.recv().await {
                Some(Event::Message { payload, .. }) => {
                    let word = |r: std::ops::Range<usize>| {
                        payload
                            .get(r)
                            .and_then(|b| <[u8; 4]>::try_from(b).ok())
                            .map(u32::from_be_bytes)
                    };
                    let (Some(s), Some(i)) = (word(0..4), word(4..8)) else {
                        panic!("malformed message {payload:?}");
                    };
                    let expected = next.get_mut(s as usize).expect("a known sender");
                    assert_eq!(i, *expected, "sender {s}: message lost or out of order");
                    *expected += 1;
                    total += 1;
                }
                Some(_) => {}
                None => panic!("B stopped"),
            }
        }
    })
    .await
    .map_err(|_| "not every message arrived")?;
    for t in tasks {
        t.await??;
    }
    assert!(next.iter().all(|&n| n == EACH));
    let stats = b.stats().await?;
    assert_eq!(stats.unrouted_events, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_commands_does_not_starve_the_network() -> TestResult {
    let net = MemoryNetwork::new();
    let a = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
    let b = Node::spawn(net.transport(), Keypair::generate(), small_queues());
    let p = ProtocolId::new("flood")?;
    let (ha, _ea) = a.protocol(p).await?;
    let (_hb, mut eb) = b.protocol(p).await?;
    link_out_of_band(&ha, &b).await?;
    // Many tasks keep B's command queue full of queries.
    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = Vec::new();
    for _ in 0..32 {
        let (b, stop) = (b.clone(), stop.clone());
        flood.push(tokio::spawn(async move {
            let mut asked = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if b.stats().await.is_err() {
                    break;
                }
                asked += 1;
            }
            asked
        }));
    }
    // Meanwhile B must still read what A sends.
    for i in 0u32..200 {
        ha.send(b.id(), i.to_be_bytes().to_vec()).await?;
    }
    let mut next = 0u32;
    let received = tokio::time::timeout(HANG, async {
        while next < 200 {
            match eb.recv().await {
                Some(Event::Message { payload, .. }) => {
                    assert_eq!(&payload[..], &next.to_be_bytes(), "lost or out of order");
                    next += 1;
                }
                Some(_) => {}
                None => return false,
            }
        }
        true
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut asked = 0;
    for f in flood {
        asked += f.await?;
    }
    assert_eq!(
        received,
        Ok(true),
        "B stopped reading the network under a command flood ({next} of 200 received)"
    );
    assert!(asked > 0, "the flood never ran");
    Ok(())
}
