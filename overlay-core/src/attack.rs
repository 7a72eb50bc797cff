//! Attacks on the handshake with real transports, for the identity tests of
//! every backend (`testkit` feature).
//!
//! [`relay_in_the_middle`] plays a malicious bridge M between two engines A
//! and C: M terminates a WebRTC connection with each (its own DTLS
//! certificate on both), and copies every frame across unchanged, so A's
//! and C's `HELLO`s reach each other. To get that far, M is granted what
//! signed signals deny it: its own session descriptions travel under A's
//! signature (the harness feeds M's signals to A's engine as if A's
//! transport had made them). What remains to stop M is the channel
//! binding: each `HELLO` is signed over the certificates its sender's DTLS
//! saw, which are M's on the other side.

use std::future::{poll_fn, Future};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::engine::{Engine, EngineStats};
use crate::event::{ConnectFailure, Output};
use crate::id::{ConnId, Keypair, ProtocolId};
use crate::transport::{Role, Transport, TransportCommand, TransportEvent};

/// How the attack ended.
#[derive(Debug, Clone)]
pub struct RelayOutcome {
    /// A's connect (the initiator), if it ended.
    pub initiator_result: Option<Result<(), ConnectFailure>>,
    /// A's counters.
    pub initiator: EngineStats,
    /// C's counters.
    pub acceptor: EngineStats,
    /// Arcs C counts from A.
    pub acceptor_inview: u32,
    /// Frames M copied from A to C.
    pub frames_to_c: u64,
    /// Frames M copied from C to A. With frames both ways, both of M's DTLS
    /// sessions were up: the attack got as far as the `HELLO`s.
    pub frames_to_a: u64,
}

const M_TO_A: ConnId = ConnId(1);
const M_TO_C: ConnId = ConnId(2);

enum Step {
    A(TransportEvent),
    C(TransportEvent),
    M(TransportEvent),
    Tick,
}

/// Run the attack with three transports from `make` (A's, C's, M's).
/// Ends when A's connect ended and C has no handshake left, or after
/// `limit`.
///
/// # Errors
/// A description of what broke in the harness itself.
pub async fn relay_in_the_middle<T, F>(
    mut make: impl FnMut() -> F,
    limit: Duration,
) -> Result<RelayOutcome, String>
where
    T: Transport,
    F: Future<Output = T>,
{
    let (mut ta, mut tc, mut tm) = (make().await, make().await, make().await);
    // Handshakes give up at half the limit, so that a side that never hears
    // why still ends within it.
    let config = Config::default().with_pending_timeout(limit / 2);
    let mut a = Engine::new(config.clone(), Keypair::generate(), 1, ta.send_window());
    let mut c = Engine::new(config, Keypair::generate(), 2, tc.send_window());
    let p = ProtocolId::new("attack").map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (op, _) = a
        .connect_out_of_band(start, p, 1)
        .map_err(|e| e.to_string())?;
    let now = Instant::now();
    tm.handle_command(
        now,
        TransportCommand::Open {
            conn: M_TO_C,
            role: Role::Initiator,
        },
    )
    .map_err(|e| format!("M cannot open toward C: {e}"))?;
    let mut out = RelayOutcome {
        initiator_result: None,
        initiator: EngineStats::default(),
        acceptor: EngineStats::default(),
        acceptor_inview: 0,
        frames_to_c: 0,
        frames_to_a: 0,
    };
    let mut m_to_a_open = false;
    let mut a_conn: Option<ConnId> = None;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        // Engines' commands and outputs, until none is left.
        let now = Instant::now();
        let mut progressed = true;
        while progressed {
            progressed = false;
            while let Some(cmd) = a.poll_transport() {
                progressed = true;
                match cmd {
                    // The remote's signals (C's answer) go to M's side toward C.
                    TransportCommand::Signal { signal, .. } => {
                        let _ = tm.handle_command(
                            now,
                            TransportCommand::Signal {
                                conn: M_TO_C,
                                signal,
                            },
                        );
                    }
                    other => {
                        if let TransportCommand::Open { conn, .. } = &other {
                            a_conn = Some(*conn);
                        }
                        let _ = ta.handle_command(now, other);
                    }
                }
            }
            while let Some(o) = a.poll_output() {
                progressed = true;
                match o {
                    Output::Signal(env) => {
                        let _ = c.handle_signal(now, env);
                    }
                    Output::Completed(done) if done.op == op => {
                        out.initiator_result = Some(done.result);
                    }
                    _ => {}
                }
            }
            while let Some(cmd) = c.poll_transport() {
                progressed = true;
                let _ = tc.handle_command(now, cmd);
            }
            while let Some(o) = c.poll_output() {
                progressed = true;
                if let Output::Signal(env) = o {
                    let _ = a.handle_signal(now, env);
                }
            }
        }
        let c_pending = c.connections().iter().any(|i| i.state.is_pending());
        if out.initiator_result.is_some() && !c_pending {
            break;
        }
        let timeout = tokio::time::sleep_until(
            deadline.min(tokio::time::Instant::now() + Duration::from_millis(20)),
        );
        tokio::pin!(timeout);
        let step = poll_fn(|cx| {
            if let Poll::Ready(e) = ta.poll_event(cx) {
                return Poll::Ready(Step::A(e));
            }
            if let Poll::Ready(e) = tc.poll_event(cx) {
                return Poll::Ready(Step::C(e));
            }
            if let Poll::Ready(e) = tm.poll_event(cx) {
                return Poll::Ready(Step::M(e));
            }
            if timeout.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Step::Tick);
            }
            Poll::Pending
        })
        .await;
        let now = Instant::now();
        match step {
            Step::A(TransportEvent::Signal { signal, .. }) => {
                // A's own offer and candidates go to M (toward A), never to C.
                if !m_to_a_open {
                    m_to_a_open = true;
                    tm.handle_command(
                        now,
                        TransportCommand::Open {
                            conn: M_TO_A,
                            role: Role::Acceptor,
                        },
                    )
                    .map_err(|e| format!("M cannot accept A: {e}"))?;
                }
                let _ = tm.handle_command(
                    now,
                    TransportCommand::Signal {
                        conn: M_TO_A,
                        signal,
                    },
                );
            }
            Step::A(e) => a.handle_transport_event(now, e),
            Step::C(e) => c.handle_transport_event(now, e),
            Step::M(TransportEvent::Signal { conn, signal }) if conn == M_TO_A => {
                // M's answer to A goes straight to A's transport.
                if let Some(id) = a_conn {
                    let _ = ta.handle_command(now, TransportCommand::Signal { conn: id, signal });
                }
            }
            Step::M(TransportEvent::Signal { signal, .. }) => {
                // M's offer to C leaves under A's signature.
                if let Some(id) = a_conn {
                    a.handle_transport_event(now, TransportEvent::Signal { conn: id, signal });
                }
            }
            Step::M(TransportEvent::Frame { conn, frame }) => {
                let to = if conn == M_TO_A {
                    out.frames_to_c += 1;
                    M_TO_C
                } else {
                    out.frames_to_a += 1;
                    M_TO_A
                };
                let _ = tm.handle_command(now, TransportCommand::Send { conn: to, frame });
            }
            Step::M(_) => {}
            Step::Tick => {
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
            }
        }
        a.handle_timeout(now);
        c.handle_timeout(now);
    }
    out.initiator = a.stats();
    out.acceptor = c.stats();
    out.acceptor_inview = c.inview(&p).get(&a.local_id()).copied().unwrap_or(0);
    Ok(out)
}

