//! The SQLite adapter: schema, loads, appends, idempotency records and the
//! global feed on one database file.
//!
//! Every write goes through a pool of exactly one connection and starts with
//! `BEGIN IMMEDIATE`, so appends never interleave and `global_seq`
//! (`AUTOINCREMENT`) is handed out in commit order: the feed is simply
//! `global_seq` order, with `tx` always 0. Readers use a separate pool and,
//! in WAL mode, never block the writer.
//!
//! SQLite has one write lock per file, and a connection that finds it taken
//! sleeps in its busy handler (1 ms, 2 ms, 5 ms, … up to 100 ms) before
//! trying again. The appends and the read models' transactions of one
//! process therefore take a [`WriteTurn`] first, an in-process queue that
//! hands the lock over without sleeping; other processes (the CLI) still
//! meet the busy handler. Appends that queue for the turn together commit
//! together, each with its own outcome (`sqlite/batch.rs`).

mod batch;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;

use crate::store::{connect_read_pool, FeedWaker, WriteTurn, ACQUIRE_TIMEOUT};
use crate::{
    FeedEvent, FeedPosition, IdempotencyRecord, SerializedEvent, StoreError, StreamAppend,
    StreamCondition,
};

const READERS: u32 = 8;

/// The page cache of each reader connection, in KiB: 256 instead of
/// SQLite's 2 MiB. Readers are many (this pool's and the read-model
/// pool's) and read what the OS's page cache already holds, so the default
/// cost some 20 MB of the process's memory under load for no measured
/// speed; the one writer keeps 2 MiB.
const READER_CACHE_KIB: u32 = 256;

/// `PRAGMA cache_size` takes KiB as a negative number.
fn reader_cache_size() -> String {
    format!("-{READER_CACHE_KIB}")
}
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One statement each: sqlx runs them as prepared statements, whose
/// futures stay `Send` (`raw_sql`'s do not, which breaks `tokio::spawn`).
pub(crate) const SCHEMA: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS events (
    global_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence > 0),
    event_type TEXT NOT NULL,
    event_version TEXT NOT NULL,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (aggregate_type, aggregate_id, sequence)
)"#,
    r#"CREATE TABLE IF NOT EXISTS checkpoints (
    name TEXT NOT NULL,
    shard INTEGER NOT NULL,
    tx INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (name, shard)
)"#,
    r#"CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (scope, key)
)"#,
];

const EVENT_COLUMNS: &str =
    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";

/// The SQLite event store.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    read_pool: sqlx::AnyPool,
    waker: FeedWaker,
    /// Whose turn it is to write (see [`crate::WriteTurn`]).
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Appends waiting for the next batch.
    queue: Arc<crate::group::Queue>,
    /// The database file, next to which [`crate::Exclusive`] locks live;
    /// `None` in memory.
    file: Option<std::path::PathBuf>,
    /// [`crate::Exclusive`] names held, for a database in memory.
    held: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// The bound past this process's last commit.
    committed: Arc<crate::consistency::Committed>,
}

