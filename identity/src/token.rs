//! Bearer tokens: HS256 JWTs carrying the user id (`sub`), role, issue and
//! expiry times and the issuer. Verification checks the signature, the
//! issuer and the expiry with zero leeway.

use std::fmt;

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
    pub expires_at: DateTime<Utc>,
}

/// The JWT body as it travels.
#[derive(Serialize, Deserialize)]
struct JwtClaims {
    sub: String,
    role: String,
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
        }
    }

    pub fn issue(&self, user: &User, now: DateTime<Utc>) -> Result<AccessToken, IdentityError> {
        let expires_at = now + self.ttl;
        let claims = JwtClaims {
            sub: user.user_id.to_string(),
            role: user.role.as_str().to_owned(),
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
            expires_at: DateTime::from_timestamp(claims.exp, 0)
                .ok_or(IdentityError::InvalidToken)?,
        })
    }
}
