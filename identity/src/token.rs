//! Bearer tokens: HS256 JWTs carrying the user id (`sub`), role, the
//! account's generation (`gen`), issue and expiry times and the issuer.
//! Verification checks the signature, the issuer and the expiry with zero
//! leeway; whether the account still stands behind the token (not
//! disabled, the same generation) is the service's check (`standing.rs`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::domain::{Role, User, UserId};
use crate::error::IdentityError;

/// How tokens are signed and how long they live.
#[derive(Clone)]
pub struct TokenConfig {
    /// HMAC key; at least 32 random bytes. Never logged.
    pub secret: Vec<u8>,
    pub ttl: Duration,
    /// Written to and required in `iss`.
    pub issuer: String,
}

impl TokenConfig {
    /// A fresh 32-byte random key, e.g. for tests or a single-node setup
    /// where tokens need not survive a restart.
    pub fn generate_secret() -> Vec<u8> {
        let mut secret = vec![0u8; 32];
        OsRng.fill_bytes(&mut secret);
        secret
    }
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// A signed token handed to a client after login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub user_id: UserId,
    pub role: Role,
    /// The account's generation when the token was issued.
    pub generation: i64,
    pub expires_at: DateTime<Utc>,
}

/// The JWT body as it travels.
#[derive(Serialize, Deserialize)]
struct JwtClaims {
    sub: String,
    role: String,
    /// Absent in tokens issued before generations: 0, a fresh account's.
    #[serde(default)]
    gen: i64,
    iat: i64,
    exp: i64,
    iss: String,
}

/// Issues and verifies tokens with one key.
#[derive(Clone)]
pub(crate) struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    issuer: String,
    verified: Verified,
}

/// Tokens that passed verification lately, by their whole text: a client
/// sends the same token with every call, and checking its signature and
/// parsing its claims again took about 5% of the engine's CPU per
/// ReserveSeats. Only verified tokens enter; the expiry is checked on every
/// hit. Bounded: emptied when full.
#[derive(Clone, Default)]
struct Verified(Arc<Mutex<HashMap<String, Claims>>>);

/// Tokens [`Verified`] holds at most (some 300 bytes each).
const VERIFIED_CAPACITY: usize = 4096;

impl Verified {
    fn get(&self, token: &str) -> Option<Claims> {
        self.lock().get(token).cloned()
    }

    fn put(&self, token: &str, claims: &Claims) {
        let mut verified = self.lock();
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(token.to_owned(), claims.clone());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Claims>> {
        // Entries are inserted whole: a panic cannot leave one half-made.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Tokens {
    pub fn new(config: TokenConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        Self {
            encoding: EncodingKey::from_secret(&config.secret),
            decoding: DecodingKey::from_secret(&config.secret),
            validation,
            ttl: config.ttl,
            issuer: config.issuer,
            verified: Verified::default(),
        }
    }

    pub fn issue(
        &self,
        user: &User,
        generation: i64,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, IdentityError> {
        let expires_at = now + self.ttl;
        let claims = JwtClaims {
            sub: user.user_id.to_string(),
            role: user.role.as_str().to_owned(),
            gen: generation,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: self.issuer.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(IdentityError::internal)?;
        // Report the expiry at the token's own (whole-second) resolution.
        let expires_at = DateTime::from_timestamp(claims.exp, 0)
            .ok_or_else(|| IdentityError::internal("token expiry out of range"))?;
        Ok(AccessToken { token, expires_at })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, IdentityError> {
        self.verify_at(token, Utc::now())
    }

    /// [`Tokens::verify`] with the clock a cached answer is checked against.
    fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, IdentityError> {
        if let Some(claims) = self.verified.get(token) {
            // As jsonwebtoken decides with zero leeway: expired once `exp`
            // is in the past.
            if claims.expires_at.timestamp() < now.timestamp() {
                return Err(IdentityError::TokenExpired);
            }
            return Ok(claims);
        }
        let claims = self.decode(token)?;
        self.verified.put(token, &claims);
        Ok(claims)
    }

    fn decode(&self, token: &str) -> Result<Claims, IdentityError> {
        let data = jsonwebtoken::decode::<JwtClaims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => IdentityError::TokenExpired,
                _ => IdentityError::InvalidToken,
            })?;
        let claims = data.claims;
        // A correctly signed token with bad contents was minted by us with a
        // bug or with a leaked key; either way the bearer is not trusted.
        Ok(Claims {
            user_id: UserId::parse(&claims.sub).map_err(|_| IdentityError::InvalidToken)?,
            role: claims
                .role
                .parse()
                .map_err(|_| IdentityError::InvalidToken)?,
            generation: claims.gen,
            expires_at: DateTime::from_timestamp(claims.exp, 0)
                .ok_or(IdentityError::InvalidToken)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DisplayName, Email};

    fn tokens() -> Tokens {
        Tokens::new(TokenConfig {
            secret: TokenConfig::generate_secret(),
            ttl: Duration::minutes(5),
            issuer: "test".into(),
        })
    }

    fn user() -> User {
        User {
            user_id: UserId::generate(),
            email: Email::parse("a@example.com").unwrap(),
            display_name: DisplayName::parse("A").unwrap(),
            role: Role::Customer,
            created_at: Utc::now(),
        }
    }

    /// A token answered from the cache still expires, and nothing but a
    /// verified token is ever answered from it.
    #[test]
    fn a_remembered_token_still_expires_and_a_forged_one_is_never_remembered() {
        let tokens = tokens();
        let now = Utc::now();
        let issued = tokens.issue(&user(), 0, now).unwrap();
        let claims = tokens.verify_at(&issued.token, now).unwrap();
        assert_eq!(tokens.verified.get(&issued.token), Some(claims.clone()));
        assert_eq!(tokens.verify_at(&issued.token, now).unwrap(), claims);
        let later = now + Duration::minutes(6);
        assert!(matches!(
            tokens.verify_at(&issued.token, later),
            Err(IdentityError::TokenExpired)
        ));

        let mut forged = issued.token.clone();
        forged.pop();
        forged.push(if issued.token.ends_with('A') {
            'B'
        } else {
            'A'
        });
        assert!(matches!(
            tokens.verify_at(&forged, now),
            Err(IdentityError::InvalidToken)
        ));
        assert!(tokens.verified.get(&forged).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let tokens = tokens();
        let now = Utc::now();
        for _ in 0..VERIFIED_CAPACITY + 10 {
            let issued = tokens.issue(&user(), 0, now).unwrap();
            tokens.verify_at(&issued.token, now).unwrap();
        }
        assert!(tokens.verified.lock().len() <= VERIFIED_CAPACITY);
    }
}
