//! The seat map read model: one row per seat of every show, with section,
//! row, price and status. Seeded from ShowScheduled's plan, moved by Seat
//! events.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use std::collections::{HashMap, HashSet};
use ticketing_aggregates::{Seat, SeatEvent, Show, ShowDetails, ShowEvent};
use ticketing_event_store::{Backend, FeedEvent};

use crate::fill::{fold_batch, Carry};
use crate::schema::{placeholders, SEAT_MAP};
use crate::{from_millis, millis, Projection, ProjectionError, ReadModel, Target};

/// Rows per multi-row INSERT when a plan is seeded.
const SEED_CHUNK: usize = 200;
/// Seats per multi-row UPDATE (six binds each). Postgres joins up to about
/// 150 rows through the primary key; at 1,000 it chose a hash join over a
/// scan of the whole table, and a 1,000,000-event rebuild ran at 45k
/// instead of 60k events/s.
const UPDATE_CHUNK: usize = 100;
const BINDS_PER_SEAT: usize = 10;

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

    fn wants(&self, event: &FeedEvent) -> bool {
        ReadModel::SeatMap.folds(event)
    }

    /// Folds the batch (`SeatFold`) and writes it.
    async fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        events: &[FeedEvent],
    ) -> Result<(), ProjectionError> {
        fold_batch::<SeatFold>(conn, events, self.0).await
    }
}

/// Seat-map events folded in memory: the shows to seed, and each changed
/// seat's last state. A batch folds one; a rebuild folds many batches into
/// one before it writes, so a seat held and released a hundred times in the
/// log is written a few times, not a hundred.
#[derive(Default)]
pub(crate) struct SeatFold {
    seeds: Vec<(ShowDetails, i64)>,
    changes: Vec<SeatChange>,
    index: HashMap<String, usize>,
}

impl Carry for SeatFold {
    fn add(&mut self, event: &FeedEvent) -> Result<(), ProjectionError> {
        let stored = &event.event;
        if stored.aggregate_type == <Show as cqrs_es::Aggregate>::TYPE {
            if let ShowEvent::ShowScheduled(details) = payload::<ShowEvent>(event)? {
                self.seeds.push((details, event.global_seq));
            }
        } else if stored.aggregate_type == <Seat as cqrs_es::Aggregate>::TYPE {
            let change = SeatChange::of(event)?;
            match self.index.get(stored.aggregate_id.as_str()) {
                Some(&at) => self.changes[at] = change,
                None => {
                    self.index
                        .insert(stored.aggregate_id.clone(), self.changes.len());
                    self.changes.push(change);
                }
            }
        }
        Ok(())
    }

    /// Rows the fold holds: seats changed, plus seats of shows to seed.
    fn rows(&self) -> usize {
        self.changes.len()
            + self
                .seeds
                .iter()
                .map(|(details, _)| details.plan.seat_count())
                .sum::<usize>()
    }

    /// Seeds the shows scheduled in the fold, each seat in its last state
    /// (a rebuild's fold usually holds a show and all its seats' events),
    /// then updates each seat of an older show once, with its last state:
    /// a seat's events can only follow its show's, so every row updated
    /// exists by then.
    async fn write(self, conn: &mut AnyConnection, target: Target) -> Result<(), ProjectionError> {
        let table = target.table(&SEAT_MAP);
        let seeded: HashSet<&str> = self
            .seeds
            .iter()
            .map(|(details, _)| details.show_id.as_str())
            .collect();
        let (fresh, older): (Vec<&SeatChange>, Vec<&SeatChange>) = self
            .changes
            .iter()
            .partition(|change| seeded.contains(change.show_id.as_str()));
        let fresh: HashMap<(&str, &str), &SeatChange> = fresh
            .into_iter()
            .map(|change| ((change.show_id.as_str(), change.label.as_str()), change))
            .collect();
        for (details, global_seq) in &self.seeds {
            seed(conn, &table, details, *global_seq, &fresh).await?;
        }
        if target.backend == Backend::Sqlite {
            // In-process, one prepared UPDATE per seat beats SQLite's plan
            // for UPDATE … FROM a VALUES list (measured: 12k vs 30k+ ev/s).
            for change in older {
                update_one(conn, &table, change).await?;
            }
        } else {
            for chunk in older.chunks(UPDATE_CHUNK) {
                update(conn, &table, chunk).await?;
            }
        }
        Ok(())
    }
}

/// A seat's state after an event, as its row holds it.
struct SeatChange {
    show_id: String,
    label: String,
    status: SeatMapStatus,
    reservation: Option<String>,
    held_until: Option<i64>,
    global_seq: i64,
}

