//! The Ed25519 keys that sign tickets: a [`KeyRing`] with one active
//! signing key plus the keys it replaced, so tickets signed before a
//! rotation still verify, and the [`Verifier`] that holds only public keys
//! (scanners, the check-in path). The key file itself — its format and its
//! owner-only, crash-safe writes — lives in `keys/store.rs`.
//!
//! Every key is named by its kid: the first 8 lowercase hex characters of
//! SHA-256 of its 32-byte public key, so anyone holding the public key can
//! recompute it and a kid never needs a registry of its own.
//!
//! Secret key material never becomes text outside the key file: `KeyRing`'s
//! `Debug` shows kids only, and no [`KeyError`] carries a seed.

mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey, SIGNATURE_LENGTH};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Why a key could not be loaded, stored or decoded. Messages name files
/// and kids, never secrets.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {} is accessible by group or others (mode {mode:03o}); \
         refusing to use it: run `chmod 600` on it",
        path.display()
    )]
    LoosePermissions { path: PathBuf, mode: u32 },
    #[error("key file {} is malformed: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("the configured signing key is not standard base64 of a 32-byte seed")]
    InvalidSeed,
    #[error("public key {kid} is not a valid Ed25519 public key")]
    InvalidPublicKey { kid: String },
    #[error("kid {kid} does not name the public key given with it")]
    KidMismatch { kid: String },
    #[error("not a PEM-encoded Ed25519 public key (SubjectPublicKeyInfo)")]
    Pem,
}

/// One active signing key plus the keys it replaced, oldest first.
pub struct KeyRing {
    /// Never empty; the last key is the active one.
    keys: Vec<RingKey>,
}

struct RingKey {
    kid: String,
    signing: SigningKey,
    /// `None` for a key given by configuration, whose age is unknown.
    created_at: Option<DateTime<Utc>>,
}

impl RingKey {
    fn from_seed(seed: &[u8; 32], created_at: Option<DateTime<Utc>>) -> Self {
        let signing = SigningKey::from_bytes(seed);
        Self {
            kid: kid_of(&signing.verifying_key()),
            signing,
            created_at,
        }
    }

    fn generate(created_at: DateTime<Utc>) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed, Some(created_at))
    }
}

impl KeyRing {
    /// Reads the key file at `path`, or, when there is none, generates a key
    /// and writes a new file (creating missing parent directories, mode
    /// 0700). The file is written with mode 0600 from its first byte; an
    /// existing file that group or others may access is refused, as ssh
    /// refuses a private key with loose permissions.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        store::load_or_create(path)
    }

    /// Adds a newly generated key to the key file at `path` (created if
    /// missing) and makes it the active one; earlier keys stay so tickets
    /// they signed still verify. The file is replaced atomically.
    ///
    /// Rotate from one place at a time: two rotations racing each other
    /// both read the old file, and only one of their new keys is kept.
    /// Workers that loaded the ring earlier sign with the previous key until
    /// they reload it, which stays valid since old keys are kept.
    pub fn rotate(path: &Path) -> Result<Self, KeyError> {
        store::rotate(path)
    }

    /// A ring of the one key whose 32-byte seed is `secret`, in standard
    /// base64 with padding (RFC 4648 §4) — the encoding of `seed` in the key
    /// file — for deployments that mount the key from a secret store.
    /// Surrounding whitespace (a trailing newline) is ignored.
    pub fn from_seed(secret: &str) -> Result<Self, KeyError> {
        let seed = decode_seed(secret.trim()).ok_or(KeyError::InvalidSeed)?;
        Ok(Self::from_keys(vec![RingKey::from_seed(&seed, None)]))
    }

    fn from_keys(keys: Vec<RingKey>) -> Self {
        debug_assert!(!keys.is_empty(), "a key ring has an active key");
        Self { keys }
    }

    fn active(&self) -> &RingKey {
        &self.keys[self.keys.len() - 1]
    }

    /// The kid of the key that [`KeyRing::sign`] uses.
    pub fn active_kid(&self) -> &str {
        &self.active().kid
    }

    /// Signs `message` with the active key; returns its kid and the 64-byte
    /// signature.
    pub fn sign(&self, message: &[u8]) -> (&str, [u8; SIGNATURE_LENGTH]) {
        let active = self.active();
        let signature: Signature = active.signing.sign(message);
        (&active.kid, signature.to_bytes())
    }

    /// Every key's public half, oldest first (the active one last).
    pub fn public_keys(&self) -> Vec<PublicKey> {
        let last = self.keys.len() - 1;
        self.keys
            .iter()
            .enumerate()
            .map(|(index, key)| PublicKey {
                kid: key.kid.clone(),
                key: key.signing.verifying_key(),
                active: index == last,
                created_at: key.created_at,
            })
            .collect()
    }

    /// A verifier for every key of this ring.
    pub fn verifier(&self) -> Verifier {
        Verifier::from_public_keys(&self.public_keys())
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|key| key.kid.as_str()).collect();
        f.debug_struct("KeyRing")
            .field("active", &self.active_kid())
            .field("kids", &kids)
            .finish()
    }
}

