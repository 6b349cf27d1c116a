//! Where each projector stands: its checkpoint and how far behind the log it
//! is, in events and in seconds (the age of the oldest event it has not
//! applied yet).

use chrono::{DateTime, Utc};
use ticketing_event_store::{load_checkpoint, Backend, FeedPosition, Store};

use crate::ProjectionError;

/// Every projector the engine runs, by checkpoint name.
pub const PROJECTIONS: [&str; 4] = ["seat_map", "shows", "reservations", "orders"];

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionStatus {
    pub name: String,
    pub checkpoint: FeedPosition,
    /// Events in the log after the checkpoint.
    pub lag_events: i64,
    /// Age of the oldest event not applied yet; zero when caught up.
    pub lag_seconds: f64,
}

pub async fn projection_status(
    store: &Store,
    name: &str,
    now: DateTime<Utc>,
) -> Result<ProjectionStatus, ProjectionError> {
    let mut conn = store.read_pool().acquire().await?;
    let checkpoint = load_checkpoint(&mut conn, store.backend(), name, 0).await?;
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
    let oldest = store.read_feed(0, checkpoint, 1).await?;
    let lag_seconds = oldest
        .first()
        .map(|e| (now - e.recorded_at).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    Ok(ProjectionStatus {
        name: name.to_owned(),
        checkpoint,
        lag_events,
        lag_seconds,
    })
}
