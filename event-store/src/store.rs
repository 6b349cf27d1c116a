//! [`Store`], the one handle the engine holds: it picks the adapter from the
//! database URL and forwards every call to it.
//!
//! The shared plumbing of both adapters lives here too: the read-model
//! [`sqlx::AnyPool`], the [`FeedWaker`] that tells feed readers new events
//! may be readable, and the [`Tail`] that reads the feed once for every
//! reader in the process.

use std::sync::{Arc, Once};
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyConnection;
use tokio::sync::watch;

use crate::exclusive::Exclusive;
#[cfg(feature = "testing")]
pub use crate::group::Batched;
use crate::migrations::{Context, Migration};
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::tail::Tail;
use crate::upcast::Upcasters;
use crate::{
    Backend, FeedEvent, FeedPosition, FeedRead, IdempotencyRecord, SerializedEvent, StoreError,
    StreamAppend, StreamCondition, StreamRef,
};

/// How long a caller waits for a pooled connection before the store reports
/// itself [`StoreError::Unavailable`].
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The event store of one database, cheap to clone. Clones share one
/// `Tail` (`tail.rs`): the process's one reader of the global feed.
#[derive(Clone)]
pub struct Store {
    adapter: Adapter,
    tail: Arc<Tail>,
}

/// The database behind a [`Store`], and the rules that bring what it
/// reads to today's event versions.
#[derive(Clone)]
pub(crate) struct Adapter {
    pub(crate) db: Db,
    pub(crate) upcasters: Upcasters,
}

