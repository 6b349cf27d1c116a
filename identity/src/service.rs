//! [`Identity`]: the use cases of the identity context — register, add a
//! user with a role, log in, verify a bearer token — over the user store,
//! the password hasher and the token signer.

use chrono::Utc;
use sqlx::AnyPool;
use ticketing_event_store::Backend;

use crate::domain::{DisplayName, Email, Password, Role, User, UserId};
use crate::error::IdentityError;
use crate::fingerprint::Fingerprints;
use crate::password;
use crate::standing::{self, Standings, STANDING_TTL, USER_TTL};
use crate::throttle::LoginThrottle;
use crate::token::{AccessToken, Claims, TokenConfig, Tokens};
use crate::users::Users;
use crate::RegisterKey;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use ticketing_event_store::IdempotencyRecord;

/// The identity service object. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Identity {
    pub(crate) users: Users,
    tokens: Tokens,
    fingerprints: Fingerprints,
    throttle: Arc<LoginThrottle>,
    pub(crate) standings: Arc<Standings>,
    pub(crate) known_users: Arc<standing::Users>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signing key lives in `tokens`; keep it out of debug output.
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

impl Identity {
    /// Expects [`crate::migrate`] to have run on `pool`.
    pub fn new(pool: AnyPool, backend: Backend, tokens: TokenConfig) -> Self {
        Self {
            users: Users::new(pool, backend),
            fingerprints: Fingerprints::new(&tokens.secret),
            throttle: Arc::new(LoginThrottle::default()),
            tokens: Tokens::new(tokens),
            standings: Arc::new(Standings::new(STANDING_TTL)),
            known_users: Arc::new(standing::Users::new(USER_TTL)),
        }
    }

    /// The `request_hash` of a [`RegisterKey`]: keyed with the server's
    /// secret, so a stored record reveals nothing of the password in the
    /// request (see `fingerprint.rs`).
    pub fn request_fingerprint(&self, method: &str, encoded_request: &[u8]) -> String {
        self.fingerprints.of(method, encoded_request)
    }

    /// A user by id (for the workers that print a holder's name or mail a
    /// customer), without credentials; `None` if there is none. Remembered
    /// for a minute: the workers ask for every paid order, and email
    /// and display name never change (a role changed by another process
    /// shows within the TTL).
    pub async fn user(&self, user_id: &UserId) -> Result<Option<User>, IdentityError> {
        let now = Instant::now();
        if let Some(user) = self.known_users.get(user_id, now) {
            return Ok(Some(user));
        }
        let user = self
            .users
            .find_by_id(user_id)
            .await?
            .map(|stored| stored.user);
        if let Some(user) = &user {
            self.known_users.put(user_id, user.clone(), now);
        }
        Ok(user)
    }

    /// Self-service sign-up: always a customer.
    pub async fn register(
        &self,
        email: Email,
        password: Password,
        display_name: DisplayName,
    ) -> Result<User, IdentityError> {
        self.add_user(email, password, display_name, Role::Customer)
            .await
    }

    /// Self-service sign-up sent with an idempotency key: the same key and
    /// request answer with the same user, also after a restart or when the
    /// twin requests race; the key with another request is refused. Keys
    /// are scoped by email, so two strangers' keys never collide.
    pub async fn register_idempotent(
        &self,
        email: Email,
        password: Password,
        display_name: DisplayName,
        key: RegisterKey,
    ) -> Result<User, IdentityError> {
        let scope = format!("Register:{}", email.as_str());
        if let Some(user) = self.replayed(&scope, &key).await? {
            return Ok(user);
        }
        let user = User {
            user_id: UserId::generate(),
            email,
            display_name,
            role: Role::Customer,
            created_at: now_to_the_millisecond(),
        };
        let record = IdempotencyRecord {
            scope: scope.clone(),
            key: key.key.clone(),
            request_hash: key.request_hash.clone(),
            response: serde_json::to_value(StoredUser::of(&user))
                .map_err(IdentityError::internal)?,
        };
        let hash = password::hash(password).await?;
        match self.users.insert_with_record(&user, &hash, &record).await {
            Ok(()) => {
                tracing::info!(user_id = %user.user_id, "customer registered");
                Ok(user)
            }
            Err(IdentityError::EmailTaken) => self
                .replayed(&scope, &key)
                .await?
                .ok_or(IdentityError::EmailTaken),
            Err(other) => Err(other),
        }
    }

    async fn replayed(
        &self,
        scope: &str,
        key: &RegisterKey,
    ) -> Result<Option<User>, IdentityError> {
        let Some(record) = self.users.idempotency(scope, &key.key).await? else {
            return Ok(None);
        };
        if record.request_hash != key.request_hash {
            return Err(IdentityError::IdempotencyKeyReused);
        }
        let stored: StoredUser =
            serde_json::from_value(record.response).map_err(IdentityError::internal)?;
        stored.into_user().map(Some)
    }