impl SqliteStore {
    /// Connects, retrying while another process holds the lock that
    /// switching a new file to WAL needs (two processes starting at once, or
    /// `ticketing users add` beside a starting server).
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let mut attempt = 0;
        loop {
            match Self::try_connect(url).await {
                Err(StoreError::Unavailable(e)) if attempt < 50 && is_locked(e.as_ref()) => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn try_connect(url: &str) -> Result<SqliteStore, StoreError> {
        let url = named_if_in_memory(url);
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        let in_memory = url.contains("mode=memory") || url.contains(":memory:");
        let file = (!in_memory).then(|| options.get_filename().to_owned());
        // The writer keeps its connection forever: an in-memory database
        // lives only while some connection to it is open.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.pragma("cache_size", reader_cache_size()))
            .await?;
        let cache_size = format!("PRAGMA cache_size = {}", reader_cache_size());
        let read_pool = connect_read_pool(&url, READERS, Some(cache_size)).await?;
        Ok(SqliteStore {
            writer,
            readers,
            read_pool,
            waker: FeedWaker::new(),
            turn: Arc::default(),
            queue: Arc::default(),
            file,
            held: Arc::default(),
            committed: Arc::default(),
        })
    }

    pub(crate) fn commits(&self) -> &crate::consistency::Committed {
        &self.committed
    }

    /// A batch or an append committed events up to `last` (`global_seq`).
    pub(crate) fn passed(&self, last: Option<i64>) {
        if let Some(seq) = last {
            self.committed.passed(FeedPosition { tx: 0, seq });
        }
    }

    /// See [`crate::Store::try_exclusive`].
    pub(crate) fn try_exclusive(&self, name: &str) -> Result<Option<crate::Exclusive>, StoreError> {
        match &self.file {
            Some(file) => crate::exclusive::try_file_lock(file, name),
            None => Ok(crate::exclusive::try_memory_lock(&self.held, name)),
        }
    }

    pub(crate) fn read_pool(&self) -> &sqlx::AnyPool {
        &self.read_pool
    }

    pub(crate) fn waker(&self) -> &FeedWaker {
        &self.waker
    }

    /// Waits for this process's turn to write.
    pub(crate) async fn write_turn(&self) -> WriteTurn {
        WriteTurn {
            _held: Arc::clone(&self.turn).lock_owned().await,
        }
    }

    pub(crate) async fn load(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 ORDER BY sequence"
        );
        let rows = sqlx::query(&sql)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(i64::try_from(after_sequence).map_err(StoreError::other)?)
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(serialized_event).collect()
    }

    /// The events of `ids` (streams of `aggregate_type`) recorded at or
    /// before `until`, by stream then sequence; `recorded_at` is
    /// millisecond RFC 3339 text, which compares as text.
    pub(crate) async fn history_of(
        &self,
        aggregate_type: &str,
        ids: &[String],
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE aggregate_type = $1 AND aggregate_id IN (SELECT value FROM json_each($2)) \
               AND recorded_at <= $3 ORDER BY aggregate_id, sequence"
        );
        let ids = serde_json::to_string(ids).map_err(StoreError::other)?;
        let until = until.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let rows = sqlx::query(&sql)
            .bind(aggregate_type)
            .bind(ids)
            .bind(until)
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(serialized_event).collect()
    }

    /// Every event of `aggregate_type`, for cqrs-es query replays.
    pub(crate) async fn load_type(
        &self,
        aggregate_type: &str,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 ORDER BY global_seq"
        );
        let rows = sqlx::query(&sql)
            .bind(aggregate_type)
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(serialized_event).collect()
    }

    /// Commits the append in the next batch (see `sqlite/batch.rs`), from a
    /// task of its own, so a caller that goes away cannot leave its job
    /// half-queued. `hold` (tests) commits alone, holding the lock a while.
    pub(crate) async fn append(
        &self,
        appends: &[StreamAppend],
        conditions: &[StreamCondition],
        idempotency: Option<&IdempotencyRecord>,
        hold: Option<Duration>,
    ) -> Result<(), StoreError> {
        if appends.iter().all(|a| a.events.is_empty()) && idempotency.is_none() {
            return Ok(());
        }
        if hold.is_some() {
            let _turn = self.write_turn().await;
            let appended = self
                .append_in_turn(appends, conditions, idempotency, hold)
                .await;
            if appended.is_ok() {
                self.waker.wake();
            }
            return appended;
        }
        crate::group::submit(self, appends, conditions, idempotency).await
    }

    /// One append in a transaction of its own; the caller holds the turn.
    async fn append_in_turn(
        &self,
        appends: &[StreamAppend],
        conditions: &[StreamCondition],
        idempotency: Option<&IdempotencyRecord>,
        hold: Option<Duration>,
    ) -> Result<(), StoreError> {
        // The write lock is taken first, so no append can move a condition's
        // stream between its check and this commit.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for condition in conditions {
            let current: i64 = sqlx::query_scalar(
                "SELECT coalesce(max(sequence), 0) FROM events \
                 WHERE aggregate_type = $1 AND aggregate_id = $2",
            )
            .bind(&condition.aggregate_type)
            .bind(&condition.aggregate_id)
            .fetch_one(&mut *tx)
            .await?;
            if usize::try_from(current).ok() != Some(condition.sequence) {
                return Err(StoreError::Conflict);
            }
        }
        // Multi-row inserts: one statement per 500 events, where one per
        // event cost a hand-over to sqlx's SQLite thread each way.
        let last = batch::insert_events(&mut tx, appends).await?;
        batch::insert_records(&mut tx, idempotency.as_slice()).await?;
        if let Some(hold) = hold {
            tokio::time::sleep(hold).await;
        }
        tx.commit().await?;
        self.passed(last);
        Ok(())
    }

    /// The feed after `after`, of `aggregate_types` only if given.
    pub(crate) async fn read_feed(
        &self,
        after: FeedPosition,
        limit: usize,
        aggregate_types: Option<&[&str]>,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        let of_types = match aggregate_types {
            Some(_) => "AND aggregate_type IN (SELECT value FROM json_each($3))",
            None => "",
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS}, global_seq, recorded_at FROM events \
             WHERE global_seq > $1 {of_types} ORDER BY global_seq LIMIT $2"
        );
        let query = sqlx::query(&sql)
            .bind(after.seq)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let query = match aggregate_types {
            Some(types) => query.bind(serde_json::to_string(types).map_err(StoreError::other)?),
            None => query,
        };
        let rows = query.fetch_all(&self.readers).await?;
        rows.iter().map(feed_event).collect()
    }

    pub(crate) async fn feed_head(&self) -> Result<FeedPosition, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT max(global_seq) FROM events")
            .fetch_one(&self.readers)
            .await?;
        Ok(head.map_or(FeedPosition::START, |seq| FeedPosition { tx: 0, seq }))
    }
}

