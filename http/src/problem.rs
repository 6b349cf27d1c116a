//! [`Problem`]: every error of the HTTP face as an RFC 9457
//! `application/problem+json` body, and the one mapping from the gRPC
//! services' `tonic::Status` (with its `google.rpc` details) to HTTP.
//!
//! The status of the answer follows the gRPC code; FAILED_PRECONDITION is
//! 409 Conflict (SEAT_UNAVAILABLE is the seed's 409). `reason` carries the
//! ErrorInfo reason of design.md §7 where the call gave one, else the gRPC
//! code's name (`NOT_FOUND`, `INVALID_ARGUMENT`, …), so clients branch on one
//! field. Field violations pass through as the status carries them: the
//! gateway already lists at most [`MAX_VIOLATIONS`] within a byte budget
//! plus one counting the rest, and its message says how many there were
//! (`gateway/src/error.rs`); a status from elsewhere is cut to as many.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use ticketing_gateway::{clip, MAX_VIOLATIONS};
use tonic::Code;
use tonic_types::StatusExt;
use utoipa::ToSchema;

/// Longest `detail` an answer carries, in bytes.
const MAX_DETAIL: usize = 1024;
/// Seconds a client should wait before retrying a 429 or 503.
const RETRY_AFTER_SECS: u64 = 1;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem: what went wrong, for people (`title`, `detail`) and
/// for programs (`status`, `reason`, `violations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:ticketing:problem:<reason>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem (the HTTP reason phrase).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this case.
    pub detail: String,
    /// The machine-readable reason: an ErrorInfo reason of the gRPC
    /// contract (`SEAT_UNAVAILABLE`, `RESERVATION_EXPIRED`, …) or the
    /// gRPC code's name.
    pub reason: String,
    /// The request fields that were invalid, for 400 and 422.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// Seconds to wait before retrying (the `Retry-After` header).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

/// One invalid request field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Violation {
    /// The field, e.g. `seat_labels[2]`.
    pub field: String,
    pub description: String,
}

impl Problem {
    pub fn new(status: StatusCode, reason: &str, detail: impl Into<String>) -> Self {
        let detail = clip(detail.into(), MAX_DETAIL);
        Self {
            kind: format!("urn:ticketing:problem:{}", reason.to_ascii_lowercase()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            reason: reason.to_owned(),
            violations: Vec::new(),
            retry_after: None,
        }
    }

    /// 400 with one field violation.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        let description = description.into();
        let mut problem = Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            format!("invalid argument: {field}: {description}"),
        );
        problem.violations.push(Violation {
            field: field.to_owned(),
            description,
        });
        problem
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", detail)
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The HTTP status a gRPC code answers with.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable | Code::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// SCREAMING_SNAKE_CASE name of a gRPC code, as in the gRPC spec.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl From<tonic::Status> for Problem {
    fn from(status: tonic::Status) -> Self {
        let details = status.get_error_details();
        let reason = details
            .error_info()
            .map(|info| info.reason.clone())
            .filter(|reason| !reason.is_empty())
            .unwrap_or_else(|| code_name(status.code()).to_owned());
        let mut problem = Problem::new(http_status(status.code()), &reason, status.message());
        problem.retry_after = details
            .retry_info()
            .and_then(|info| info.retry_delay)
            .map(|delay| delay.as_secs() + u64::from(delay.subsec_nanos() > 0));
        if let Some(bad) = details.bad_request() {
            // The gateway's list and its closing count, kept whole.
            problem.violations = bad
                .field_violations
                .iter()
                .take(MAX_VIOLATIONS + 1)
                .map(|v| Violation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect();
        }
        problem
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            let after = self.retry_after.unwrap_or(RETRY_AFTER_SECS).max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(after));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tonic_types::{ErrorDetails, FieldViolation};

    #[test]
    fn a_taken_seat_is_a_409_with_its_reason() {
        let details =
            ErrorDetails::with_error_info("SEAT_UNAVAILABLE", "ticketing.v1", HashMap::new());
        let status = tonic::Status::with_error_details(
            Code::FailedPrecondition,
            "seat A-1 is held",
            details,
        );
        let problem = Problem::from(status);
        assert_eq!(problem.status, 409);
        assert_eq!(problem.reason, "SEAT_UNAVAILABLE");
        assert_eq!(problem.kind, "urn:ticketing:problem:seat_unavailable");
        assert_eq!(problem.detail, "seat A-1 is held");
    }

    #[test]
    fn a_code_without_info_is_named_by_its_code() {
        let problem = Problem::from(tonic::Status::not_found("order x not found"));
        assert_eq!(
            (problem.status, problem.reason.as_str()),
            (404, "NOT_FOUND")
        );
        let problem = Problem::from(tonic::Status::unauthenticated("no token"));
        assert_eq!(
            (problem.status, problem.reason.as_str()),
            (401, "UNAUTHENTICATED")
        );
    }

    #[test]
    fn the_gateways_bounded_violations_pass_through_with_their_count() {
        let many = (0..5_000)
            .map(|i| ticketing_gateway::FieldViolation {
                field: format!("seats[{i}]"),
                description: "bad label".to_owned(),
            })
            .collect();
        let status = tonic::Status::from(ticketing_gateway::AppError::InvalidArgument(many));
        let problem = Problem::from(status);
        assert_eq!(problem.status, 400);
        assert_eq!(problem.violations.len(), MAX_VIOLATIONS + 1);
        let last = problem.violations.last().unwrap();
        assert_eq!(last.field, "*");
        assert!(
            last.description.contains("5000 in all"),
            "{}",
            last.description
        );
        assert!(
            problem.detail.contains("5000 invalid fields in all"),
            "{}",
            problem.detail
        );
        let body = serde_json::to_vec(&problem).unwrap();
        assert!(body.len() < 16 * 1024, "{} bytes", body.len());
    }

    #[test]
    fn an_unbounded_status_is_still_cut() {
        let many: Vec<_> = (0..5_000)
            .map(|i| FieldViolation::new(format!("seats[{i}]"), "bad label"))
            .collect();
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "x".repeat(300_000),
            ErrorDetails::with_bad_request(many),
        );
        let problem = Problem::from(status);
        assert_eq!(problem.violations.len(), MAX_VIOLATIONS + 1);
        let body = serde_json::to_vec(&problem).unwrap();
        assert!(body.len() < 16 * 1024, "{} bytes", body.len());
    }

    #[test]
    fn a_long_detail_is_cut_at_a_char_boundary() {
        let problem = Problem::new(StatusCode::CONFLICT, "X", "é".repeat(5_000));
        assert!(problem.detail.len() <= MAX_DETAIL + '…'.len_utf8());
        assert!(problem.detail.ends_with('…'));
    }

    #[test]
    fn retryable_answers_say_when_to_retry() {
        let response = Problem::from(tonic::Status::unavailable("db down")).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
