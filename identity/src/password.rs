//! Password hashing with argon2id (PHC string format, per-password random
//! salt). Hashing is deliberately slow, so it runs on tokio's blocking pool
//! instead of stalling the async workers.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::domain::Password;
use crate::error::IdentityError;

/// Hashes `password` into a PHC string that embeds its salt and parameters.
pub(crate) async fn hash(password: Password) -> Result<String, IdentityError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| IdentityError::internal(err.to_string()))
    })
    .await
    .map_err(IdentityError::internal)?
}

/// Whether `password` matches the stored PHC string `hash`.
pub(crate) async fn verify(password: Password, hash: String) -> Result<bool, IdentityError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash)
            .map_err(|err| IdentityError::internal(format!("stored password hash: {err}")))?;
        match Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(err) => Err(IdentityError::internal(err.to_string())),
        }
    })
    .await
    .map_err(IdentityError::internal)?
}
