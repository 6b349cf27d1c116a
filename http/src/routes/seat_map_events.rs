//! `/shows/{id}/seatmap/events`: a show's seat map as Server-Sent Events,
//! on the machinery of gRPC's `WatchSeatMap` (one feed reader per process,
//! a bounded buffer per client, see `gateway/src/watch.rs`).
//!
//! The stream opens with `event: snapshot` (the whole map), then one
//! `event: change` per seat change. Each carries the stream position as its
//! `id`, so a browser's `EventSource`, reconnecting with `Last-Event-ID`,
//! continues right after the last change it saw: nothing is lost and no
//! new snapshot is sent. `event: resync` means the client fell behind and
//! the stream ends; connect again without `Last-Event-ID`. A stream that
//! fails ends with `event: problem` carrying a problem body (not `error`,
//! which `EventSource` uses for its own connection errors).

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::inventory_service_server::InventoryService;
use ticketing_proto::v1::seat_map_update::Kind;

use crate::extract::Credentials;
use crate::model::{Resync, SeatChange, SeatMap, SeatMapSnapshot};
use crate::{Problem, Services};

/// How long a browser waits before reconnecting a dropped stream.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Streams the show's seat map: a snapshot, then every change.
#[utoipa::path(get, path = "/shows/{show_id}/seatmap/events", tag = "shows",
    params(
        ("show_id" = String, Path, description = "The show's id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event's id: no snapshot, every later change"),
    ),
    responses(
        (status = 200, description = "`text/event-stream` of `snapshot` (a SeatMapSnapshot), `change` (a SeatChange) and `resync` (a Resync) events", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such show", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many watches open on the server or from this address (TOO_MANY_WATCHES)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn watch_seat_map(
    State(services): State<Services>,
    credentials: Credentials,
    Path(show_id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let resume_after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .map_err(|_| Problem::invalid("Last-Event-ID", "must be an event id of this stream"))?
            .to_owned(),
        None => String::new(),
    };
    // The peer address counts against the per-address bound on watches.
    let request = credentials.request(pb::WatchSeatMapRequest {
        show_id,
        resume_after,
        min_consistency_token: String::new(),
    });
    let updates = InventoryService::watch_seat_map(&services.inventory, request)
        .await?
        .into_inner();
    let events = updates.filter_map(|update| async move {
        let event = match update {
            Ok(pb::SeatMapUpdate { kind: Some(kind) }) => event(kind),
            Ok(pb::SeatMapUpdate { kind: None }) => return None,
            Err(status) => json_event("problem", &Problem::from(status)),
        };
        Some(Ok(event))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn event(kind: Kind) -> Event {
    match kind {
        Kind::Snapshot(snapshot) => {
            let position = snapshot.position;
            let body = SeatMapSnapshot {
                seat_map: snapshot.seat_map.map(SeatMap::from).unwrap_or(SeatMap {
                    show_id: String::new(),
                    currency: String::new(),
                    seats: Vec::new(),
                }),
                position: position.clone(),
            };
            json_event("snapshot", &body).id(position).retry(RETRY)
        }
        Kind::Change(change) => {
            let position = change.position;
            let body = SeatChange {
                label: change.label,
                status: change.status.into(),
                position: position.clone(),
            };
            json_event("change", &body).id(position)
        }
        Kind::Resync(resync) => json_event(
            "resync",
            &Resync {
                reason: resync.reason,
            },
        ),
    }
}

fn json_event(name: &str, body: &impl serde::Serialize) -> Event {
    let data = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    Event::default().event(name).data(data)
}
