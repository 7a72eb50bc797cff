//! Server-reflexive gathering from a configured STUN server (a tiny one on
//! loopback, in the test): the offering side trickles a `typ srflx`
//! candidate with the mapped address the server reported, then
//! end-of-candidates, and the connection still opens.

mod common;

use std::net::SocketAddr;

use bytecodec::{DecodeExt, EncodeExt};
use common::{Pair, Side};
use overlay_core::Signal;
use rtc_common::RtcConfig;
use stun_codec::rfc5389::attributes::XorMappedAddress;
use stun_codec::rfc5389::{methods::BINDING, Attribute};
use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder};
use transport_webrtcrs::WebRtcTransport;

/// Answers every Binding request with `127.0.0.2:<client port>` as the
/// mapped address (what a NAT would report; distinct from the host one).
async fn fake_stun_server() -> std::io::Result<SocketAddr> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let addr = socket.local_addr()?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(Ok(req)) = MessageDecoder::<Attribute>::new().decode_from_bytes(&buf[..n])
            else {
                continue;
            };
            let mapped = SocketAddr::new([127, 0, 0, 2].into(), from.port());
            let mut reply = Message::<Attribute>::new(
                MessageClass::SuccessResponse,
                BINDING,
                req.transaction_id(),
            );
            reply.add_attribute(XorMappedAddress::new(mapped));
            if let Ok(bytes) = MessageEncoder::new().encode_into_bytes(reply) {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    });
    Ok(addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srflx_candidate_is_trickled() -> common::TestResult {
    common::init_tracing();
    let server = fake_stun_server().await?;
    let a = WebRtcTransport::new(RtcConfig::loopback().with_stun_server(server.to_string()))?;
    let b = WebRtcTransport::new(RtcConfig::loopback())?;
    let mut pair = Pair::new(a, b);
    // Record what A trickles, and pass it on.
    let (tx, rx) = std::sync::mpsc::channel();
    pair.hook = Some(Box::new(move |side, signal| {
        if side == Side::A {
            let _ = tx.send(signal.clone());
        }
        vec![signal]
    }));
    pair.open(Side::A).await;
    // Gathering may end after the channel opened: wait for end-of-candidates.
    let mut seen: Vec<Signal> = rx.try_iter().collect();
    while !seen.contains(&Signal::EndOfCandidates) {
        if let Some((side, event)) = pair.next_within(common::GUARD).await {
            panic!("unexpected event at {side:?}: {event:?}");
        }
        seen.extend(rx.try_iter());
    }
    let lines: Vec<String> = seen
        .iter()
        .filter_map(|s| match s {
            Signal::Candidate { candidate, .. } => Some(candidate.clone()),
            _ => None,
        })
        .collect();
    println!("A trickled: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" typ host") && l.contains("127.0.0.1")),
        "a host candidate"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" typ srflx") && l.contains("127.0.0.2")),
        "a server-reflexive candidate from the STUN server"
    );
    let end = seen.iter().position(|s| *s == Signal::EndOfCandidates);
    let last_candidate = seen
        .iter()
        .rposition(|s| matches!(s, Signal::Candidate { .. }));
    assert!(
        end > last_candidate,
        "end-of-candidates comes after the last candidate"
    );
    Ok(())
}