    /// Creates a user with any role (operators, via `ticketing users add`).
    /// Inputs arrive validated, so the caller can report every bad field at
    /// once; [`IdentityError::EmailTaken`] if the email is registered.
    pub async fn add_user(
        &self,
        email: Email,
        password: Password,
        display_name: DisplayName,
        role: Role,
    ) -> Result<User, IdentityError> {
        let user = User {
            user_id: UserId::generate(),
            email,
            display_name,
            role,
            created_at: now_to_the_millisecond(),
        };
        let hash = password::hash(password).await?;
        self.users.insert(&user, &hash).await?;
        tracing::info!(user_id = %user.user_id, role = %user.role, "user added");
        Ok(user)
    }

    /// Exchanges credentials for a token. Takes raw strings on purpose: any
    /// credential that cannot log in — malformed, unknown or wrong — is the
    /// same [`IdentityError::InvalidCredentials`], so the answer does not
    /// reveal which emails are registered or what the rules are.
    pub async fn login(&self, email: &str, password: &str) -> Result<AccessToken, IdentityError> {
        self.login_from(email, password, None).await
    }

    /// [`Identity::login`] from the peer address `peer`: failed logins are
    /// throttled per email and per peer (`throttle.rs`), and a throttled
    /// login is refused before any password work.
    pub async fn login_from(
        &self,
        email: &str,
        password: &str,
        peer: Option<IpAddr>,
    ) -> Result<AccessToken, IdentityError> {
        self.throttle
            .admit(email, peer, Instant::now())
            .map_err(IdentityError::Throttled)?;
        let result = self.check_password(email, password).await;
        match &result {
            Ok(_) => self.throttle.succeeded(email, peer),
            // Counted since its admission.
            Err(IdentityError::InvalidCredentials | IdentityError::AccountDisabled) => {}
            Err(_) => self.throttle.unchecked(email, peer),
        }
        result
    }

    async fn check_password(
        &self,
        email: &str,
        password: &str,
    ) -> Result<AccessToken, IdentityError> {
        let (Ok(email), Ok(password)) = (Email::parse(email), Password::parse(password)) else {
            return Err(IdentityError::InvalidCredentials);
        };
        let Some(stored) = self.users.find_by_email(&email).await? else {
            // Spend the time a verification would, so response latency does
            // not reveal that the email is unknown.
            password::hash(password).await?;
            return Err(IdentityError::InvalidCredentials);
        };
        if !password::verify(password, stored.password_hash).await? {
            return Err(IdentityError::InvalidCredentials);
        }
        // Only to the one who knows the password: the account exists.
        if stored.standing.disabled {
            return Err(IdentityError::AccountDisabled);
        }
        self.tokens
            .issue(&stored.user, stored.standing.generation, Utc::now())
    }

    /// Checks a bearer token's signature and expiry and returns who it
    /// speaks for, without asking whether the account still stands behind
    /// it; [`Identity::authorize`] does both.
    pub fn verify(&self, token: &str) -> Result<Claims, IdentityError> {
        self.tokens.verify(token)
    }

    /// [`Identity::verify`], then the account's standing: a token of a
    /// disabled or deleted account, or one issued before a role change or a
    /// password reset, is [`IdentityError::TokenRevoked`] (within
    /// [`STANDING_TTL`] of a change made through another process).
    pub async fn authorize(&self, token: &str) -> Result<Claims, IdentityError> {
        let claims = self.tokens.verify(token)?;
        let now = Instant::now();
        let standing = match self.standings.get(&claims.user_id, now) {
            Some(standing) => standing,
            None => {
                let standing = self.users.standing(&claims.user_id).await?;
                self.standings.put(&claims.user_id, standing, now);
                standing
            }
        };
        match standing {
            Some(standing) if !standing.disabled && standing.generation == claims.generation => {
                Ok(claims)
            }
            _ => Err(IdentityError::TokenRevoked),
        }
    }
}

/// Now, at the resolution the user store keeps (milliseconds), so a user
/// answered when created equals the same user read back or replayed.
fn now_to_the_millisecond() -> chrono::DateTime<Utc> {
    let now = Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// A registered user as its idempotency record keeps it.
#[derive(Serialize, Deserialize)]
struct StoredUser {
    user_id: String,
    email: String,
    display_name: String,
    role: String,
    created_at_ms: i64,
}

impl StoredUser {
    fn of(user: &User) -> Self {
        Self {
            user_id: user.user_id.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            display_name: user.display_name.as_str().to_owned(),
            role: user.role.as_str().to_owned(),
            created_at_ms: user.created_at.timestamp_millis(),
        }
    }

    fn into_user(self) -> Result<User, IdentityError> {
        Ok(User {
            user_id: UserId::parse(&self.user_id).map_err(IdentityError::internal)?,
            email: Email::parse(&self.email).map_err(IdentityError::internal)?,
            display_name: DisplayName::parse(&self.display_name)
                .map_err(IdentityError::internal)?,
            role: self.role.parse().map_err(IdentityError::internal)?,
            created_at: chrono::DateTime::from_timestamp_millis(self.created_at_ms)
                .ok_or_else(|| IdentityError::internal("created_at out of range"))?,
        })
    }
}
