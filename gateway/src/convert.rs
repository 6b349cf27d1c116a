//! Conversions at the edge: protobuf ↔ domain values, and the errors of the
//! inner layers into [`AppError`]. Nothing inward of the gateway sees a
//! protobuf type.

use chrono::{DateTime, Utc};
use ticketing_aggregates::{ReservationStatus, ShowStatus, UserRef};
use ticketing_commands::{CommandError, ReservationView, ShowView};
use ticketing_projections::{ProjectionError, SeatMapStatus, ShowRow};
use ticketing_proto::v1 as pb;

use crate::{AppError, Caller, FieldViolation};

impl From<CommandError> for AppError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Invalid(violations) => AppError::InvalidArgument(
                violations
                    .into_iter()
                    .map(|v| FieldViolation {
                        field: v.field,
                        description: v.description,
                    })
                    .collect(),
            ),
            CommandError::NotFound(what) => AppError::NotFound(format!("{what} not found")),
            CommandError::SeatUnavailable(labels) => {
                let labels: Vec<&str> = labels.iter().map(|l| l.as_str()).collect();
                AppError::failed_precondition(
                    "SEAT_UNAVAILABLE",
                    format!("seats held or sold by someone else: {}", labels.join(", ")),
                )
            }
            CommandError::Precondition { reason, message } => {
                AppError::failed_precondition(reason, message)
            }
            CommandError::Forbidden(message) => AppError::PermissionDenied(message),
            CommandError::IdempotencyKeyReused => AppError::failed_precondition(
                "IDEMPOTENCY_KEY_REUSED",
                "this idempotency key was already used for a different request",
            ),
            CommandError::Unavailable(source) => {
                tracing::warn!(error = %source, "event store unavailable");
                AppError::Unavailable("the event store is busy or unreachable; retry later".into())
            }
            CommandError::Internal(source) => AppError::Internal(source),
        }
    }
}

impl From<ProjectionError> for AppError {
    fn from(error: ProjectionError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(error = %error, "read model unavailable");
            AppError::Unavailable("the read model is busy or unreachable; retry later".into())
        } else {
            AppError::internal(error)
        }
    }
}

/// The caller as the domain knows users.
pub fn user_ref(caller: &Caller) -> Result<UserRef, AppError> {
    UserRef::parse("authorization", caller.user_id.as_str()).map_err(AppError::internal)
}

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

pub fn from_timestamp(
    field: &str,
    ts: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let Some(ts) = ts else { return Ok(None) };
    let at = u32::try_from(ts.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .ok_or_else(|| AppError::invalid(field, "not a valid timestamp"))?;
    Ok(Some(at))
}

pub fn show_status(status: ShowStatus) -> pb::ShowStatus {
    match status {
        ShowStatus::Unknown => pb::ShowStatus::Unspecified,
        ShowStatus::Scheduled => pb::ShowStatus::Scheduled,
        ShowStatus::Published => pb::ShowStatus::Published,
        ShowStatus::Cancelled => pb::ShowStatus::Cancelled,
    }
}

pub fn show_view(view: ShowView) -> pb::Show {
    pb::Show {
        consistency_token: String::new(),
        show_id: view.show_id.to_string(),
        title: view.title,
        venue: view.venue,
        starts_at: Some(timestamp(view.starts_at)),
        currency: view.currency,
        status: show_status(view.status) as i32,
        seat_count: view.seat_count,
        time_zone: view.time_zone,
    }
}

pub fn show_row(row: ShowRow) -> pb::Show {
    let status = match row.status.as_str() {
        "SCHEDULED" => pb::ShowStatus::Scheduled,
        "PUBLISHED" => pb::ShowStatus::Published,
        "CANCELLED" => pb::ShowStatus::Cancelled,
        _ => pb::ShowStatus::Unspecified,
    };
    pb::Show {
        consistency_token: String::new(),
        show_id: row.show_id,
        title: row.title,
        venue: row.venue,
        starts_at: Some(timestamp(row.starts_at)),
        currency: row.currency,
        status: status as i32,
        seat_count: u32::try_from(row.seat_count).unwrap_or(u32::MAX),
        time_zone: row.time_zone,
    }
}

pub fn reservation_view(view: ReservationView) -> pb::Reservation {
    let status = match view.status {
        ReservationStatus::Unknown => pb::ReservationStatus::Unspecified,
        ReservationStatus::Active => pb::ReservationStatus::Active,
        ReservationStatus::Released => pb::ReservationStatus::Released,
        ReservationStatus::Expired => pb::ReservationStatus::Expired,
        ReservationStatus::Converted => pb::ReservationStatus::Converted,
    };
    pb::Reservation {
        consistency_token: String::new(),
        reservation_id: view.reservation_id.to_string(),
        show_id: view.show_id.to_string(),
        seat_labels: view.seat_labels.into_iter().map(String::from).collect(),
        expires_at: Some(timestamp(view.expires_at)),
        status: status as i32,
    }
}

pub fn seat_status(status: SeatMapStatus) -> pb::SeatStatus {
    match status {
        SeatMapStatus::Available => pb::SeatStatus::Available,
        SeatMapStatus::Held => pb::SeatStatus::Held,
        SeatMapStatus::Sold => pb::SeatStatus::Sold,
    }
}

impl From<ticketing_aggregates::ValidationError> for AppError {
    fn from(error: ticketing_aggregates::ValidationError) -> Self {
        AppError::invalid(error.field, error.description)
    }
}

/// The idempotency key of a command call, scoped to its caller and RPC, with
/// the fingerprint of the request; `None` when the client sent no key.
pub fn command_key<T, M: prost::Message>(
    request: &tonic::Request<T>,
    caller: &Caller,
    method: &str,
    message: &M,
) -> Result<Option<ticketing_commands::IdempotencyKey>, AppError> {
    Ok(
        crate::idempotency_key(request)?.map(|key| ticketing_commands::IdempotencyKey {
            scope: format!("{}:{method}", caller.user_id.as_str()),
            key,
            request_hash: crate::request_hash(method, message),
        }),
    )
}
