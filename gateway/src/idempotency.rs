//! The `idempotency-key` metadata entry of mutating RPCs, and the request
//! fingerprint that tells a replay (same key, same request: answer as
//! before) from a reuse (same key, other request: IDEMPOTENCY_KEY_REUSED).

use sha2::{Digest, Sha256};

use crate::error::AppError;

/// The metadata entry clients set on mutating calls.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

const MAX_KEY_LEN: usize = 128;

/// The request's idempotency key, if it sent one: 1 to 128 visible ASCII
/// characters, else INVALID_ARGUMENT on field `idempotency-key`.
pub fn idempotency_key<T>(req: &tonic::Request<T>) -> Result<Option<String>, AppError> {
    let Some(value) = req.metadata().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.as_bytes();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.iter().all(u8::is_ascii_graphic) {
        return Err(AppError::invalid(
            IDEMPOTENCY_KEY,
            "must be 1 to 128 visible ASCII characters",
        ));
    }
    // All bytes are visible ASCII, so this is the same text.
    Ok(Some(key.iter().map(|&b| char::from(b)).collect()))
}

/// Hex SHA-256 of the RPC's method name and its encoded request message.
pub fn request_hash<M: prost::Message>(method: &str, msg: &M) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    // A separator no method name contains, so (method, body) pairs cannot
    // collide by shifting bytes between the two.
    hasher.update([0u8]);
    hasher.update(msg.encode_to_vec());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticketing_proto::v1::LoginRequest;

    fn with_key(key: &str) -> tonic::Request<()> {
        let mut req = tonic::Request::new(());
        req.metadata_mut()
            .insert(IDEMPOTENCY_KEY, key.parse().expect("metadata value"));
        req
    }

    #[test]
    fn absent_key_is_none() {
        assert_eq!(idempotency_key(&tonic::Request::new(())).ok(), Some(None));
    }

    #[test]
    fn visible_ascii_keys_are_accepted() {
        let key = "k-01J9:abc/~".to_owned();
        assert_eq!(idempotency_key(&with_key(&key)).ok(), Some(Some(key)));
        assert!(idempotency_key(&with_key(&"x".repeat(128))).is_ok());
    }

    #[test]
    fn bad_keys_are_field_violations() {
        for key in ["", "has space", &"x".repeat(129)] {
            match idempotency_key(&with_key(key)) {
                Err(AppError::InvalidArgument(violations)) => {
                    assert_eq!(violations[0].field, IDEMPOTENCY_KEY)
                }
                other => panic!("{key:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn hash_depends_on_method_and_message() {
        let a = LoginRequest {
            email: "a@x.io".into(),
            password: "p".into(),
        };
        let b = LoginRequest {
            password: "q".into(),
            ..a.clone()
        };
        let h = request_hash("Login", &a);
        assert_eq!(h.len(), 64);
        assert_eq!(h, request_hash("Login", &a.clone()));
        assert_ne!(h, request_hash("Login", &b));
        assert_ne!(h, request_hash("Register", &a));
    }
}