/// sqlx gives every `sqlite::memory:` parse its own database, but the writer,
/// readers and read-model pools must share one: name it once.
fn named_if_in_memory(url: &str) -> String {
    match url {
        "sqlite::memory:" | "sqlite://:memory:" => format!(
            "sqlite:file:ticketing-{}?mode=memory",
            ulid::Ulid::new().to_string().to_lowercase()
        ),
        _ => url.to_owned(),
    }
}

/// An event from a row whose payload and metadata are JSON text (SQLite's
/// columns; Postgres' cast to text when read through the Any driver).
pub(crate) fn serialized_event<R: sqlx::Row>(row: &R) -> Result<SerializedEvent, StoreError>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    let sequence: i64 = row.try_get("sequence")?;
    let payload: String = row.try_get("payload")?;
    let metadata: String = row.try_get("metadata")?;
    Ok(SerializedEvent::new(
        row.try_get("aggregate_id")?,
        usize::try_from(sequence).map_err(StoreError::other)?,
        row.try_get("aggregate_type")?,
        row.try_get("event_type")?,
        row.try_get("event_version")?,
        serde_json::from_str(&payload)?,
        serde_json::from_str(&metadata)?,
    ))
}

/// A test hook: with `TICKETING_FAULT=mid-batch` the process aborts inside
/// a batch of two or more appends, after their inserts and before the
/// commit; the kill tests use it to put a crash in the middle of a batch.
pub(crate) fn crash_in_batch(jobs: usize) {
    static FAULT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let armed = *FAULT
        .get_or_init(|| std::env::var("TICKETING_FAULT").is_ok_and(|fault| fault == "mid-batch"));
    if armed && jobs >= 2 {
        tracing::error!(jobs, "fault injection: aborting in the middle of a batch");
        std::process::abort();
    }
}

/// SQLITE_BUSY and its extended codes, as sqlx reports them.
fn is_locked(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error
        .downcast_ref::<sqlx::Error>()
        .is_some_and(crate::transient::is_sqlite_busy)
}

fn feed_event(row: &SqliteRow) -> Result<FeedEvent, StoreError> {
    let global_seq: i64 = row.try_get("global_seq")?;
    Ok(FeedEvent {
        position: FeedPosition {
            tx: 0,
            seq: global_seq,
        },
        global_seq,
        recorded_at: row.try_get("recorded_at")?,
        event: std::sync::Arc::new(serialized_event(row)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn cache_size<'e>(conn: impl sqlx::Executor<'e, Database = sqlx::Sqlite>) -> i64 {
        sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(conn)
            .await
            .expect("pragma")
    }

    /// Reader connections, of this store's pool and of the read-model
    /// pool, keep a small page cache; the one writer keeps SQLite's.
    #[tokio::test]
    async fn readers_keep_a_small_page_cache_and_the_writer_the_default() {
        let store = SqliteStore::connect(&crate::testing::fresh_sqlite_url())
            .await
            .expect("store");
        let small = -256;
        assert_eq!(cache_size(&store.readers).await, small);
        let mut reader = store.read_pool.acquire().await.expect("read-model reader");
        let read_model: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *reader)
            .await
            .expect("pragma");
        assert_eq!(read_model, small);
        assert_eq!(cache_size(&store.writer).await, -2000, "SQLite's default");
    }
}
