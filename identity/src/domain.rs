//! Validated value types of the identity context: user ids, emails,
//! passwords, display names and roles, plus the [`User`] they make up.
//!
//! Every constructor validates, so a value of one of these types is always
//! well-formed; a rejected input comes back as a [`ValidationError`] naming
//! the offending field, which the gateway turns into a BadRequest field
//! violation.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ulid::Ulid;

/// An input that failed validation: which field and why, in words a client
/// can show to a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {description}")]
pub struct ValidationError {
    pub field: &'static str,
    pub description: String,
}

impl ValidationError {
    pub fn new(field: &'static str, description: impl Into<String>) -> Self {
        Self {
            field,
            description: description.into(),
        }
    }
}

/// A user's id: `u_` followed by a ULID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    const PREFIX: &'static str = "u_";

    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, Ulid::new()))
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ulid = raw
            .strip_prefix(Self::PREFIX)
            .and_then(|rest| Ulid::from_string(rest).ok())
            .ok_or_else(|| ValidationError::new("user_id", "must be `u_` followed by a ULID"))?;
        // Canonical (upper-case) form, so one user has exactly one spelling.
        Ok(Self(format!("{}{ulid}", Self::PREFIX)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A normalised email address: trimmed and lower-cased, so uniqueness is
/// case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The longest address SMTP can carry (RFC 5321 path limit minus `<>`).
    const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = |why: &str| ValidationError::new("email", why);
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if email.chars().count() > Self::MAX_LEN {
            return Err(invalid("must be at most 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("must not contain spaces or control characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid("must contain an '@'"));
        };
        if domain.contains('@') {
            return Err(invalid("must contain exactly one '@'"));
        }
        if local.is_empty() {
            return Err(invalid("must have a part before the '@'"));
        }
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return Err(invalid("must have a domain like example.com after the '@'"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plaintext password on its way to be hashed or verified. Never printed:
/// `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    const MIN_CHARS: usize = 8;
    const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(ValidationError::new(
                "password",
                format!(
                    "must be {} to {} characters",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The plaintext, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The name shown for a user: 1 to 100 characters after trimming, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = |why: &str| ValidationError::new("display_name", why);
        let name = raw.trim();
        if name.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(invalid("must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user may do (design.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Customer,
    Organizer,
    Admin,
    /// Reads history (seat maps as they were), changes nothing.
    Analyst,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Organizer => "organizer",
            Role::Admin => "admin",
            Role::Analyst => "analyst",
        }
    }
}

impl FromStr for Role {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "customer" => Ok(Role::Customer),
            "organizer" => Ok(Role::Organizer),
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            _ => Err(ValidationError::new(
                "role",
                "must be one of customer, organizer, admin, analyst",
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered user, without credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}
