//! `/reservations`: hold seats (201, or 409 SEAT_UNAVAILABLE when one is
//! taken, the seed's contract) and release a hold.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::inventory_service_server::InventoryService;

use crate::extract::{token_header, Body, Credentials, TokenHeader};
use crate::model::{Reservation, ReserveSeatsRequest};
use crate::{Problem, Services};

/// Holds seats of a show for the caller until the reservation's deadline.
#[utoipa::path(post, path = "/reservations", tag = "reservations",
    request_body = ReserveSeatsRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body answer as before")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The seats are held", body = Reservation),
        (status = 409, description = "A seat is held or sold by someone else (reason SEAT_UNAVAILABLE), or the show is not on sale", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reserve_seats(
    State(services): State<Services>,
    credentials: Credentials,
    Body(body): Body<ReserveSeatsRequest>,
) -> Result<(StatusCode, TokenHeader, Json<Reservation>), Problem> {
    let request = credentials.request(pb::ReserveSeatsRequest::from(body));
    let reservation = InventoryService::reserve_seats(&services.inventory, request).await?;
    let token = token_header(&reservation);
    Ok((
        StatusCode::CREATED,
        token,
        Json(reservation.into_inner().into()),
    ))
}

/// Releases the caller's hold; its seats are available again.
#[utoipa::path(delete, path = "/reservations/{reservation_id}", tag = "reservations",
    params(
        ("reservation_id" = String, Path, description = "The reservation's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The released reservation", body = Reservation),
        (status = 404, description = "No such reservation of the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn release_reservation(
    State(services): State<Services>,
    credentials: Credentials,
    Path(reservation_id): Path<String>,
) -> Result<(TokenHeader, Json<Reservation>), Problem> {
    let request = credentials.request(pb::ReleaseReservationRequest { reservation_id });
    let reservation = InventoryService::release_reservation(&services.inventory, request).await?;
    Ok((
        token_header(&reservation),
        Json(reservation.into_inner().into()),
    ))
}
