//! Where each projector stands: its checkpoint, how far behind the log it is
//! (in events, and in seconds: the age of the oldest event it has not
//! applied yet), and the last error it hit; for a model split among
//! projector shards, each shard's.
//!
//! Errors are kept in the read database (`projector_errors`, one row per
//! projector, overwritten), so `ticketing projections list` run anywhere
//! shows what a projector in another process last failed on.

use chrono::{DateTime, Utc};
use sqlx::Row;
use ticketing_event_store::{load_checkpoint, Backend, FeedPosition, Store};

use crate::{from_millis, millis, ProjectionError, Shard};

/// Longest error message kept: enough for a database error with context.
const MAX_ERROR_CHARS: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionStatus {
    pub name: String,
    /// The projector shard this is about; `0/1` for a model kept whole.
    pub shard: Shard,
    pub checkpoint: FeedPosition,
    /// Events in the log after the checkpoint.
    pub lag_events: i64,
    /// Age of the oldest event not applied yet; zero when caught up.
    pub lag_seconds: f64,
    /// The last error the projector hit, and when, if it ever failed.
    pub last_error: Option<(DateTime<Utc>, String)>,
}

fn errors_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "event_store.projector_errors",
        Backend::Sqlite => "projector_errors",
    }
}

pub(crate) fn errors_ddl(backend: Backend) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (
            name TEXT NOT NULL,
            shard INTEGER NOT NULL,
            at BIGINT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (name, shard))",
        errors_table(backend)
    )
}

/// Keeps `error` as projector `name`'s last error. Best effort: the caller
/// is already handling a failure and logs it either way.
pub async fn record_error(
    store: &Store,
    name: &str,
    shard: i32,
    error: &str,
    at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    let message: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let sql = format!(
        "INSERT INTO {} (name, shard, at, message) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name, shard) DO UPDATE SET at = excluded.at, message = excluded.message",
        errors_table(store.backend())
    );
    sqlx::query(&sql)
        .bind(name)
        .bind(shard)
        .bind(millis(at))
        .bind(message)
        .execute(store.read_pool())
        .await?;
    Ok(())
}

/// How far behind the log shard `shard` of projector `name` is in seconds:
/// the age of the oldest event it has not applied, zero when caught up.
/// Two indexed reads, cheap enough for a readiness probe (the full status
/// also counts the events behind, which scans the log's tail).
pub async fn projection_lag_seconds(
    store: &Store,
    name: &str,
    shard: Shard,
    now: DateTime<Utc>,
) -> Result<f64, ProjectionError> {
    let mut conn = store.read_pool().acquire().await?;
    let checkpoint = load_checkpoint(&mut conn, store.backend(), name, shard.id()).await?;
    drop(conn);
    seconds_behind(store, checkpoint, now).await
}

async fn seconds_behind(
    store: &Store,
    checkpoint: FeedPosition,
    now: DateTime<Utc>,
) -> Result<f64, ProjectionError> {
    let oldest = store.read_feed(0, checkpoint, 1).await?;
    Ok(oldest
        .first()
        .map(|e| (now - e.recorded_at).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0))
}

/// The status of every shard of projector `name`, in shard order: one,
/// `0/1`, for a model kept whole or never run.
pub async fn projection_status(
    store: &Store,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    let rows = crate::layout::rows(store, name).await?;
    let mut statuses = Vec::new();
    for (shard, checkpoint) in crate::layout::shards(&rows) {
        statuses.push(shard_status(store, name, shard, checkpoint, now).await?);
    }
    Ok(statuses)
}

async fn shard_status(
    store: &Store,
    name: &str,
    shard: Shard,
    checkpoint: FeedPosition,
    now: DateTime<Utc>,
) -> Result<ProjectionStatus, ProjectionError> {
    let mut conn = store.read_pool().acquire().await?;
    let events = match store.backend() {
        Backend::Postgres => "event_store.events",
        Backend::Sqlite => "events",
    };
    let lag_events: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM {events} WHERE global_seq > $1"
    ))
    .bind(checkpoint.seq)
    .fetch_one(&mut *conn)
    .await?;
    let lag_seconds = seconds_behind(store, checkpoint, now).await?;
    let sql = format!(
        "SELECT at, message FROM {} WHERE name = $1 AND shard = $2",
        errors_table(store.backend())
    );
    let last_error = sqlx::query(&sql)
        .bind(name)
        .bind(shard.id())
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| -> Result<_, sqlx::Error> {
            Ok((from_millis(row.try_get("at")?), row.try_get("message")?))
        })
        .transpose()?;
    Ok(ProjectionStatus {
        name: name.to_owned(),
        shard,
        checkpoint,
        lag_events,
        lag_seconds,
        last_error,
    })
}
