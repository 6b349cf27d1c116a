//! The Postgres adapter: schema, loads, appends and idempotency records on
//! `event_store.*`; the global feed and its NOTIFY listener are in `feed.rs`.
//!
//! The schema is postgres-es's (pure event-store mode, no snapshots: its
//! columns, so postgres-es can still read the table), but every read and
//! write is our own statement, pinned to the primary key whatever the log's
//! size (see `sql.rs`), and every read is upcast by the store
//! (`upcast.rs`); postgres-es's repository, which knows neither, is no
//! longer on any path. Appends are type-erased and may span streams, so
//! they run as one multi-row statement in one transaction; the events
//! primary key turns a stale expected sequence into a unique violation, which
//! rolls back the whole append. An append never reads before it writes, so
//! its transaction id is taken after the loads its decision used — that is
//! what makes each stream's sequences rise in feed order.
//!
//! `fence.rs` orders the locks and checks of conditional appends (the SQL
//! is in `sql.rs`); `batch.rs` commits concurrent appends as one
//! statement (group commit); `keep.rs` keeps the hot statements'
//! connections out of sqlx's ping on release; `url.rs` leaves TLS out on
//! the loopback interface.

mod batch;
mod feed;
mod fence;
mod keep;
mod sql;
pub(crate) use sql::{BEGIN_CUSTOM_PLANS, LOCK_CHECKPOINTS, SCHEMA};
mod url;

use fence::Fence;
use sql::*;
pub use url::plain_on_loopback;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;
use tokio::sync::watch;

use crate::store::{connect_read_pool, FeedWaker, ACQUIRE_TIMEOUT};
use crate::{
    IdempotencyRecord, SerializedEvent, StoreError, StreamAppend, StreamCondition, StreamRef,
};

