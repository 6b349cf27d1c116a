//! Request fingerprints for idempotency records of requests that carry a
//! secret (Register's password). A plain hash of such a request would let
//! anyone holding a copy of the database test password guesses at SHA-256
//! speed, skipping argon2. The fingerprint is an HMAC-SHA256 keyed with a
//! key derived from the server's secret (`TICKETING_JWT_SECRET`), which the
//! database does not hold: a stolen copy confirms nothing.
//!
//! It still tells a replay (same key, same request: the same answer) from a
//! reuse (another request), and is stable across restarts as long as the
//! secret is. Rotating the secret makes older keys count as reused.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Keeps the fingerprint key apart from the JWT signing key it derives from.
const CONTEXT: &[u8] = b"ticketing:request-fingerprint:v1\0";

#[derive(Clone)]
pub(crate) struct Fingerprints {
    key: [u8; 32],
}

impl Fingerprints {
    pub fn new(secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(CONTEXT);
        hasher.update(secret);
        Self {
            key: hasher.finalize().into(),
        }
    }

    /// Hex HMAC-SHA256 of `method`, a separator, and the encoded request.
    pub fn of(&self, method: &str, message: &[u8]) -> String {
        // HMAC takes a key of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(method.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_depends_on_the_secret_and_every_byte() {
        let one = Fingerprints::new(b"secret one");
        let two = Fingerprints::new(b"secret two");
        let fp = one.of("Register", b"ada\0hunter2");
        assert_eq!(fp.len(), 64);
        assert_eq!(fp, one.of("Register", b"ada\0hunter2"), "stable");
        assert_ne!(fp, one.of("Register", b"ada\0hunter3"));
        assert_ne!(fp, one.of("Login", b"ada\0hunter2"));
        assert_ne!(fp, two.of("Register", b"ada\0hunter2"), "keyed");
        let unkeyed: String = Sha256::digest(b"Register\0ada\0hunter2")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(fp, unkeyed);
    }
}
