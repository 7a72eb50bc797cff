//! Peers are who they claim, with real webrtc-rs connections on 127.0.0.1
//! (issue 9): a malicious bridge in the middle of a connection is refused
//! at both ends; an offer whose SDP fingerprint was altered is refused
//! before DTLS.

use std::time::Duration;

use n2n_test_support::identity::{assert_relay_refused, InitiatorSees};
use overlay_core::attack;
use rtc_common::RtcConfig;
use transport_webrtcrs::WebRtcTransport;

async fn make() -> WebRtcTransport {
    n2n_test_support::init_tracing();
    match WebRtcTransport::bind(&RtcConfig::loopback()) {
        Ok(t) => t,
        Err(e) => panic!("cannot create a webrtc-rs transport: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_in_the_middle_is_refused_at_both_ends() -> Result<(), String> {
    let out = attack::relay_in_the_middle(make, Duration::from_secs(20)).await?;
    println!("{out:?}");
    assert_relay_refused(&out, InitiatorSees::AnyFailure);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_with_an_altered_fingerprint_is_refused_before_dtls() -> Result<(), String> {
    attack::altered_sdp_fingerprint(make).await
}

/// str0m and webrtc-rs bind the same way: a mixed pair still connects,
/// both ways round, and talks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_str0m_webrtcrs_pair_still_connects() -> Result<(), Box<dyn std::error::Error>> {
    use overlay_core::{link_out_of_band, Event, Keypair, Node, NodeConfig, ProtocolId};
    let p = ProtocolId::new("mixed")?;
    // Each stack as the initiator once, on a fresh pair.
    for str0m_first in [true, false] {
        let str0m = transport_str0m::Str0mTransport::bind(&RtcConfig::loopback())?;
        let s = Node::spawn(str0m, Keypair::generate(), NodeConfig::default());
        let w = Node::spawn(make().await, Keypair::generate(), NodeConfig::default());
        let (hs, mut es) = s.protocol(p).await?;
        let (hw, mut ew) = w.protocol(p).await?;
        if str0m_first {
            assert_eq!(link_out_of_band(&hs, &w).await?, w.id());
        } else {
            assert_eq!(link_out_of_band(&hw, &s).await?, s.id());
        }
        hs.send(w.id(), &b"str0m to webrtc-rs"[..]).await?;
        hw.send(s.id(), &b"webrtc-rs to str0m"[..]).await?;
        for (events, text) in [
            (&mut ew, &b"str0m to webrtc-rs"[..]),
            (&mut es, &b"webrtc-rs to str0m"[..]),
        ] {
            loop {
                let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
                    .await?
                    .ok_or("node gone")?;
                if let Event::Message { payload, .. } = e {
                    assert_eq!(&payload[..], text);
                    break;
                }
            }
        }
        for n in [&s, &w] {
            let stats = n.stats().await?.engine;
            assert_eq!(stats.tampered + stats.unbound_refused, 0, "{stats:?}");
            assert_eq!(stats.connections_opened, 1, "{stats:?}");
        }
        s.shutdown().await;
        w.shutdown().await;
    }
    Ok(())
}
