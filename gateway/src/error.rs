//! [`AppError`], the gateway's one error type, and the single place where
//! errors become gRPC statuses (design.md §7).
//!
//! Handlers return `Result<_, AppError>` and convert with `?`; the
//! `From<AppError> for tonic::Status` below attaches `google.rpc` rich
//! details: BadRequest field violations for INVALID_ARGUMENT, ErrorInfo for
//! FAILED_PRECONDITION, RetryInfo for UNAVAILABLE. INTERNAL is logged with
//! its cause chain and answered with a generic message, so no internals
//! leak to clients.

use std::collections::HashMap;
use std::error::Error;
use std::time::Duration;

use ticketing_identity::{IdentityError, ValidationError};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

type BoxError = Box<dyn Error + Send + Sync>;

/// The `ErrorInfo.domain` of every reason this API emits.
pub const ERROR_DOMAIN: &str = "ticketing.v1";

/// Most field violations one status lists; a last one says how many more
/// there were.
pub const MAX_VIOLATIONS: usize = 50;
/// Bytes of field names and descriptions one status carries at most, so
/// `grpc-status-details-bin` (base64) stays well under 8 KiB, which clients
/// accept in a trailer.
const VIOLATION_BUDGET: usize = 4096;
/// Longest field name or description kept, in bytes.
const MAX_VIOLATION_TEXT: usize = 120;
/// Violations spelled out in the status message.
const VIOLATIONS_IN_MESSAGE: usize = 5;

/// How long a client should wait before retrying an UNAVAILABLE call.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// One bad request field, named as in the proto (`email`, `seat_labels[2]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("not found: {0}")]
    NotFound(String),
    /// `reason` is a SCREAMING_SNAKE_CASE code from design.md §7, e.g.
    /// `SEAT_UNAVAILABLE`.
    #[error("failed precondition {reason}: {message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A dependency is down; the message is shown to clients, so it names
    /// the dependency, not the failure.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A query's read model had not applied the caller's write within the
    /// wait (`consistency.rs`): UNAVAILABLE `READ_MODEL_BEHIND`, never
    /// stale data.
    #[error("read model behind: {0}")]
    ReadModelBehind(String),
    /// The server sheds the call to bound its own work; the message says
    /// which limit.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The caller made too many failed attempts lately; `retry_after`
    /// says when it may try again. `reason` names the limit.
    #[error("throttled {reason}: {message}")]
    Throttled {
        reason: &'static str,
        message: String,
        retry_after: Duration,
    },
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

impl AppError {
    /// A single field violation.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// The field violations of several checks as one INVALID_ARGUMENT, so
    /// the client learns every mistake at once; an error that is not a
    /// violation wins as it is.
    pub fn merge(errors: impl IntoIterator<Item = Option<AppError>>) -> Self {
        let mut violations = Vec::new();
        for error in errors.into_iter().flatten() {
            match error {
                AppError::InvalidArgument(more) => violations.extend(more),
                other => return other,
            }
        }
        AppError::InvalidArgument(violations)
    }

