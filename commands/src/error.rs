//! The one error type of the command layer; the gateway maps it to gRPC.

use ticketing_aggregates::{ReservationError, SeatLabel, ShowError, ValidationError};
use ticketing_event_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("invalid input")]
    Invalid(Vec<ValidationError>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("seats not available: {0:?}")]
    SeatUnavailable(Vec<SeatLabel>),
    /// A rule of the domain refused the command in the current state.
    #[error("{message}")]
    Precondition {
        reason: &'static str,
        message: String,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    #[error("event store unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl CommandError {
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::Unavailable(error),
            other => Self::internal(other),
        }
    }
}

impl From<serde_json::Error> for CommandError {
    fn from(error: serde_json::Error) -> Self {
        Self::internal(error)
    }
}

impl From<ShowError> for CommandError {
    fn from(error: ShowError) -> Self {
        match error {
            ShowError::NotFound => Self::NotFound("show"),
            ShowError::NotOwner => Self::Forbidden(error.to_string()),
            ShowError::StartsInThePast => Self::Invalid(vec![ValidationError::new(
                "starts_at",
                "the show must start in the future",
            )]),
            ShowError::AlreadyScheduled => Self::Precondition {
                reason: "SHOW_EXISTS",
                message: error.to_string(),
            },
            ShowError::Cancelled => Self::Precondition {
                reason: "SHOW_CANCELLED",
                message: error.to_string(),
            },
        }
    }
}

impl From<ReservationError> for CommandError {
    fn from(error: ReservationError) -> Self {
        let precondition = |reason| Self::Precondition {
            reason,
            message: error.to_string(),
        };
        match &error {
            ReservationError::NotFound => Self::NotFound("reservation"),
            ReservationError::ShowNotFound => Self::NotFound("show"),
            ReservationError::NotOwner => Self::Forbidden(error.to_string()),
            ReservationError::ShowNotOnSale => precondition("SHOW_NOT_ON_SALE"),
            ReservationError::ShowCancelled => precondition("SHOW_CANCELLED"),
            ReservationError::ShowStarted => precondition("SHOW_STARTED"),
            ReservationError::AlreadyConverted => precondition("RESERVATION_CONVERTED"),
            ReservationError::NotDue => precondition("RESERVATION_NOT_DUE"),
            ReservationError::Expired => precondition("RESERVATION_EXPIRED"),
            ReservationError::Released => precondition("RESERVATION_RELEASED"),
            ReservationError::AlreadyExists => precondition("RESERVATION_EXISTS"),
            ReservationError::SeatCount { .. } | ReservationError::DuplicateSeat(_) => {
                Self::Invalid(vec![ValidationError::new("seat_labels", error.to_string())])
            }
            ReservationError::UnknownSeats(labels) => Self::Invalid(
                labels
                    .iter()
                    .map(|l| {
                        ValidationError::new(
                            "seat_labels",
                            format!("seat {l} is not in the show's plan"),
                        )
                    })
                    .collect(),
            ),
        }
    }
}
