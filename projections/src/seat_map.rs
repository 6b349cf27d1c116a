//! The seat map read model: one row per seat of every show, with section,
//! row, price and status. Seeded from ShowScheduled's plan, moved by Seat
//! events.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AnyPool, Row};
use ticketing_aggregates::{Seat, SeatEvent, Show, ShowEvent};
use ticketing_event_store::{Backend, FeedEvent};

use crate::schema::{seat_map_table, SEAT_MAP};
use crate::{from_millis, millis, Projection, ProjectionError, ReadModel, Target};

/// Rows per multi-row INSERT when a plan is seeded.
const SEED_CHUNK: usize = 200;
const BINDS_PER_SEAT: usize = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatMapStatus {
    Available,
    Held,
    Sold,
}

impl SeatMapStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Available => "AVAILABLE",
            Self::Held => "HELD",
            Self::Sold => "SOLD",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatMapRow {
    pub label: String,
    pub section: String,
    pub row: String,
    pub price_minor: i64,
    pub status: SeatMapStatus,
    pub held_until: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct SeatMapProjection(pub Target);

impl Projection for SeatMapProjection {
    fn name(&self) -> &'static str {
        ReadModel::SeatMap.checkpoint(self.0.shadow)
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        event: &FeedEvent,
    ) -> Result<(), ProjectionError> {
        let table = self.0.table(&SEAT_MAP);
        let stored = &event.event;
        if stored.aggregate_type == <Show as cqrs_es::Aggregate>::TYPE {
            if let ShowEvent::ShowScheduled(details) = payload::<ShowEvent>(event)? {
                let seats: Vec<_> = details.plan.seats().enumerate().collect();
                for chunk in seats.chunks(SEED_CHUNK) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| {
                            let p: Vec<String> = (1..=BINDS_PER_SEAT)
                                .map(|n| format!("${}", i * BINDS_PER_SEAT + n))
                                .collect();
                            format!(
                                "({}, {}, {}, {}, {}, {}, 'AVAILABLE', {})",
                                p[0], p[1], p[2], p[3], p[4], p[5], p[6]
                            )
                        })
                        .collect();
                    let sql = format!(
                        "INSERT INTO {table} (show_id, label, section, row_name, position, price_minor, status, global_seq) VALUES {}",
                        values.join(", ")
                    );
                    let mut query = sqlx::query(&sql);
                    for (position, (seat, place)) in chunk {
                        query = query
                            .bind(details.show_id.as_str())
                            .bind(seat.label.as_str())
                            .bind(place.section)
                            .bind(place.row)
                            .bind(*position as i64)
                            .bind(seat.price_minor.get())
                            .bind(event.global_seq);
                    }
                    query.execute(&mut *conn).await?;
                }
            }
            return Ok(());
        }
        if stored.aggregate_type != <Seat as cqrs_es::Aggregate>::TYPE {
            return Ok(());
        }
        let (show_id, label) = stored.aggregate_id.split_once('/').ok_or_else(|| {
            ProjectionError::Corrupt(format!("seat id {:?}", stored.aggregate_id))
        })?;
        let (status, reservation, until) = match payload::<SeatEvent>(event)? {
            SeatEvent::SeatHeld { reservation, until }
            | SeatEvent::SeatHoldExtended { reservation, until } => (
                SeatMapStatus::Held,
                Some(reservation.to_string()),
                Some(millis(until)),
            ),
            SeatEvent::SeatReleased { .. } => (SeatMapStatus::Available, None, None),
            SeatEvent::SeatSold { reservation } => {
                (SeatMapStatus::Sold, Some(reservation.to_string()), None)
            }
        };
        let sql = format!(
            "UPDATE {table} SET status = $1, reservation_id = $2, held_until = $3, global_seq = $4 WHERE show_id = $5 AND label = $6"
        );
        sqlx::query(&sql)
            .bind(status.as_str())
            .bind(reservation)
            .bind(until)
            .bind(event.global_seq)
            .bind(show_id)
            .bind(label)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

pub(crate) fn payload<E: serde::de::DeserializeOwned>(
    event: &FeedEvent,
) -> Result<E, ProjectionError> {
    serde_json::from_value(event.event.payload.clone()).map_err(|source| ProjectionError::Payload {
        global_seq: event.global_seq,
        event_type: event.event.event_type.clone(),
        source,
    })
}

/// Queries on the seat map.
#[derive(Clone)]
pub struct SeatMaps {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl SeatMaps {
    /// Every seat of the show in plan order; empty when the show is unknown.
    /// A hold whose deadline has passed reads as AVAILABLE even before the
    /// expirer released it, because the next buyer will get it.
    pub async fn seat_map(
        &self,
        show_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SeatMapRow>, ProjectionError> {
        let sql = format!(
            "SELECT label, section, row_name, price_minor, status, held_until FROM {} WHERE show_id = $1 ORDER BY position",
            seat_map_table(self.backend)
        );
        let rows = sqlx::query(&sql)
            .bind(show_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let held_until: Option<i64> = row.try_get("held_until")?;
                let held_until = held_until.map(from_millis);
                let status = match row.try_get::<String, _>("status")?.as_str() {
                    "AVAILABLE" => SeatMapStatus::Available,
                    "HELD" if held_until.is_some_and(|until| until <= now) => {
                        SeatMapStatus::Available
                    }
                    "HELD" => SeatMapStatus::Held,
                    "SOLD" => SeatMapStatus::Sold,
                    other => {
                        return Err(ProjectionError::Corrupt(format!("seat status {other:?}")))
                    }
                };
                Ok(SeatMapRow {
                    label: row.try_get("label")?,
                    section: row.try_get("section")?,
                    row: row.try_get("row_name")?,
                    price_minor: row.try_get("price_minor")?,
                    status,
                    held_until: held_until.filter(|_| status == SeatMapStatus::Held),
                })
            })
            .collect()
    }
}