/// An out-of-band offer whose SDP fingerprint was changed on the way (the
/// certificate a relay would substitute) is refused by the acceptor before
/// any connection starts: the origin's signature does not cover it.
///
/// # Errors
/// What went wrong, as text.
pub async fn altered_sdp_fingerprint<T, F>(mut make: impl FnMut() -> F) -> Result<(), String>
where
    T: Transport,
    F: Future<Output = T>,
{
    use crate::node::{Node, NodeConfig};
    use crate::signal::Signal;
    let a = Node::spawn(make().await, Keypair::generate(), NodeConfig::default());
    let c = Node::spawn(make().await, Keypair::generate(), NodeConfig::default());
    let p = ProtocolId::new("attack").map_err(|e| e.to_string())?;
    let (ha, _events) = a.protocol(p).await.map_err(|e| e.to_string())?;
    let mut oob = ha.connect_out_of_band().await.map_err(|e| e.to_string())?;
    let mut offer = oob.next_signal().await.ok_or("A made no offer")?;
    let Signal::Offer { sdp } = offer.signal.clone() else {
        return Err(format!("A's first signal is a {}", offer.signal.kind()));
    };
    let line = sdp
        .lines()
        .find(|l| l.starts_with("a=fingerprint:sha-256 "))
        .ok_or("A's offer has no SHA-256 fingerprint")?;
    // A relay's certificate instead of A's: flip the last hex digit.
    let mut altered = line.to_owned();
    let last = altered.pop().ok_or("empty fingerprint")?;
    altered.push(if last == '0' { '1' } else { '0' });
    offer.signal = Signal::Offer {
        sdp: sdp.replace(line, &altered),
    };
    if c.accept_out_of_band(offer.clone()).await.is_ok() {
        return Err("C accepted an offer whose fingerprint was altered".into());
    }
    let stats = c.stats().await.map_err(|e| e.to_string())?;
    if stats.engine.forged_signals != 1 || stats.engine.handshakes_accepted != 0 {
        return Err(format!(
            "C did not count the forged offer: {:?}",
            stats.engine
        ));
    }
    if !c.connections().await.map_err(|e| e.to_string())?.is_empty() {
        return Err("C started a connection".into());
    }
    // The same offer, unaltered, is accepted: only the change was refused.
    let mut original = offer;
    original.signal = Signal::Offer { sdp };
    if !original.verify() {
        return Err("the original offer does not verify".into());
    }
    a.shutdown().await;
    c.shutdown().await;
    Ok(())
}
