//! How an engine signs what it sends and checks what it receives: its
//! Ed25519 identity, or — in the simulator only, when a run asks for it —
//! a keyed hash standing in for the curve arithmetic.
//!
//! Every signature the engine makes or checks goes through [`Signer`]: the
//! bundles of signals and the channel-bound `Hello`. The simulated scheme
//! signs the same transcripts and the engine runs the same checks (a
//! signature over other bytes, by another peer or for another destination
//! is still refused); only the cost differs: a SHA-512 of the transcript
//! (~1 µs) instead of an Ed25519 signature and a strict verification
//! (~60 µs together), which is most of a large simulation's CPU time.
//! A node never gets it: it is set by [`crate::sim::Sim`] alone.

use std::cell::RefCell;
use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha512};

use crate::id::{verify_with, Keypair, PeerId};

/// The signing identity of one engine.
pub(crate) struct Signer {
    keypair: Keypair,
    local: PeerId,
    scheme: Scheme,
}

enum Scheme {
    /// Ed25519 (RFC 8032), strict verification. Always, outside the simulator.
    Ed25519,
    /// SHA-512 over a secret shared by the simulated engines, the signer's
    /// id and the transcript. Only engines holding `secret` make or accept
    /// these signatures; an Ed25519 one never checks out.
    Simulated { secret: [u8; 32] },
}

impl Signer {
    pub(crate) fn new(keypair: Keypair) -> Self {
        Signer {
            local: keypair.peer_id(),
            keypair,
            scheme: Scheme::Ed25519,
        }
    }

    /// This engine's id.
    pub(crate) fn local(&self) -> PeerId {
        self.local
    }

    /// Switch to the simulated scheme, keyed by `secret` (simulator only).
    pub(crate) fn simulate(&mut self, secret: [u8; 32]) {
        self.scheme = Scheme::Simulated { secret };
    }

    /// Sign `message` as this engine.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        match &self.scheme {
            Scheme::Ed25519 => self.keypair.sign(message),
            Scheme::Simulated { secret } => simulated(secret, &self.local, message),
        }
    }

    /// Whether `signature` is `peer`'s over `message`.
    pub(crate) fn verify(&self, peer: &PeerId, message: &[u8], signature: &[u8; 64]) -> bool {
        match &self.scheme {
            Scheme::Ed25519 => verify_ed25519(peer, message, signature),
            Scheme::Simulated { secret } => simulated(secret, peer, message) == *signature,
        }
    }
}

fn simulated(secret: &[u8; 32], signer: &PeerId, message: &[u8]) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(secret);
    h.update(signer.as_bytes());
    h.update(message);
    h.finalize().into()
}

// Decoded public keys of peers whose signatures were checked (decoding a
// key, a square root in the field, is a fair part of a verification).
//
// A memo of a pure function (the bytes of a `PeerId` decide its key),
// shared by the engines of one thread: a process that runs many engines on
// one thread (the simulator, a test, a hub of nodes) decodes each peer's
// key once instead of once per engine. Only keys that verified a valid
// signature are kept, and the memo is bounded: cleared when full.
const KEY_MEMO_MAX: usize = 16_384;

thread_local! {
    static KEYS: RefCell<HashMap<PeerId, VerifyingKey>> = RefCell::new(HashMap::new());
}

fn verify_ed25519(peer: &PeerId, message: &[u8], signature: &[u8; 64]) -> bool {
    if let Some(k) = KEYS.with(|k| k.borrow().get(peer).copied()) {
        return verify_with(&k, message, signature);
    }
    let Some(k) = peer.verifying_key() else {
        return false;
    };
    let ok = verify_with(&k, message, signature);
    if ok {
        KEYS.with(|keys| {
            let mut keys = keys.borrow_mut();
            if keys.len() >= KEY_MEMO_MAX {
                keys.clear();
            }
            keys.insert(*peer, k);
        });
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Signer, Signer) {
        (
            Signer::new(Keypair::from_secret_bytes([1; 32])),
            Signer::new(Keypair::from_secret_bytes([2; 32])),
        )
    }

    #[test]
    fn ed25519_checks_signer_and_bytes() {
        let (a, b) = pair();
        let sig = a.sign(b"transcript");
        assert!(b.verify(&a.local(), b"transcript", &sig));
        assert!(!b.verify(&b.local(), b"transcript", &sig));
        assert!(!b.verify(&a.local(), b"transcripT", &sig));
    }

    #[test]
    fn simulated_checks_signer_bytes_and_secret() {
        let (mut a, mut b) = pair();
        a.simulate([7; 32]);
        b.simulate([7; 32]);
        let sig = a.sign(b"transcript");
        assert!(b.verify(&a.local(), b"transcript", &sig));
        assert!(!b.verify(&b.local(), b"transcript", &sig), "another signer");
        assert!(!b.verify(&a.local(), b"transcripT", &sig), "other bytes");
        // A real Ed25519 signature is not a simulated one, and another
        // simulation's secret does not check out either.
        let real = Signer::new(Keypair::from_secret_bytes([1; 32])).sign(b"transcript");
        assert!(!b.verify(&a.local(), b"transcript", &real));
        let mut c = Signer::new(Keypair::from_secret_bytes([3; 32]));
        c.simulate([8; 32]);
        assert!(!c.verify(&a.local(), b"transcript", &sig));
    }
}
