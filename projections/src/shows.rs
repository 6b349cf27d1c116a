//! The show catalog read model: one row per show with its status, for
//! GetShow and ListShows.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AnyPool, Row};
use ticketing_aggregates::{Show, ShowEvent};
use ticketing_event_store::{Backend, FeedEvent};

use crate::schema::SHOWS;
use crate::seat_map::payload;
use crate::{from_millis, millis, Projection, ProjectionError, ReadModel, Target};

#[derive(Clone)]
pub struct ShowsProjection(pub Target);

impl Projection for ShowsProjection {
    fn name(&self) -> &'static str {
        ReadModel::Shows.checkpoint(self.0.shadow)
    }

    /// Shows change rarely: one statement per event.
    async fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        events: &[FeedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply_one(conn, event).await?;
        }
        Ok(())
    }
}

impl ShowsProjection {
    async fn apply_one(
        &self,
        conn: &mut AnyConnection,
        event: &FeedEvent,
    ) -> Result<(), ProjectionError> {
        if event.event.aggregate_type != <Show as cqrs_es::Aggregate>::TYPE {
            return Ok(());
        }
        let table = self.0.table(&SHOWS);
        let status = match payload::<ShowEvent>(event)? {
            ShowEvent::ShowScheduled(details) => {
                let sql = format!(
                    "INSERT INTO {table} (show_id, title, venue, starts_at, currency, status, seat_count, organizer_id, global_seq, time_zone) \
                     VALUES ($1, $2, $3, $4, $5, 'SCHEDULED', $6, $7, $8, $9)"
                );
                sqlx::query(&sql)
                    .bind(details.show_id.as_str())
                    .bind(&details.title)
                    .bind(&details.venue)
                    .bind(millis(details.starts_at))
                    .bind(details.currency.as_str())
                    .bind(details.plan.seat_count() as i64)
                    .bind(details.organizer.as_str())
                    .bind(event.global_seq)
                    .bind(details.time_zone.as_str())
                    .execute(&mut *conn)
                    .await?;
                return Ok(());
            }
            ShowEvent::ShowPublished {} => "PUBLISHED",
            ShowEvent::ShowCancelled {} => "CANCELLED",
        };
        let sql = format!("UPDATE {table} SET status = $1, global_seq = $2 WHERE show_id = $3");
        sqlx::query(&sql)
            .bind(status)
            .bind(event.global_seq)
            .bind(&event.event.aggregate_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowRow {
    pub show_id: String,
    pub title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub currency: String,
    /// SCHEDULED, PUBLISHED or CANCELLED.
    pub status: String,
    pub seat_count: i64,
    pub organizer_id: String,
    /// IANA time zone of the venue.
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowsPage {
    pub shows: Vec<ShowRow>,
    /// The last show id of this page when more may follow.
    pub next_after: Option<String>,
}

/// Queries on the catalog.
#[derive(Clone)]
pub struct Shows {
    pub pool: AnyPool,
    pub backend: Backend,
}

const COLUMNS: &str =
    "show_id, title, venue, starts_at, currency, status, seat_count, organizer_id, time_zone";

impl Shows {
    pub async fn get(&self, show_id: &str) -> Result<Option<ShowRow>, ProjectionError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE show_id = $1",
            SHOWS.live(self.backend)
        );
        let row = sqlx::query(&sql)
            .bind(show_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(show_row).transpose()
    }

    /// Shows ordered by id (ids are time-ordered ULIDs, so oldest first),
    /// `limit` at a time, after the id `after`.
    /// Shows after `after` in id order, only those in `status`
    /// (`SCHEDULED`, `PUBLISHED`, `CANCELLED`) when given.
    pub async fn list(
        &self,
        after: Option<&str>,
        status: Option<&str>,
        limit: usize,
    ) -> Result<ShowsPage, ProjectionError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE show_id > $1 AND ($2 = '' OR status = $2) \
             ORDER BY show_id LIMIT $3",
            SHOWS.live(self.backend)
        );
        let rows = sqlx::query(&sql)
            .bind(after.unwrap_or(""))
            .bind(status.unwrap_or(""))
            .bind(limit as i64 + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut shows = rows.iter().map(show_row).collect::<Result<Vec<_>, _>>()?;
        let more = shows.len() > limit;
        shows.truncate(limit);
        let next_after = if more {
            shows.last().map(|s| s.show_id.clone())
        } else {
            None
        };
        Ok(ShowsPage { shows, next_after })
    }
}

fn show_row(row: &sqlx::any::AnyRow) -> Result<ShowRow, ProjectionError> {
    Ok(ShowRow {
        show_id: row.try_get("show_id")?,
        title: row.try_get("title")?,
        venue: row.try_get("venue")?,
        starts_at: from_millis(row.try_get("starts_at")?),
        currency: row.try_get("currency")?,
        status: row.try_get("status")?,
        seat_count: row.try_get("seat_count")?,
        organizer_id: row.try_get("organizer_id")?,
        time_zone: row.try_get("time_zone")?,
    })
}