/// One of the two databases.
#[derive(Clone)]
pub(crate) enum Db {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl Store {
    /// `postgres://…` (or `postgresql://…`) selects Postgres; `sqlite://path`,
    /// `sqlite:path` or `sqlite::memory:` selects SQLite, creating the file if
    /// it is missing.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, crate::postgres::DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`Store::connect`] with `max_connections` for each of the Postgres
    /// pools (events and read models; a process opens at most twice that,
    /// plus one for LISTEN). SQLite ignores it: one writer and a few
    /// readers on a local file.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::new(Db::Postgres(
                PgStore::connect_with(url, max_connections).await?,
            )))
        } else if url.starts_with("sqlite:") {
            Ok(Store::new(Db::Sqlite(SqliteStore::connect(url).await?)))
        } else {
            Err(StoreError::Other(
                "event-store URL must start with postgres:// or sqlite:".into(),
            ))
        }
    }

    pub fn backend(&self) -> Backend {
        match &self.adapter.db {
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Applies the event store's pending migrations ([`EVENT_STORE`]).
    /// Safe when several processes run it at once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        crate::migrations::apply(self.read_pool(), self.backend(), &[&EVENT_STORE])
            .await
            .map_err(crate::migrations::MigrationError::into_sqlx)?;
        Ok(())
    }

    /// Takes the lock `name` for as long as the returned guard lives, or
    /// answers `None` at once while another holder (this process or
    /// another) has it. For work that must not run twice at once, such as
    /// a read model's rebuild; see `exclusive.rs`.
    pub async fn try_exclusive(&self, name: &str) -> Result<Option<Exclusive>, StoreError> {
        match &self.adapter.db {
            Db::Postgres(s) => crate::exclusive::try_session_lock(s.read_pool(), name).await,
            Db::Sqlite(s) => s.try_exclusive(name),
        }
    }

    /// A pool on the same database for read models. They write their rows and
    /// their checkpoint in one transaction of this pool, begun with
    /// [`Store::begin_read_model`].
    pub fn read_pool(&self) -> &sqlx::AnyPool {
        match &self.adapter.db {
            Db::Postgres(s) => s.read_pool(),
            Db::Sqlite(s) => s.read_pool(),
        }
    }

    /// On SQLite, waits for this process's turn to write and holds it until
    /// the returned [`WriteTurn`] is dropped: take it before
    /// [`Store::begin_read_model`] and keep it past the commit, so writers
    /// queue in memory instead of polling SQLite's lock. On Postgres,
    /// where writers do not exclude each other, there is no turn.
    pub async fn write_turn(&self) -> Option<WriteTurn> {
        match &self.adapter.db {
            Db::Postgres(_) => None,
            Db::Sqlite(s) => Some(s.write_turn().await),
        }
    }

    /// Begins a read-model transaction on [`Store::read_pool`]. On SQLite it
    /// takes the write lock up front (`BEGIN IMMEDIATE`): a deferred
    /// transaction that reads its checkpoint and then writes would fail with
    /// `SQLITE_BUSY_SNAPSHOT` whenever an append committed in between. On
    /// Postgres its statements are planned for their arguments on every
    /// call: a read-model table starts empty, and a generic plan made then
    /// would keep scanning it as it grows (statistics lag far behind an
    /// on-sale).
    pub async fn begin_read_model(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let tx = match &self.adapter.db {
            Db::Postgres(s) => {
                s.read_pool()
                    .begin_with(crate::postgres::BEGIN_CUSTOM_PLANS)
                    .await?
            }
            Db::Sqlite(s) => s.read_pool().begin_with("BEGIN IMMEDIATE").await?,
        };
        Ok(tx)
    }

    /// Events of one stream with sequence greater than `after_sequence`, in
    /// sequence order, as stored (callers deserialize and upcast).
    pub async fn load<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
        after_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let events = match &self.adapter.db {
            Db::Postgres(s) => s.load(A::TYPE, aggregate_id, after_sequence).await?,
            Db::Sqlite(s) => s.load(A::TYPE, aggregate_id, after_sequence).await?,
        };
        Ok(self.adapter.upcasters.upcast_all(events))
    }

    /// Several streams in one round trip: one list of events per requested
    /// stream, in request order, each in sequence order. A command that
    /// decides on many streams (a multi-seat hold) reads them all at once.
    pub async fn load_streams(
        &self,
        streams: &[StreamRef<'_>],
    ) -> Result<Vec<Vec<SerializedEvent>>, StoreError> {
        let loaded = match &self.adapter.db {
            Db::Postgres(s) => s.load_streams(streams).await?,
            Db::Sqlite(s) => {
                let mut loaded = Vec::with_capacity(streams.len());
                for stream in streams {
                    loaded.push(
                        s.load(
                            stream.aggregate_type,
                            stream.aggregate_id,
                            stream.after_sequence,
                        )
                        .await?,
                    );
                }
                loaded
            }
        };
        Ok(loaded
            .into_iter()
            .map(|events| self.adapter.upcasters.upcast_all(events))
            .collect())
    }

    /// The events of the streams `ids` of `aggregate_type` recorded at or
    /// before `until`, by stream then sequence: what the log said at that
    /// instant (time-travel queries). Index lookups by stream id on both
    /// backends, however large the log.
    pub async fn history_of(
        &self,
        aggregate_type: &str,
        ids: &[String],
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let events = match &self.adapter.db {
            Db::Postgres(s) => s.history_of(aggregate_type, ids, until).await?,
            Db::Sqlite(s) => s.history_of(aggregate_type, ids, until).await?,
        };
        Ok(self.adapter.upcasters.upcast_all(events))
    }

    /// Appends to one or more streams in one transaction. Each stream's events
    /// get sequences `expected_sequence + 1 ..`; if any of them is taken, or
    /// the idempotency key is, nothing is written and the result is
    /// [`StoreError::Conflict`]. Streams without events are ignored.
    pub async fn append(
        &self,
        appends: &[StreamAppend],
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        self.append_with(appends, &[], idempotency, None).await
    }

    /// [`Store::append`], committed only if every stream of `conditions` is
    /// still at its sequence (see [`StreamCondition`]); otherwise nothing is
    /// written and the result is [`StoreError::Conflict`].
    pub async fn append_if(
        &self,
        appends: &[StreamAppend],
        conditions: &[StreamCondition],
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        self.append_with(appends, conditions, idempotency, None)
            .await
    }

    /// [`Store::append`], but the transaction stays open for `hold` after its
    /// writes, so tests can make commits land out of transaction-id order.
    #[cfg(feature = "testing")]
    pub async fn append_holding_open(
        &self,
        appends: &[StreamAppend],
        conditions: &[StreamCondition],
        hold: Duration,
    ) -> Result<(), StoreError> {
        self.append_with(appends, conditions, None, Some(hold))
            .await
    }

    /// Appends, each with its conditions and idempotency record, committed
    /// as one batch, as concurrent appends are; one outcome per append, in
    /// order. For tests of what a batch does with a conflict in it.
    #[cfg(feature = "testing")]
    pub async fn append_as_one_batch(
        &self,
        appends: &[Batched],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        match &self.adapter.db {
            Db::Postgres(s) => crate::group::commit_as_one(s, appends).await,
            Db::Sqlite(s) => crate::group::commit_as_one(s, appends).await,
        }
    }

    async fn append_with(
        &self,
        appends: &[StreamAppend],
        conditions: &[StreamCondition],
        idempotency: Option<&IdempotencyRecord>,
        hold: Option<Duration>,
    ) -> Result<(), StoreError> {
        match &self.adapter.db {
            Db::Postgres(s) => s.append(appends, conditions, idempotency, hold).await,
            Db::Sqlite(s) => s.append(appends, conditions, idempotency, hold).await,
        }
    }

    pub async fn idempotency(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let mut conn = self.read_pool().acquire().await?;
        crate::find_idempotency(&mut conn, self.backend(), scope, key).await
    }

    /// Up to `limit` events after `after`, in commit order. Every event
    /// committed before the call is returned by this call or the next ones:
    /// at the head of what this process has read, the call reads the
    /// database (one read shared with the calls waiting beside it). The
    /// recent feed is answered from the process's `Tail`; older positions
    /// (a catch-up, a rebuild) read the database directly.
    ///
    /// `shard` names the feed partition (design.md §12); there is one, `0`,
    /// so it is not used for reading yet.
    pub async fn read_feed(
        &self,
        shard: i32,
        after: FeedPosition,
        limit: usize,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        self.read_feed_as(FeedRead::Fresh, shard, after, limit)
            .await
    }

    /// Whether this process's feed window holds every event after `after`
    /// (then following from it reads memory only). A position from before
    /// the window, or any before the window is first placed, is not kept.
    pub fn feed_keeps(&self, after: FeedPosition) -> bool {
        self.tail.keeps(after)
    }

    /// [`Store::read_feed`] for a reader that follows the feed: at the head
    /// of what this process has read it answers nothing instead of asking
    /// the database, and the reader waits with [`Store::feed_past`].
    pub async fn follow_feed(
        &self,
        shard: i32,
        after: FeedPosition,
        limit: usize,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        self.read_feed_as(FeedRead::Follow, shard, after, limit)
            .await
    }

    /// [`Store::read_feed`] or [`Store::follow_feed`], as `how` says, for a
    /// reader that does both.
    pub async fn read_feed_as(
        &self,
        how: FeedRead,
        _shard: i32,
        after: FeedPosition,
        limit: usize,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        self.tail.read(&self.adapter, after, limit, how).await
    }

    /// The feed after `after`, only events of `aggregate_types`, at most
    /// `limit`, read from the database (no window): for a rebuild that
    /// folds a few aggregate types out of a large log. Events of other
    /// types are passed over by the database, not shipped and parsed. An
    /// empty answer says no event of those types follows `after` in what
    /// a read of the feed sees now; with a [`Store::feed_head`] taken just
    /// before it, every event up to that head has been read or passed.
    pub async fn read_feed_of(
        &self,
        aggregate_types: &[&str],
        after: FeedPosition,
        limit: usize,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        self.adapter
            .read_feed(after, limit, Some(aggregate_types))
            .await
    }

    /// What this process's feed reader holds of events of `types` after
    /// `after` and below `bound` ([`Store::reached_from`]).
    pub(crate) fn seen_of(
        &self,
        types: &[&str],
        after: FeedPosition,
        bound: FeedPosition,
    ) -> crate::tail::Seen {
        self.tail.seen_of(types, after, bound)
    }

    /// Resolves once this process's feed reader has read an event after
    /// `after`: a follower's cue to read again. The reader runs as long as
    /// the store, woken by appends through this process, by other
    /// processes' announcements (Postgres) and by a timer.
    pub async fn feed_past(&self, after: FeedPosition) {
        self.tail.past(&self.adapter, after).await
    }

    /// The position of the last event a [`Store::read_feed`] from the start
    /// would return, [`FeedPosition::START`] if none; for lag metrics.
    pub async fn feed_head(&self, _shard: i32) -> Result<FeedPosition, StoreError> {
        self.adapter.feed_head().await
    }

    /// Changes whenever new events may be readable: after every append through
    /// this process and, on Postgres, on every commit another process
    /// announces. Wakeups can be missed (e.g. while the listener reconnects),
    /// so readers also poll on a timer.
    pub fn feed_waker(&self) -> watch::Receiver<u64> {
        self.adapter.waker().subscribe()
    }

    fn new(db: Db) -> Store {
        Store {
            adapter: Adapter {
                db,
                upcasters: Upcasters::default(),
            },
            tail: Arc::new(Tail::default()),
        }
    }

    /// This handle with `upcasters` applied to everything it reads. Give
    /// them before the first read: the process's feed window keeps what it
    /// read.
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Store {
        self.adapter.upcasters = upcasters;
        self
    }

    /// This handle with a feed window of its own, of `capacity` events, so
    /// tests can make followers fall behind it.
    #[cfg(feature = "testing")]
    pub fn with_feed_window(self, capacity: usize) -> Store {
        Store {
            adapter: self.adapter,
            tail: Arc::new(Tail::with_capacity(capacity)),
        }
    }

    /// The bound past this process's last commit (`consistency.rs`).
    pub(crate) fn committed(&self) -> &crate::consistency::Committed {
        match &self.adapter.db {
            Db::Postgres(s) => s.commits(),
            Db::Sqlite(s) => s.commits(),
        }
    }

    pub(crate) fn adapter(&self) -> &Adapter {
        &self.adapter
    }
}

