//! Password hashing with argon2id (PHC string format, per-password random
//! salt). Hashing is deliberately slow, so it runs on tokio's blocking pool
//! instead of stalling the async workers.
//!
//! Each hash takes 19 MiB and a core for tens of milliseconds, so at most
//! one per core runs at a time in a process ([`HASHING`]): a burst of
//! registrations or logins queues instead of taking a hash's memory each
//! (64 at once peaked at some 80 MB of heap in a profile), and a call that
//! waits longer than [`MAX_WAIT`] is shed with [`IdentityError::Busy`].

use std::sync::LazyLock;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::domain::Password;
use crate::error::IdentityError;

/// Hashes running at once: one per core.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
});

/// How long a call waits for a free core before it is shed: a queued
/// call holds a few bytes, not a hash's memory, so the wait may be long
/// enough for a burst of sign-ups to drain.
const MAX_WAIT: Duration = Duration::from_secs(10);

async fn turn() -> Result<SemaphorePermit<'static>, IdentityError> {
    turn_within(MAX_WAIT).await
}

async fn turn_within(wait: Duration) -> Result<SemaphorePermit<'static>, IdentityError> {
    match tokio::time::timeout(wait, HASHING.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        // Never closed.
        Ok(Err(closed)) => Err(IdentityError::internal(closed)),
        Err(_) => Err(IdentityError::Busy),
    }
}

/// Hashes `password` into a PHC string that embeds its salt and parameters.
pub(crate) async fn hash(password: Password) -> Result<String, IdentityError> {
    let _turn = turn().await?;
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
    let _turn = turn().await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// With every core's turn taken, a call waits for its turn and is
    /// shed with Busy when the wait runs out; once a turn is free, hashes run.
    #[tokio::test]
    async fn a_hash_beyond_one_per_core_waits_then_is_shed() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut turns = Vec::new();
        for _ in 0..cores {
            turns.push(turn().await.expect("a free turn"));
        }
        let password = || Password::parse("correct horse battery").unwrap();
        let wait = Duration::from_millis(200);
        let started = std::time::Instant::now();
        assert!(matches!(turn_within(wait).await, Err(IdentityError::Busy)));
        assert!(started.elapsed() >= wait);
        turns.pop();
        let hashed = hash(password()).await.expect("a turn is free");
        assert!(verify(password(), hashed).await.expect("a turn is free"));
        drop(turns);
    }
}
