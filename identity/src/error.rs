//! The one error type of the identity context.
//!
//! Storage failures are classified here, in the adapter layer: a unique
//! violation becomes [`IdentityError::EmailTaken`], a lost connection or a
//! restarting server [`IdentityError::Unavailable`] (the event store's one
//! classifier, `is_transient`), so callers never look at SQLSTATEs.

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("email already registered")]
    EmailTaken,
    /// Unknown email or wrong password; deliberately indistinguishable.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The idempotency key was already used for a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    #[error("access token expired")]
    TokenExpired,
    #[error("access token invalid")]
    InvalidToken,
    /// The account was disabled, or its role or password changed, after the
    /// token was issued.
    #[error("access token revoked")]
    TokenRevoked,
    /// Right password, but an operator disabled the account.
    #[error("account disabled")]
    AccountDisabled,
    /// No account with that id or email (operators' calls only: logins
    /// never say so).
    #[error("no such account")]
    UnknownAccount,
    /// An admin may not disable or demote their own account through the
    /// API, so the last admin cannot lock everyone out.
    #[error("admins cannot disable or demote their own account")]
    OwnAccount,
    /// Password hashing is at capacity (one per core) and the call waited
    /// too long for its turn: retry later.
    #[error("password hashing is at capacity")]
    Busy,
    /// Too many failed logins for this email or from this peer lately:
    /// retry after the duration.
    #[error("too many failed logins; retry in {} s", .0.as_secs().max(1))]
    Throttled(std::time::Duration),
    /// The database could not be reached, timed out or is restarting
    /// ([`ticketing_event_store::is_transient`]): retry later.
    #[error("user store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A bug or corrupt data: not the caller's fault, not retryable.
    #[error("identity internal error: {0}")]
    Internal(#[source] BoxError),
}

impl IdentityError {
    pub(crate) fn internal(err: impl Into<BoxError>) -> Self {
        Self::Internal(err.into())
    }
}

/// Postgres `unique_violation`, SQLite `SQLITE_CONSTRAINT_UNIQUE` and
/// `SQLITE_CONSTRAINT_PRIMARYKEY` (extended result codes).
const UNIQUE_VIOLATION_CODES: [&str; 3] = ["23505", "2067", "1555"];

impl IdentityError {
    /// Errors of the shared idempotency table; a duplicate key there is a
    /// concurrent twin of the same registration, as the email also is.
    pub(crate) fn from_store(err: ticketing_event_store::StoreError) -> Self {
        use ticketing_event_store::StoreError;
        match err {
            StoreError::Conflict => IdentityError::EmailTaken,
            StoreError::Unavailable(e) => IdentityError::Unavailable(e),
            StoreError::Other(e) => IdentityError::Internal(e),
        }
    }
}

impl From<sqlx::Error> for IdentityError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|code| UNIQUE_VIOLATION_CODES.contains(&code.as_ref())) =>
            {
                // The only unique columns are the email and a freshly
                // generated ULID, so a violation means the email is taken.
                IdentityError::EmailTaken
            }
            _ if ticketing_event_store::is_transient(&err) => {
                IdentityError::Unavailable(Box::new(err))
            }
            _ => IdentityError::Internal(Box::new(err)),
        }
    }
}