impl Adapter {
    /// The feed, of `aggregate_types` only if given, upcast to today's
    /// event versions: no cache in between.
    pub(crate) async fn read_feed(
        &self,
        after: FeedPosition,
        limit: usize,
        aggregate_types: Option<&[&str]>,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        let events = match &self.db {
            Db::Postgres(s) => s.read_feed(after, limit, aggregate_types).await?,
            Db::Sqlite(s) => s.read_feed(after, limit, aggregate_types).await?,
        };
        Ok(events
            .into_iter()
            .map(|mut event| {
                if self.upcasters.applies(&event.event) {
                    // Fresh from the database: the only holder, no copy.
                    let stored = Arc::unwrap_or_clone(event.event);
                    event.event = Arc::new(self.upcasters.upcast(stored));
                }
                event
            })
            .collect())
    }

    pub(crate) async fn feed_head(&self) -> Result<FeedPosition, StoreError> {
        match &self.db {
            Db::Postgres(s) => s.feed_head().await,
            Db::Sqlite(s) => s.feed_head().await,
        }
    }

    pub(crate) fn waker(&self) -> &FeedWaker {
        match &self.db {
            Db::Postgres(s) => s.waker(),
            Db::Sqlite(s) => s.waker(),
        }
    }
}

/// One writer's turn at an SQLite database, from [`Store::write_turn`].
pub struct WriteTurn {
    pub(crate) _held: tokio::sync::OwnedMutexGuard<()>,
}