impl SeatChange {
    fn of(event: &FeedEvent) -> Result<Self, ProjectionError> {
        let id = &event.event.aggregate_id;
        let (show_id, label) = id
            .split_once('/')
            .ok_or_else(|| ProjectionError::Corrupt(format!("seat id {id:?}")))?;
        let (status, reservation, held_until) = match payload::<SeatEvent>(event)? {
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
        Ok(Self {
            show_id: show_id.to_owned(),
            label: label.to_owned(),
            status,
            reservation,
            held_until,
            global_seq: event.global_seq,
        })
    }
}

/// One statement for many seats: their new values as a `VALUES` list
/// joined to the table (`UPDATE … FROM`, on both backends).
async fn update(
    conn: &mut AnyConnection,
    table: &str,
    changes: &[&SeatChange],
) -> Result<(), ProjectionError> {
    let sql = format!(
        "WITH v (show_id, label, status, reservation_id, held_until, global_seq) AS (VALUES {}) \
         UPDATE {table} AS t SET status = v.status, reservation_id = v.reservation_id, \
         held_until = v.held_until, global_seq = v.global_seq \
         FROM v WHERE t.show_id = v.show_id AND t.label = v.label",
        placeholders(changes.len(), 6, |column| {
            Some(["TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT"][column])
        })
    );
    let mut query = sqlx::query(&sql);
    for change in changes {
        query = query
            .bind(change.show_id.as_str())
            .bind(change.label.as_str())
            .bind(change.status.as_str())
            .bind(change.reservation.as_deref())
            .bind(change.held_until)
            .bind(change.global_seq);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

async fn update_one(
    conn: &mut AnyConnection,
    table: &str,
    change: &SeatChange,
) -> Result<(), ProjectionError> {
    let sql = format!(
        "UPDATE {table} SET status = $1, reservation_id = $2, held_until = $3, global_seq = $4 \
         WHERE show_id = $5 AND label = $6"
    );
    sqlx::query(&sql)
        .bind(change.status.as_str())
        .bind(change.reservation.as_deref())
        .bind(change.held_until)
        .bind(change.global_seq)
        .bind(change.show_id.as_str())
        .bind(change.label.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Inserts every seat of a newly scheduled show: AVAILABLE, or as its last
/// change in `changed` says.
async fn seed(
    conn: &mut AnyConnection,
    table: &str,
    details: &ShowDetails,
    global_seq: i64,
    changed: &HashMap<(&str, &str), &SeatChange>,
) -> Result<(), ProjectionError> {
    let show_id = details.show_id.as_str();
    let seats: Vec<_> = details.plan.seats().enumerate().collect();
    for chunk in seats.chunks(SEED_CHUNK) {
        let sql = format!(
            "INSERT INTO {table} (show_id, label, section, row_name, position, price_minor, status, reservation_id, held_until, global_seq) VALUES {}",
            placeholders(chunk.len(), BINDS_PER_SEAT, |_| None)
        );
        let mut query = sqlx::query(&sql);
        for (position, (seat, place)) in chunk {
            let change = changed.get(&(show_id, seat.label.as_str()));
            query = query
                .bind(show_id)
                .bind(seat.label.as_str())
                .bind(place.section)
                .bind(place.row)
                .bind(*position as i64)
                .bind(seat.price_minor.get())
                .bind(
                    change
                        .map_or(SeatMapStatus::Available, |c| c.status)
                        .as_str(),
                )
                .bind(change.and_then(|c| c.reservation.as_deref()))
                .bind(change.and_then(|c| c.held_until))
                .bind(change.map_or(global_seq, |c| c.global_seq));
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) fn payload<E: serde::de::DeserializeOwned>(
    event: &FeedEvent,
) -> Result<E, ProjectionError> {
    // Deserialized from a borrowed Value: no copy of the payload.
    E::deserialize(&event.event.payload).map_err(|source| ProjectionError::Payload {
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
            SEAT_MAP.live(self.backend)
        );
        // Streamed, not fetched whole: a 100,000-seat map as driver rows
        // took some 60 MB beside the rows built from them.
        let mut rows = sqlx::query(&sql).bind(show_id).fetch(&self.pool);
        let mut seats = Vec::new();
        while let Some(row) = rows.try_next().await? {
            seats.push(seat_map_row(&row, now)?);
        }
        Ok(seats)
    }
}

fn seat_map_row(row: &AnyRow, now: DateTime<Utc>) -> Result<SeatMapRow, ProjectionError> {
    let held_until: Option<i64> = row.try_get("held_until")?;
    let held_until = held_until.map(from_millis);
    let status = match row.try_get::<String, _>("status")?.as_str() {
        "AVAILABLE" => SeatMapStatus::Available,
        "HELD" if held_until.is_some_and(|until| until <= now) => SeatMapStatus::Available,
        "HELD" => SeatMapStatus::Held,
        "SOLD" => SeatMapStatus::Sold,
        other => return Err(ProjectionError::Corrupt(format!("seat status {other:?}"))),
    };
    Ok(SeatMapRow {
        label: row.try_get("label")?,
        section: row.try_get("section")?,
        row: row.try_get("row_name")?,
        price_minor: row.try_get("price_minor")?,
        status,
        held_until: held_until.filter(|_| status == SeatMapStatus::Held),
    })
}
