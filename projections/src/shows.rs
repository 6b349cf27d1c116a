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

    fn wants(&self, event: &FeedEvent) -> bool {
        ReadModel::Shows.folds(event)
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
    /// The start (ms) and id of this page's last show when more may follow.
    pub next_after: Option<(i64, String)>,
}

/// Which shows a caller lists: those anyone may see (published, not started
/// at `now_millis`), plus every show when `everything` (admins), plus every
/// show of `organizer`; narrowed by the filters; after `after` (start in
/// ms, show id) in start order.
#[derive(Debug, Clone, Default)]
pub struct ShowQuery {
    pub now_millis: i64,
    pub everything: bool,
    pub organizer: Option<String>,
    /// SCHEDULED, PUBLISHED or CANCELLED.
    pub status: Option<&'static str>,
    pub venue: Option<String>,
    pub starts_after: Option<i64>,
    pub starts_before: Option<i64>,
    pub after: Option<(i64, String)>,
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
    /// The shows `query` selects, soonest first, `limit` at a time.
    pub async fn list(
        &self,
        query: &ShowQuery,
        limit: usize,
    ) -> Result<ShowsPage, ProjectionError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} \
             WHERE (starts_at > $1 OR (starts_at = $1 AND show_id > $2)) \
               AND ((status = 'PUBLISHED' AND starts_at > $3) OR CAST($4 AS BIGINT) = 1 OR organizer_id = $5) \
               AND ($6 = '' OR status = $6) \
               AND ($7 = '' OR venue = $7) \
               AND starts_at >= $8 AND starts_at < $9 \
             ORDER BY starts_at, show_id LIMIT $10",
            SHOWS.live(self.backend)
        );
        let (after_start, after_id) = query
            .after
            .as_ref()
            .map_or((i64::MIN, ""), |(at, id)| (*at, id.as_str()));
        let rows = sqlx::query(&sql)
            .bind(after_start)
            .bind(after_id)
            .bind(query.now_millis)
            .bind(i64::from(query.everything))
            .bind(query.organizer.as_deref().unwrap_or(""))
            .bind(query.status.unwrap_or(""))
            .bind(query.venue.as_deref().unwrap_or(""))
            .bind(query.starts_after.unwrap_or(i64::MIN))
            .bind(query.starts_before.unwrap_or(i64::MAX))
            .bind(limit as i64 + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut shows = rows.iter().map(show_row).collect::<Result<Vec<_>, _>>()?;
        let more = shows.len() > limit;
        shows.truncate(limit);
        let next_after = if more {
            shows
                .last()
                .map(|s| (s.starts_at.timestamp_millis(), s.show_id.clone()))
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
