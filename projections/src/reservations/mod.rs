//! The reservations read model: one row per reservation with its seats,
//! deadline and status. The expirer reads its work list here (ACTIVE
//! reservations past their deadline), so it never scans the log.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AnyPool, Row};
use ticketing_aggregates::{ReservationStatus, SeatLabel};
use ticketing_event_store::{Backend, FeedEvent};

mod batch;

pub(crate) use batch::Fold;

use crate::fill::fold_batch;
use crate::schema::{RESERVATIONS, SHOWS};
use crate::{from_millis, millis, Projection, ProjectionError, ReadModel, Target};

#[derive(Clone)]
pub struct ReservationsProjection(pub Target);

impl Projection for ReservationsProjection {
    fn name(&self) -> &'static str {
        ReadModel::Reservations.checkpoint(self.0.shadow)
    }

    fn wants(&self, event: &FeedEvent) -> bool {
        ReadModel::Reservations.folds(event)
    }

    /// Folds the batch per reservation and writes each row once.
    async fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        events: &[FeedEvent],
    ) -> Result<(), ProjectionError> {
        fold_batch::<Fold>(conn, events, self.0).await
    }
}

/// Seat labels as the JSON array of strings the `seat_labels` columns hold.
pub(crate) fn labels_json(labels: &[SeatLabel]) -> String {
    serde_json::Value::from_iter(labels.iter().map(SeatLabel::as_str)).to_string()
}

pub(crate) fn labels_from_json(raw: &str) -> Result<Vec<String>, ProjectionError> {
    serde_json::from_str(raw)
        .map_err(|e| ProjectionError::Corrupt(format!("seat labels {raw:?}: {e}")))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRow {
    pub reservation_id: String,
    pub customer_id: String,
    pub show_id: String,
    pub seat_labels: Vec<String>,
    /// The deadline; meaningful while the status is ACTIVE.
    pub until: DateTime<Utc>,
    /// Never `Unknown`: a row exists from ReservationCreated on.
    pub status: ReservationStatus,
    /// The order that bought it, once CONVERTED.
    pub order_id: Option<String>,
    /// Global position of the last event folded into this row.
    pub global_seq: i64,
}

/// Queries on the reservations.
#[derive(Clone)]
pub struct Reservations {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Reservations {
    /// Ids of ACTIVE reservations whose deadline is at or before `now`,
    /// earliest deadline first, at most `limit`: the expirer's work list.
    pub async fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, ProjectionError> {
        let sql = format!(
            "SELECT reservation_id FROM {} WHERE status = 'ACTIVE' AND until <= $1 \
             ORDER BY until, reservation_id LIMIT $2",
            RESERVATIONS.live(self.backend)
        );
        let rows = sqlx::query(&sql)
            .bind(millis(now))
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("reservation_id"))
            .collect::<Result<_, _>>()?)
    }

    /// Live holds on cancelled shows, for the expirer to withdraw; driven
    /// by the (few) cancelled shows and an index per show.
    pub async fn live_on_cancelled_shows(
        &self,
        limit: usize,
    ) -> Result<Vec<String>, ProjectionError> {
        let sql = format!(
            "SELECT r.reservation_id FROM {shows} s JOIN {reservations} r ON r.show_id = s.show_id \
             WHERE s.status = 'CANCELLED' AND r.status = 'ACTIVE' LIMIT $1",
            shows = SHOWS.live(self.backend),
            reservations = RESERVATIONS.live(self.backend),
        );
        let rows = sqlx::query(&sql)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("reservation_id"))
            .collect::<Result<_, _>>()?)
    }

    pub async fn get(
        &self,
        reservation_id: &str,
    ) -> Result<Option<ReservationRow>, ProjectionError> {
        let sql = format!(
            "SELECT reservation_id, customer_id, show_id, seat_labels, until, status, order_id, global_seq \
             FROM {} WHERE reservation_id = $1",
            RESERVATIONS.live(self.backend)
        );
        let Some(row) = sqlx::query(&sql)
            .bind(reservation_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let status = match row.try_get::<String, _>("status")?.as_str() {
            "ACTIVE" => ReservationStatus::Active,
            "RELEASED" => ReservationStatus::Released,
            "EXPIRED" => ReservationStatus::Expired,
            "CONVERTED" => ReservationStatus::Converted,
            other => {
                return Err(ProjectionError::Corrupt(format!(
                    "reservation status {other:?}"
                )))
            }
        };
        Ok(Some(ReservationRow {
            reservation_id: row.try_get("reservation_id")?,
            customer_id: row.try_get("customer_id")?,
            show_id: row.try_get("show_id")?,
            seat_labels: labels_from_json(&row.try_get::<String, _>("seat_labels")?)?,
            until: from_millis(row.try_get("until")?),
            status,
            order_id: row.try_get("order_id")?,
            global_seq: row.try_get("global_seq")?,
        }))
    }
}