    pub fn failed_precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::FailedPrecondition {
            reason,
            message: message.into(),
        }
    }

    pub fn internal(err: impl Into<BoxError>) -> Self {
        Self::Internal(err.into())
    }
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `text` cut to at most `max` bytes, at a character boundary, with `…`
/// marking the cut.
pub fn clip(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The violations a status carries: the first ones, each clipped, within
/// [`MAX_VIOLATIONS`] and the byte budget, then one that counts the rest.
/// A plan of 100,000 bad seats still answers with a status clients read.
fn bounded(violations: Vec<FieldViolation>) -> Vec<FieldViolation> {
    let total = violations.len();
    let mut budget = VIOLATION_BUDGET;
    let mut shown = Vec::new();
    for v in violations {
        let v = FieldViolation {
            field: clip(v.field, MAX_VIOLATION_TEXT),
            description: clip(v.description, MAX_VIOLATION_TEXT),
        };
        let size = v.field.len() + v.description.len();
        if shown.len() == MAX_VIOLATIONS || size > budget {
            break;
        }
        budget -= size;
        shown.push(v);
    }
    if shown.len() < total {
        shown.push(FieldViolation {
            field: "*".to_owned(),
            description: format!(
                "{} more invalid fields are not listed ({total} in all)",
                total - shown.len()
            ),
        });
    }
    shown
}

/// `err` and each of its sources, outermost first, joined with `: `.
pub(crate) fn cause_chain(err: &(dyn Error + 'static)) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

impl From<AppError> for Status {
    fn from(err: AppError) -> Self {
        match err {
            AppError::InvalidArgument(violations) => {
                let total = violations.len();
                let violations = bounded(violations);
                let mut message = format!(
                    "invalid argument: {}",
                    describe(&violations[..violations.len().min(VIOLATIONS_IN_MESSAGE)])
                );
                if total > VIOLATIONS_IN_MESSAGE {
                    message.push_str(&format!("; {total} invalid fields in all"));
                }
                let details = ErrorDetails::with_bad_request(
                    violations
                        .into_iter()
                        .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                        .collect::<Vec<_>>(),
                );
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            AppError::NotFound(message) => Status::not_found(message),
            AppError::FailedPrecondition { reason, message } => {
                let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::new());
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            AppError::AlreadyExists(message) => Status::already_exists(message),
            AppError::Unauthenticated(message) => Status::unauthenticated(message),
            AppError::PermissionDenied(message) => Status::permission_denied(message),
            AppError::Unavailable(message) => Status::with_error_details(
                Code::Unavailable,
                format!("{message}; retry later"),
                ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
            ),
            AppError::ReadModelBehind(message) => {
                let mut details = ErrorDetails::with_retry_info(Some(RETRY_DELAY));
                details.set_error_info("READ_MODEL_BEHIND", ERROR_DOMAIN, HashMap::new());
                Status::with_error_details(Code::Unavailable, message, details)
            }
            AppError::ResourceExhausted(message) => Status::with_error_details(
                Code::ResourceExhausted,
                format!("{message}; retry later"),
                ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
            ),
            AppError::Throttled {
                reason,
                message,
                retry_after,
            } => {
                let mut details = ErrorDetails::with_retry_info(Some(retry_after));
                details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
                Status::with_error_details(Code::ResourceExhausted, message, details)
            }
            AppError::Internal(cause) => {
                tracing::error!(error = %cause_chain(cause.as_ref()), "internal error");
                Status::internal("internal error")
            }
        }
    }
}

impl From<ValidationError> for AppError {
    fn from(err: ValidationError) -> Self {
        AppError::invalid(err.field, err.description)
    }
}

impl From<IdentityError> for AppError {
    fn from(err: IdentityError) -> Self {
        match err {
            IdentityError::EmailTaken => {
                AppError::AlreadyExists("email is already registered".to_owned())
            }
            IdentityError::InvalidCredentials => {
                AppError::Unauthenticated("invalid email or password".to_owned())
            }
            IdentityError::IdempotencyKeyReused => AppError::failed_precondition(
                "IDEMPOTENCY_KEY_REUSED",
                "this idempotency key was already used for a different request",
            ),
            IdentityError::TokenExpired => {
                AppError::Unauthenticated("access token expired; log in again".to_owned())
            }
            IdentityError::InvalidToken => {
                AppError::Unauthenticated("access token is invalid".to_owned())
            }
            IdentityError::TokenRevoked => AppError::Unauthenticated(
                "access token revoked (the account was disabled or changed); log in again"
                    .to_owned(),
            ),
            IdentityError::AccountDisabled => AppError::PermissionDenied(
                "this account is disabled; ask an administrator".to_owned(),
            ),
            IdentityError::UnknownAccount => AppError::NotFound("user not found".to_owned()),
            IdentityError::OwnAccount => AppError::failed_precondition(
                "OWN_ACCOUNT",
                "admins cannot disable or demote their own account",
            ),
            IdentityError::Unavailable(_) => {
                // The client sees only which dependency is down; the cause is
                // for operators.
                tracing::warn!(error = %cause_chain(&err), "user store unavailable");
                AppError::Unavailable("user store unavailable".to_owned())
            }
            IdentityError::Busy => {
                AppError::ResourceExhausted("password hashing is at capacity".to_owned())
            }
            IdentityError::Throttled(wait) => AppError::Throttled {
                reason: "LOGIN_THROTTLED",
                message: format!(
                    "too many failed logins for this email or from this address; retry in {} s",
                    wait.as_secs().max(1)
                ),
                // Whole seconds, rounded up: a client that waits this long
                // is let in.
                retry_after: Duration::from_secs(
                    wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                ),
            },
            IdentityError::Internal(_) => AppError::Internal(Box::new(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations(n: usize, text: &str) -> Vec<FieldViolation> {
        (0..n)
            .map(|i| FieldViolation {
                field: format!("sections[0].rows[0].seats[{i}].label"),
                description: text.to_owned(),
            })
            .collect()
    }

    #[test]
    fn a_few_violations_are_all_listed() {
        let shown = bounded(violations(3, "not a seat label"));
        assert_eq!(shown.len(), 3);
        assert_eq!(shown, violations(3, "not a seat label"));
    }

    #[test]
    fn many_violations_are_capped_with_a_count_of_the_rest() {
        let shown = bounded(violations(100_000, "not a seat label"));
        assert_eq!(shown.len(), MAX_VIOLATIONS + 1);
        let last = shown.last().unwrap();
        assert_eq!(last.field, "*");
        assert_eq!(
            last.description,
            "99950 more invalid fields are not listed (100000 in all)"
        );
    }

    #[test]
    fn long_texts_are_clipped_and_the_bytes_budgeted() {
        let shown = bounded(violations(200, &"é".repeat(10_000)));
        let bytes: usize = shown
            .iter()
            .map(|v| v.field.len() + v.description.len())
            .sum();
        assert!(bytes <= VIOLATION_BUDGET + 200, "{bytes} bytes");
        assert!(
            shown.len() < MAX_VIOLATIONS,
            "the budget, not the count, ended it"
        );
        assert!(shown[0].description.ends_with('…'));
        let status = Status::from(AppError::InvalidArgument(violations(
            200,
            &"x".repeat(10_000),
        )));
        let details = status.details().len();
        assert!(details * 4 / 3 < 8 * 1024, "{details} bytes of details");
        assert!(status.message().len() < 2_000, "{}", status.message().len());
    }
}