/// Wakes feed readers. The store keeps one receiver so that the Postgres
/// listener task, which watches [`watch::Sender::closed`], lives as long as
/// the store or any reader.
#[derive(Clone)]
pub(crate) struct FeedWaker {
    tx: watch::Sender<u64>,
    _keepalive: watch::Receiver<u64>,
}

impl FeedWaker {
    pub(crate) fn new() -> Self {
        let (tx, rx) = watch::channel(0);
        FeedWaker { tx, _keepalive: rx }
    }

    pub(crate) fn wake(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    pub(crate) fn sender(&self) -> watch::Sender<u64> {
        self.tx.clone()
    }
}

/// Opens the read-model pool; the `Any` driver needs its drivers registered
/// once per process. `on_connect`, if any, runs on every new connection:
/// the adapter's own session settings.
pub(crate) async fn connect_read_pool(
    url: &str,
    max_connections: u32,
    on_connect: Option<String>,
) -> Result<sqlx::AnyPool, StoreError> {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            let statement = on_connect.clone();
            Box::pin(async move {
                if let Some(statement) = statement {
                    sqlx::query(&statement).execute(conn).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    Ok(pool)
}

/// The event store's schema: the log, checkpoints, idempotency records and
/// the feed's functions.
pub static EVENT_STORE: Context = Context {
    name: "event_store",
    migrations: &[
        Migration {
            version: 1,
            description: "baseline: events, checkpoints, idempotency records, feed functions",
            run: baseline,
        },
        Migration {
            version: 2,
            description: "lock_checkpoints: a projector's lock and checkpoints in one statement",
            run: lock_checkpoints,
        },
    ],
};

/// Postgres only: SQLite's writers take turns, so it needs no lock.
fn lock_checkpoints(
    conn: &mut AnyConnection,
    backend: Backend,
) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    let statements: &[&str] = match backend {
        Backend::Postgres => &[crate::postgres::LOCK_CHECKPOINTS],
        Backend::Sqlite => &[],
    };
    Box::pin(crate::migrations::run_all(conn, statements.iter()))
}

fn baseline(conn: &mut AnyConnection, backend: Backend) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(crate::migrations::run_all(
        conn,
        match backend {
            Backend::Postgres => crate::postgres::SCHEMA,
            Backend::Sqlite => crate::sqlite::SCHEMA,
        }
        .iter(),
    ))
}