/// The public half of one key of a [`KeyRing`].
#[derive(Debug, Clone, PartialEq)]
pub struct PublicKey {
    pub kid: String,
    pub key: VerifyingKey,
    /// Whether this is the key new tickets are signed with.
    pub active: bool,
    /// `None` for a key given by configuration, whose age is unknown.
    pub created_at: Option<DateTime<Utc>>,
}

impl PublicKey {
    /// The 32-byte public key, as a database table of verifying keys holds it.
    pub fn raw(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            // Only a key too large for DER can fail to encode, and an
            // Ed25519 public key is always 32 bytes.
            .expect("an Ed25519 public key always encodes as PEM")
    }
}

/// Verifying keys by kid: what a scanner needs to check ticket signatures,
/// with no secret in it.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    keys: BTreeMap<String, VerifyingKey>,
}

impl Verifier {
    pub fn from_public_keys(keys: &[PublicKey]) -> Self {
        let keys = keys.iter().map(|k| (k.kid.clone(), k.key)).collect();
        Self { keys }
    }

    /// Builds a verifier from `(kid, 32-byte public key)` rows; each kid
    /// must be the one its key derives, so a mixed-up row is caught here
    /// rather than rejecting every ticket it signed.
    pub fn from_raw(keys: impl IntoIterator<Item = (String, [u8; 32])>) -> Result<Self, KeyError> {
        let mut verifier = Self::default();
        for (kid, raw) in keys {
            let key = VerifyingKey::from_bytes(&raw)
                .map_err(|_| KeyError::InvalidPublicKey { kid: kid.clone() })?;
            if kid_of(&key) != kid {
                return Err(KeyError::KidMismatch { kid });
            }
            verifier.keys.insert(kid, key);
        }
        Ok(verifier)
    }

    /// Builds a verifier from SubjectPublicKeyInfo PEM documents, as
    /// [`PublicKey::to_pem`] writes them; kids are derived from the keys.
    pub fn from_pem<'a>(pems: impl IntoIterator<Item = &'a str>) -> Result<Self, KeyError> {
        let mut verifier = Self::default();
        for pem in pems {
            let key = VerifyingKey::from_public_key_pem(pem).map_err(|_| KeyError::Pem)?;
            verifier.keys.insert(kid_of(&key), key);
        }
        Ok(verifier)
    }

    /// The key named `kid` as SubjectPublicKeyInfo PEM.
    pub fn pem(&self, kid: &str) -> Option<String> {
        let key = self.keys.get(kid)?;
        key.to_public_key_pem(LineEnding::LF).ok()
    }

    /// Whether a key named `kid` is known.
    pub fn knows(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Whether `signature` is a valid signature of `message` by the key
    /// named `kid`. Strict verification: non-canonical signatures and weak
    /// keys are rejected, so a signature has exactly one valid encoding.
    pub fn verify(&self, kid: &str, message: &[u8], signature: &[u8]) -> bool {
        let Some(key) = self.keys.get(kid) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(signature) else {
            return false;
        };
        key.verify_strict(message, &signature).is_ok()
    }
}

/// First 8 lowercase hex characters of SHA-256 of the 32-byte public key.
fn kid_of(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_seed(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    // 64 characters decode to at most 48 bytes: the buffer holds anything
    // that passes this bound, so a seed of the wrong length is measured
    // and refused rather than failing on a short buffer.
    if text.len() > 64 {
        return None;
    }
    let mut buf = Zeroizing::new([0u8; 48]);
    let len = STANDARD.decode_slice(text, buf.as_mut()).ok()?;
    if len != 32 {
        return None;
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&buf[..32]);
    Some(seed)
}