/// The pool size [`PgStore::connect`] uses, and `--db-max-connections`'s
/// default. Eight: on the benchmark machine (2 cores, Postgres beside the
/// engine) pools of 6 or 8 gave 10-20% more paid orders per second than
/// pools of 12, whose extra backends only contended for the same cores
/// (docs/benchmarks.md, issue #13 part 6).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// The Postgres event store.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The connections of loads, batches and feed reads (`keep.rs`).
    keep: Arc<keep::Keep>,
    read_pool: sqlx::AnyPool,
    waker: FeedWaker,
    /// Bumped after each append; the announcer tells other processes.
    appended: watch::Sender<u64>,
    /// Appends waiting for the next batch, and the committers (`batch.rs`).
    queue: Arc<crate::group::Queue>,
    committers: Arc<tokio::sync::Semaphore>,
    /// The bound past this process's last commit.
    committed: Arc<crate::consistency::Committed>,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Connects with `max_connections` for the event pool and as many again
    /// for the read-model pool.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<PgStore, StoreError> {
        let url = &plain_on_loopback(url);
        // No ping before each acquire: it doubled the round trips of every
        // command. A connection that died is reported by its next query
        // (UNAVAILABLE, retry) and then replaced by the pool.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(conn, EVENT_SESSION).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let read_pool = connect_read_pool(url, max_connections, None).await?;
        let waker = FeedWaker::new();
        let origin = ulid::Ulid::new().to_string();
        feed::spawn_listener(&pool, waker.sender(), origin.clone()).await?;
        let appended = feed::spawn_announcer(&pool, origin);
        Ok(PgStore {
            keep: Arc::new(keep::Keep::new(pool.clone(), max_connections)),
            pool,
            read_pool,
            waker,
            appended,
            queue: Arc::default(),
            committers: Arc::new(tokio::sync::Semaphore::new(batch::COMMITTERS)),
            committed: Arc::default(),
        })
    }

    /// The event pool, for callers that need plain SQL on the store's database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn commits(&self) -> &crate::consistency::Committed {
        &self.committed
    }

    pub(crate) fn read_pool(&self) -> &sqlx::AnyPool {
        &self.read_pool
    }

    pub(crate) fn waker(&self) -> &FeedWaker {
        &self.waker
    }

    /// One stream, through [`LOAD_STREAMS`]: postgres-es's own read writes
    /// the sequence into its SQL text, so every distinct sequence was a new
    /// statement to parse and plan, and its plan was not pinned to the
    /// primary key.
    pub(crate) async fn load(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let stream = StreamRef {
            aggregate_type,
            aggregate_id,
            after_sequence,
        };
        let mut loaded = self.load_streams(&[stream]).await?;
        Ok(loaded.pop().unwrap_or_default())
    }

    pub(crate) async fn load_streams(
        &self,
        streams: &[StreamRef<'_>],
    ) -> Result<Vec<Vec<SerializedEvent>>, StoreError> {
        let types: Vec<&str> = streams.iter().map(|s| s.aggregate_type).collect();
        let ids: Vec<&str> = streams.iter().map(|s| s.aggregate_id).collect();
        let after: Vec<i64> = streams
            .iter()
            .map(|s| i64::try_from(s.after_sequence).map_err(StoreError::other))
            .collect::<Result<_, _>>()?;
        let mut conn = self.keep.get().await?;
        let rows = sqlx::query(LOAD_STREAMS)
            .bind(types)
            .bind(ids)
            .bind(after)
            .fetch_all(&mut *conn)
            .await?;
        conn.done();
        let mut loaded: Vec<Vec<SerializedEvent>> = vec![Vec::new(); streams.len()];
        for row in rows {
            let index: i64 = row.try_get("stream_index")?;
            let event = serialized_event(&row)?;
            let slot = usize::try_from(index - 1)
                .ok()
                .and_then(|i| loaded.get_mut(i));
            slot.ok_or_else(|| StoreError::Other("stream index out of range".into()))?
                .push(event);
        }
        Ok(loaded)
    }

    /// The events of `ids` (streams of `aggregate_type`) recorded at or
    /// before `until`, by stream then sequence.
    pub(crate) async fn history_of(
        &self,
        aggregate_type: &str,
        ids: &[String],
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let rows = sqlx::query(HISTORY_OF)
            .bind(aggregate_type)
            .bind(ids)
            .bind(until)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(serialized_event).collect()
    }

    /// Commits the append alone if a committer is free, else in the next
    /// batch (`batch.rs`), from a task of its own so a caller that goes
    /// away cannot leave its job half-queued. `hold` (tests) commits alone,
    /// holding the transaction open a while.
    pub(crate) async fn append(
        &self,
        appends: &[StreamAppend],
        conditions: &[StreamCondition],
        idempotency: Option<&IdempotencyRecord>,
        hold: Option<Duration>,
    ) -> Result<(), StoreError> {
        if hold.is_some() {
            return self
                .append_alone(appends, conditions, idempotency, hold)
                .await;
        }
        crate::group::submit(self, appends, conditions, idempotency).await
    }

    /// Wakes this process's feed readers and has the announcer tell the
    /// others: events were appended.
    fn appended(&self) {
        self.waker.wake();
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// One append as one statement (so one transaction).
    async fn append_alone(
        &self,
        appends: &[StreamAppend],
        conditions: &[StreamCondition],
        idempotency: Option<&IdempotencyRecord>,
        hold: Option<Duration>,
    ) -> Result<(), StoreError> {
        let columns = EventColumns::from_appends(appends)?;
        if columns.sequence.is_empty() && idempotency.is_none() {
            return Ok(());
        }
        let fence = Fence::new(appends, conditions)?;
        let sql = match (columns.sequence.is_empty(), idempotency.is_some()) {
            (false, true) => INSERT_EVENTS_AND_IDEMPOTENCY,
            (false, false) => INSERT_EVENTS,
            (true, _) => INSERT_IDEMPOTENCY,
        };
        let mut query = sqlx::query(sql);
        if !columns.sequence.is_empty() {
            query = query
                .bind(columns.aggregate_type)
                .bind(columns.aggregate_id)
                .bind(columns.sequence)
                .bind(columns.event_type)
                .bind(columns.event_version)
                .bind(columns.payload)
                .bind(columns.metadata)
                .bind(fence.types)
                .bind(fence.ids)
                .bind(fence.expected);
        }
        if let Some(record) = idempotency {
            query = query
                .bind(&record.scope)
                .bind(&record.key)
                .bind(&record.request_hash)
                .bind(&record.response);
        }
        // The events' transaction id, for the bound past this commit
        // (`consistency.rs`); none when only a record was written.
        let tx: Option<i64> = match hold {
            // One statement is one transaction: no BEGIN/COMMIT round trips.
            None => {
                let mut conn = self.keep.get().await?;
                let rows = query.fetch_all(&mut *conn).await?;
                conn.done();
                rows
            }
            Some(hold) => {
                let mut tx = self.pool.begin().await?;
                let rows = query.fetch_all(&mut *tx).await?;
                sqlx::query("SELECT pg_sleep($1)")
                    .bind(hold.as_secs_f64())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows
            }
        }
        .iter()
        .filter_map(|row| row.try_get::<Option<i64>, _>("tx").ok().flatten())
        .max();
        if let Some(tx) = tx {
            self.committed.passed(crate::FeedPosition { tx, seq: 0 });
        }
        self.appended();
        Ok(())
    }

    /// Every event of `aggregate_type`, in log order, for cqrs-es query
    /// replays. Planned for its argument ([`BEGIN_CUSTOM_PLANS`]): a rare
    /// type is a primary-key range, a common one a scan of the log, and a
    /// generic plan cannot know which.
    pub(crate) async fn load_type(
        &self,
        aggregate_type: &str,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_CUSTOM_PLANS).await?;
        let rows = sqlx::query(LOAD_TYPE)
            .bind(aggregate_type)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(serialized_event).collect()
    }
}

