//! `/shows`: the published shows, one show, its seat map now.

use axum::extract::{Path, State};
use axum::Json;
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::catalog_service_server::CatalogService;
use ticketing_proto::v1::inventory_service_server::InventoryService;

use crate::extract::{Params, ReadToken};
use crate::model::{timestamp, SeatMap, Show, ShowFilter, ShowPage};
use crate::{Problem, Services};

/// Lists the published shows that have not started, soonest first, a page
/// at a time.
#[utoipa::path(get, path = "/shows", tag = "shows",
    params(ShowFilter),
    responses((status = 200, description = "A page of published shows", body = ShowPage)))]
pub async fn list_shows(
    State(services): State<Services>,
    token: ReadToken,
    Params(filter): Params<ShowFilter>,
) -> Result<Json<ShowPage>, Problem> {
    let request = token.request(pb::ListShowsRequest {
        page_size: filter.page_size.unwrap_or_default(),
        page_token: filter.page_token.unwrap_or_default(),
        status: pb::ShowStatus::Published as i32,
        venue: filter.venue.unwrap_or_default(),
        starts_after: filter.starts_after.map(timestamp),
        starts_before: filter.starts_before.map(timestamp),
        min_consistency_token: String::new(),
    });
    let reply = CatalogService::list_shows(&services.catalog, request)
        .await?
        .into_inner();
    Ok(Json(ShowPage {
        shows: reply.shows.into_iter().map(Show::from).collect(),
        next_page_token: reply.next_page_token,
    }))
}

/// One show.
#[utoipa::path(get, path = "/shows/{show_id}", tag = "shows",
    params(("show_id" = String, Path, description = "The show's id")),
    responses(
        (status = 200, description = "The show", body = Show),
        (status = 404, description = "No such show", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_show(
    State(services): State<Services>,
    token: ReadToken,
    Path(show_id): Path<String>,
) -> Result<Json<Show>, Problem> {
    let request = token.request(pb::GetShowRequest {
        show_id,
        min_consistency_token: String::new(),
    });
    let show = CatalogService::get_show(&services.catalog, request).await?;
    Ok(Json(show.into_inner().into()))
}

/// The show's seat map now: every seat with its section, row, price and
/// status.
#[utoipa::path(get, path = "/shows/{show_id}/seatmap", tag = "shows",
    params(("show_id" = String, Path, description = "The show's id")),
    responses(
        (status = 200, description = "The seat map", body = SeatMap),
        (status = 404, description = "No such show", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_seat_map(
    State(services): State<Services>,
    token: ReadToken,
    Path(show_id): Path<String>,
) -> Result<Json<SeatMap>, Problem> {
    let request = token.request(pb::GetSeatMapRequest {
        show_id,
        as_of: None,
        min_consistency_token: String::new(),
    });
    let map = InventoryService::get_seat_map(&services.inventory, request).await?;
    Ok(Json(map.into_inner().into()))
}
