//! Time travel: a show's seat map as it was at an instant, folded straight
//! from the log (events recorded up to then), not from the read model.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use ticketing_aggregates::{Seat, SeatEvent, Show, ShowEvent, ShowId};
use ticketing_event_store::Store;

use crate::{ProjectionError, SeatMapRow, SeatMapStatus};

/// The seat map of `show_id` at `at`; `None` if the show was not scheduled
/// yet. A hold whose deadline had passed at `at` reads as AVAILABLE, as in
/// the live seat map.
pub async fn seat_map_as_of(
    store: &Store,
    show_id: &ShowId,
    at: DateTime<Utc>,
) -> Result<Option<Vec<SeatMapRow>>, ProjectionError> {
    let show = store
        .history_of(
            <Show as cqrs_es::Aggregate>::TYPE,
            &[show_id.to_string()],
            at,
        )
        .await?;
    let plan =
        show.into_iter()
            .find_map(|e| match serde_json::from_value::<ShowEvent>(e.payload) {
                Ok(ShowEvent::ShowScheduled(details)) => Some(details.plan),
                _ => None,
            });
    let Some(plan) = plan else { return Ok(None) };
    // The plan names every seat stream: read those by id (index lookups),
    // never by scanning for a prefix.
    let prefix = format!("{show_id}/");
    let seat_ids: Vec<String> = plan
        .seats()
        .map(|(seat, _)| format!("{prefix}{}", seat.label))
        .collect();
    let mut states: HashMap<String, (SeatMapStatus, Option<DateTime<Utc>>)> = HashMap::new();
    for event in store
        .history_of(<Seat as cqrs_es::Aggregate>::TYPE, &seat_ids, at)
        .await?
    {
        let label = event.aggregate_id[prefix.len()..].to_owned();
        let state = match serde_json::from_value::<SeatEvent>(event.payload)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?
        {
            SeatEvent::SeatHeld { until, .. } | SeatEvent::SeatHoldExtended { until, .. } => {
                (SeatMapStatus::Held, Some(until))
            }
            SeatEvent::SeatReleased { .. } => (SeatMapStatus::Available, None),
            SeatEvent::SeatSold { .. } => (SeatMapStatus::Sold, None),
        };
        states.insert(label, state);
    }
    let rows = plan
        .seats()
        .map(|(seat, place)| {
            let (status, held_until) = match states.get(seat.label.as_str()) {
                Some((SeatMapStatus::Held, Some(until))) if *until <= at => {
                    (SeatMapStatus::Available, None)
                }
                Some((status, until)) => (*status, *until),
                None => (SeatMapStatus::Available, None),
            };
            SeatMapRow {
                label: seat.label.to_string(),
                section: place.section.to_owned(),
                row: place.row.to_owned(),
                price_minor: place.price_minor.get(),
                status,
                held_until,
            }
        })
        .collect();
    Ok(Some(rows))
}