/// An append flattened into one array per column for [`INSERT_EVENTS`].
#[derive(Default)]
struct EventColumns {
    aggregate_type: Vec<String>,
    aggregate_id: Vec<String>,
    sequence: Vec<i64>,
    event_type: Vec<String>,
    event_version: Vec<String>,
    payload: Vec<Value>,
    metadata: Vec<Value>,
}

impl EventColumns {
    fn from_appends(appends: &[StreamAppend]) -> Result<Self, StoreError> {
        let mut columns = EventColumns::default();
        for append in appends {
            let first = i64::try_from(append.expected_sequence)
                .map_err(StoreError::other)?
                .saturating_add(1);
            for (event, sequence) in append.events.iter().zip(first..) {
                columns.aggregate_type.push(append.aggregate_type.clone());
                columns.aggregate_id.push(append.aggregate_id.clone());
                columns.sequence.push(sequence);
                columns.event_type.push(event.event_type.clone());
                columns.event_version.push(event.event_version.clone());
                columns.payload.push(event.payload.clone());
                columns.metadata.push(event.metadata.clone());
            }
        }
        Ok(columns)
    }
}

/// An event of a row with the event columns (`aggregate_type`,
/// `aggregate_id`, `sequence`, `event_type`, `event_version`, `payload`,
/// `metadata`).
pub(super) fn serialized_event(row: &sqlx::postgres::PgRow) -> Result<SerializedEvent, StoreError> {
    let sequence: i64 = row.try_get("sequence")?;
    Ok(SerializedEvent::new(
        row.try_get("aggregate_id")?,
        usize::try_from(sequence).map_err(StoreError::other)?,
        row.try_get("aggregate_type")?,
        row.try_get("event_type")?,
        row.try_get("event_version")?,
        row.try_get("payload")?,
        row.try_get("metadata")?,
    ))
}
