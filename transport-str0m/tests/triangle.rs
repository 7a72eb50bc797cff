//! The seed's triangle over str0m: A and C each join B out-of-band, B
//! bridges A to C, and A and C exchange messages over their own direct
//! connection (B relays only the handshake).

use std::time::Duration;

use overlay_core::{link_out_of_band, Event, Keypair, Node, NodeConfig, ProtocolId};
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn expect_message(events: &mut overlay_core::EventStream, want: &[u8]) -> TestResult {
    let wait = async {
        while let Some(e) = events.recv().await {
            if let Event::Message { payload, .. } = e {
                return Ok(payload);
            }
        }
        Err("event stream ended")
    };
    let got = tokio::time::timeout(Duration::from_secs(20), wait).await??;
    assert_eq!(&got[..], want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triangle_a_and_c_talk_directly_after_b_bridges() -> TestResult {
    let proto = ProtocolId::new("triangle")?;
    let spawn = || -> Result<Node, transport_str0m::BindError> {
        Ok(Node::spawn(
            Str0mTransport::bind(&RtcConfig::loopback())?,
            Keypair::generate(),
            NodeConfig::default(),
        ))
    };
    let (a, b, c) = (spawn()?, spawn()?, spawn()?);
    let (ha, mut ea) = a.protocol(proto).await?;
    let (hb, mut eb) = b.protocol(proto).await?;
    let (hc, mut ec) = c.protocol(proto).await?;

    assert_eq!(link_out_of_band(&ha, &b).await?, b.id());
    assert_eq!(link_out_of_band(&hc, &b).await?, b.id());
    // B learns who joined from their hello, just after the joiners return:
    // bridge once B holds both arcs.
    for _ in 0..2 {
        let wait = async {
            while let Some(e) = eb.recv().await {
                if matches!(e, Event::ArcOpened { .. }) {
                    return Ok(());
                }
            }
            Err("B's event stream ended")
        };
        tokio::time::timeout(Duration::from_secs(20), wait).await??;
    }
    hb.connect(a.id(), c.id())
        .await
        .map_err(|e| format!("B bridges A to C: {e}"))?;

    // A has its own connection to C, with an arc A -> C seen on both ends.
    assert!(a.neighbours().await?.contains(&c.id()));
    assert_eq!(ha.outview().await?.get(&c.id()), Some(&1));
    assert_eq!(hc.inview().await?.get(&a.id()), Some(&1));
    let a_conns = a.connections().await?;
    assert_eq!(a_conns.iter().filter(|i| i.peer == Some(c.id())).count(), 1);

    // A -> C over the direct connection.
    ha.send(c.id(), &b"hello C, from A"[..]).await?;
    expect_message(&mut ec, b"hello C, from A").await?;
    // C adds its own arc C -> A: it rides the same connection (no new
    // handshake), and C answers over it.
    hc.connect(None, a.id())
        .await
        .map_err(|e| format!("C adds an arc to A: {e}"))?;
    hc.send(a.id(), &b"hello A, from C"[..])
        .await
        .map_err(|e| format!("C sends to A: {e}"))?;
    expect_message(&mut ea, b"hello A, from C").await?;
    let c_stats = c.stats().await?;
    assert_eq!(
        c_stats.engine.handshakes_started, 1,
        "C dialled only B; A dialled C"
    );
    assert_eq!(
        c.connections()
            .await?
            .iter()
            .filter(|i| i.peer == Some(a.id()))
            .count(),
        1
    );

    for n in [&a, &b, &c] {
        n.shutdown().await;
    }
    Ok(())
}
