//! `AppError` → `tonic::Status`: codes and `google.rpc` details as
//! design.md §7 specifies, and nothing internal in client-facing messages.

use ticketing_gateway::{AppError, ERROR_DOMAIN};
use ticketing_identity::IdentityError;
use tonic::{Code, Status};
use tonic_types::StatusExt;

#[test]
fn invalid_argument_carries_field_violations() {
    let status = Status::from(AppError::invalid("seat_labels[1]", "unknown seat"));
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad_request = status.get_details_bad_request().expect("BadRequest");
    assert_eq!(bad_request.field_violations.len(), 1);
    assert_eq!(bad_request.field_violations[0].field, "seat_labels[1]");
    assert_eq!(bad_request.field_violations[0].description, "unknown seat");
}

#[test]
fn failed_precondition_carries_error_info() {
    let status = Status::from(AppError::failed_precondition(
        "SEAT_UNAVAILABLE",
        "seat A1 is held by someone else",
    ));
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "seat A1 is held by someone else");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "SEAT_UNAVAILABLE");
    assert_eq!(info.domain, ERROR_DOMAIN);
}

#[test]
fn internal_does_not_echo_its_cause() {
    let cause = std::io::Error::other("password=hunter2 at db-7.internal");
    let status = Status::from(AppError::internal(cause));
    assert_eq!(status.code(), Code::Internal);
    assert!(!status.message().contains("hunter2"));
    assert!(!status.message().contains("db-7"));
}

#[test]
fn unavailable_says_retry_later() {
    let status = Status::from(AppError::Unavailable("event store unavailable".into()));
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("retry later"));
    assert!(status.get_details_retry_info().is_some());
}

#[test]
fn simple_codes_map_one_to_one() {
    let cases = [
        (AppError::NotFound("show s_1".into()), Code::NotFound),
        (AppError::AlreadyExists("email".into()), Code::AlreadyExists),
        (
            AppError::Unauthenticated("no token".into()),
            Code::Unauthenticated,
        ),
        (
            AppError::PermissionDenied("organizer only".into()),
            Code::PermissionDenied,
        ),
    ];
    for (err, code) in cases {
        assert_eq!(Status::from(err).code(), code);
    }
}

#[test]
fn identity_errors_map_to_their_codes() {
    let cases = [
        (IdentityError::EmailTaken, Code::AlreadyExists),
        (IdentityError::InvalidCredentials, Code::Unauthenticated),
        (IdentityError::TokenExpired, Code::Unauthenticated),
        (IdentityError::InvalidToken, Code::Unauthenticated),
        (IdentityError::Busy, Code::ResourceExhausted),
        (
            IdentityError::Unavailable("connection refused".into()),
            Code::Unavailable,
        ),
        (
            IdentityError::Internal("corrupt row".into()),
            Code::Internal,
        ),
    ];
    for (err, code) in cases {
        let status = Status::from(AppError::from(err));
        assert_eq!(status.code(), code);
        assert!(!status.message().contains("corrupt row"));
        assert!(!status.message().contains("connection refused"));
    }
}

/// A shed call says when to come back.
#[test]
fn resource_exhausted_carries_a_retry_delay() {
    use tonic_types::StatusExt;
    let status = Status::from(AppError::from(IdentityError::Busy));
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.get_details_retry_info().is_some(), "{status:?}");
}
