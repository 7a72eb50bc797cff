//! The identity tests' verdict on
//! [`relay_in_the_middle`](overlay_core::attack::relay_in_the_middle), one
//! definition for every backend.

use overlay_core::attack::RelayOutcome;
use overlay_core::ConnectFailure;

/// What the initiator A must have seen when the relay was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitiatorSees {
    /// `Tampered`: C's `HELLO`, sent as C refuses A's, reached A before C
    /// closed (both ends count one tampered connection).
    Tampered,
    /// Any failure: C's last `HELLO` may be lost when C closes (webrtc-rs
    /// drops frames still queued on a closing connection), so A may fail
    /// at its pending timeout instead.
    AnyFailure,
}

/// Panics (a test failure) unless the relay got its DTLS sessions up and
/// the `HELLO`s across, and still no end opened a connection or an arc:
/// C refused A's `HELLO` as tampered, and A's connect failed as `initiator`
/// says.
pub fn assert_relay_refused(out: &RelayOutcome, initiator: InitiatorSees) {
    // A's HELLO went in on M's session with A and out on M's session with
    // C: both DTLS sessions were up.
    assert!(
        out.frames_to_c >= 1,
        "the relay did not get both DTLS sessions up and A's HELLO across: {out:?}"
    );
    assert_eq!(out.acceptor.tampered, 1, "C did not refuse A: {out:?}");
    match initiator {
        InitiatorSees::Tampered => {
            assert!(
                out.frames_to_a >= 1,
                "C's HELLO did not cross the relay: {out:?}"
            );
            assert_eq!(out.initiator_result, Some(Err(ConnectFailure::Tampered)));
            assert_eq!(out.initiator.tampered, 1, "{out:?}");
        }
        InitiatorSees::AnyFailure => {
            assert!(
                matches!(out.initiator_result, Some(Err(_))),
                "A's connect did not fail: {out:?}"
            );
            if out.initiator_result != Some(Err(ConnectFailure::Tampered)) {
                println!(
                    "A failed with {:?} (C's last HELLO did not get out)",
                    out.initiator_result
                );
            }
        }
    }
    assert_eq!(
        (
            out.initiator.connections_opened,
            out.acceptor.connections_opened
        ),
        (0, 0),
        "a connection opened through the relay: {out:?}"
    );
    assert_eq!(out.acceptor_inview, 0, "C counts an arc from A: {out:?}");
}
