//! `ed25519-dalek` for the fuzz build: the same types and results as the
//! real crate (it does every computation with it), with key derivation,
//! signing and verification memoized in bounded global tables.
//!
//! Ed25519 is deterministic (RFC 8032), so a memoized result is exactly
//! what the real function returns for the same input. The fuzz harnesses
//! set up the same identities and handshakes on every input; memoized,
//! that setup costs a table look-up instead of a dozen curve operations,
//! while each input still gets fresh engines. Only the API the workspace
//! uses is provided; a failed decoding or verification returns
//! `SignatureError::new()` (the workspace only asks whether it failed).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, OnceLock};

pub use real::{Signature, SignatureError, Signer, Verifier};
pub use real::{PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH, SIGNATURE_LENGTH};

/// Entries per table before it is cleared (bounded memory).
const MAX_ENTRIES: usize = 1 << 16;

struct Memo<K, V>(OnceLock<Mutex<HashMap<K, V>>>);

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    const fn new() -> Self {
        Memo(OnceLock::new())
    }

    fn get_or(&self, key: K, compute: impl FnOnce() -> V) -> V {
        let table = self.0.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(v) = table.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return v.clone();
        }
        let v = compute();
        let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
        if t.len() >= MAX_ENTRIES {
            t.clear();
        }
        t.insert(key, v.clone());
        v
    }
}

static KEYS: Memo<[u8; 32], real::SigningKey> = Memo::new();
static DECODED: Memo<[u8; 32], Result<real::VerifyingKey, ()>> = Memo::new();
static SIGNED: Memo<([u8; 32], Vec<u8>), [u8; 64]> = Memo::new();
static VERIFIED: Memo<([u8; 32], Vec<u8>, [u8; 64]), bool> = Memo::new();

/// An Ed25519 signing key (the real one, with its public key derived once).
#[derive(Clone, Debug)]
pub struct SigningKey {
    inner: real::SigningKey,
    public: VerifyingKey,
}

impl SigningKey {
    /// The key of this 32-byte secret.
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        // The real constructor derives the public key (a base-point
        // multiplication): done once per secret.
        let inner = KEYS.get_or(*secret, || real::SigningKey::from_bytes(secret));
        let public = VerifyingKey(inner.verifying_key());
        SigningKey { inner, public }
    }

    /// A key from `csprng`.
    #[cfg(feature = "rand_core")]
    pub fn generate<R: rand_core::CryptoRngCore + ?Sized>(csprng: &mut R) -> Self {
        let mut secret = [0u8; 32];
        csprng.fill_bytes(&mut secret);
        Self::from_bytes(&secret)
    }

    /// The secret bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.inner.to_bytes()
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.public
    }

    /// Strict verification with this key's public half.
    pub fn verify_strict(
        &self,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        self.public.verify_strict(message, signature)
    }
}

impl Signer<Signature> for SigningKey {
    fn try_sign(&self, message: &[u8]) -> Result<Signature, SignatureError> {
        let bytes = SIGNED.get_or((self.inner.to_bytes(), message.to_vec()), || {
            self.inner.sign(message).to_bytes()
        });
        Ok(Signature::from_bytes(&bytes))
    }
}

/// An Ed25519 public key (the real one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyingKey(real::VerifyingKey);

impl VerifyingKey {
    /// Decode a public key (a valid, canonical curve point or an error).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SignatureError> {
        match DECODED.get_or(*bytes, || {
            real::VerifyingKey::from_bytes(bytes).map_err(|_| ())
        }) {
            Ok(k) => Ok(VerifyingKey(k)),
            Err(_) => Err(SignatureError::new()),
        }
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// RFC 8032 verification with the real crate's strict checks.
    pub fn verify_strict(
        &self,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let sig = signature.to_bytes();
        let ok = VERIFIED.get_or((self.0.to_bytes(), message.to_vec(), sig), || {
            self.0.verify_strict(message, signature).is_ok()
        });
        if ok {
            Ok(())
        } else {
            Err(SignatureError::new())
        }
    }
}

impl Verifier<Signature> for VerifyingKey {
    fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        self.0.verify(message, signature)
    }
}
