//! The `/api/v1` routes, one module per gRPC service, each handler a
//! translation to one gRPC method (see the crate doc). The paths, bodies and
//! answers of each are declared once, in its `#[utoipa::path]`, which both
//! routes it and documents it.

mod auth;
mod orders;
mod reservations;
mod seat_map_events;
mod shows;
mod tickets;

use axum::http::{Method, StatusCode, Uri};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{Problem, Services};

/// Every route of the API, with its OpenAPI operation.
pub fn api() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(shows::list_shows))
        .routes(routes!(shows::get_show))
        .routes(routes!(shows::get_seat_map))
        .routes(routes!(seat_map_events::watch_seat_map))
        .routes(routes!(reservations::reserve_seats))
        .routes(routes!(reservations::release_reservation))
        .routes(routes!(orders::add_to_cart))
        .routes(routes!(orders::remove_from_cart))
        .routes(routes!(orders::checkout))
        .routes(routes!(orders::list_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(tickets::list_tickets))
        .routes(routes!(tickets::get_ticket_pdf))
}

/// 404 for a path the API does not have.
pub async fn no_such_path(uri: Uri) -> Problem {
    Problem::not_found(format!("no such path: {}", uri.path()))
}

/// 405 for a method a path does not take.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{} does not take {method}", uri.path()),
    )
}
