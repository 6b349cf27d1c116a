//! The identity bounded context: user accounts, password hashing and bearer
//! tokens.
//!
//! * `domain.rs` — validated newtypes ([`UserId`], [`Email`], [`Password`],
//!   [`DisplayName`], [`Role`]) and [`User`].
//! * `users.rs` — the user store on the engine's database ([`migrate`]
//!   creates its table); maps unique violations to
//!   [`IdentityError::EmailTaken`].
//! * `password.rs` — argon2id hashing on the blocking pool.
//! * `token.rs` — HS256 JWTs ([`TokenConfig`], [`AccessToken`], [`Claims`]).
//! * `service.rs` — [`Identity`], the use cases the gateway and CLI call.
//! * `accounts.rs` — account management for operators and admins
//!   ([`Account`]); `standing.rs` — whether an account still stands behind
//!   its tokens, remembered for a few seconds.
//! * `error.rs` — [`IdentityError`], the one error type of this layer.

mod accounts;
mod domain;
mod error;
mod fingerprint;
mod password;
mod service;
mod standing;
mod throttle;
mod token;
mod users;

pub use accounts::{Account, MAX_PAGE};
pub use domain::{DisplayName, Email, Password, Role, User, UserId, ValidationError};
pub use error::IdentityError;
pub use service::Identity;
pub use standing::STANDING_TTL;
pub use token::{AccessToken, Claims, TokenConfig};
pub use users::{migrate, IDENTITY};

/// An idempotency key sent with a registration, with the request's keyed
/// fingerprint ([`Identity::request_fingerprint`]), never a plain hash of a
/// request holding a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterKey {
    pub key: String,
    pub request_hash: String,
}
