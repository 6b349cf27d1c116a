//! Read-your-writes, the store's part: a bound past a client's write
//! ([`Store::write_bound`]) and whether a follower of the feed (a read
//! model) has applied everything of interest below it
//! ([`Store::reached`]).
//!
//! A bound is a [`FeedPosition`] past a commit, and past no event that is
//! not committed yet. After a write it is the position just past the
//! process's last commit, which the append statements return: on Postgres
//! `(xid + 1, 0)` (the feed orders by transaction id first), on SQLite,
//! where commits are serial, one past the last `global_seq`. Before any
//! write of the process it is read from the database: `(xmax, 0)` of a
//! fresh snapshot, or one past the last `global_seq`.
//!
//! A read model has reached a bound when its checkpoint (of a model kept by
//! several projector shards: the lowest, unless the caller picks the shard
//! that keeps what it reads, [`Store::reached_from`]) is at or past it,
//! or when every event below the bound is visible to the feed and none of
//! them after its checkpoint is of a type it folds: a projector that
//! passes over other events is not waited for (its checkpoint may lag
//! behind them by up to `MAX_SKIP_AGE`).

use std::sync::atomic::{AtomicI64, Ordering};

use crate::tail::Seen;
use crate::{load_checkpoints, Backend, FeedPosition, Store, StoreError};

/// The bound past the last commit of this process: each adapter raises it
/// as its appends commit, from what the append statement itself returned
/// (Postgres: the transaction id, SQLite: the last `global_seq`), so a
/// command's token costs no query.
#[derive(Default)]
pub(crate) struct Committed(AtomicI64);

impl Committed {
    /// An append committed at `position` (its transaction, or its last event
    /// on SQLite): the bound moves just past it.
    pub(crate) fn passed(&self, position: FeedPosition) {
        let bound = match position.tx {
            0 => position.seq.saturating_add(1),
            tx => tx.saturating_add(1),
        };
        self.0.fetch_max(bound, Ordering::SeqCst);
    }

    fn bound(&self, backend: Backend) -> Option<FeedPosition> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            n => Some(match backend {
                Backend::Postgres => FeedPosition { tx: n, seq: 0 },
                Backend::Sqlite => FeedPosition { tx: 0, seq: n },
            }),
        }
    }
}

/// What [`Store::reached`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    Yes,
    /// Not yet: events below the bound are still to be applied, or not yet
    /// visible to the feed (an older transaction is still running).
    NotYet,
    /// The bound is past anything this log has handed out: a made-up or
    /// foreign token.
    Ahead,
}

/// Where the log stands now: every event below `visible` can be read from
/// the feed, and every committed event lies below `next`.
struct Frontier {
    visible: FeedPosition,
    next: FeedPosition,
}

impl Store {
    /// A bound past every event committed before this call (module doc):
    /// taken after a write, it is that write's consistency token.
    pub async fn write_bound(&self) -> Result<FeedPosition, StoreError> {
        // Past every commit of this process, the caller's among them; a
        // process that has not written yet reads the frontier.
        match self.committed().bound(self.backend()) {
            Some(bound) => Ok(bound),
            None => Ok(self.frontier().await?.next),
        }
    }

    /// Whether the follower that keeps checkpoint `checkpoint` and folds
    /// events of `types` has applied every such event below `bound`; a
    /// follower split into shards has when every shard has (its lowest
    /// checkpoint is what counts).
    pub async fn reached(
        &self,
        checkpoint: &str,
        types: &[&str],
        bound: FeedPosition,
    ) -> Result<Reached, StoreError> {
        let mut conn = self.read_pool().acquire().await?;
        let shards = load_checkpoints(&mut conn, self.backend(), checkpoint).await?;
        drop(conn);
        let at = shards.into_iter().map(|(_, at)| at).min();
        self.reached_from(at.unwrap_or(FeedPosition::START), types, bound)
            .await
    }

    /// [`Store::reached`] for a follower whose checkpoint the caller has
    /// read, `at`: e.g. the one shard that keeps the rows a query reads.
    pub async fn reached_from(
        &self,
        at: FeedPosition,
        types: &[&str],
        bound: FeedPosition,
    ) -> Result<Reached, StoreError> {
        if at >= bound {
            return Ok(Reached::Yes);
        }
        // This process's feed reader answers for the events it holds: a
        // follower whose checkpoint trails behind events it does not read
        // (it saves it after a `Skip`) costs no database scan of them.
        let seen = self.seen_of(types, at, bound);
        if matches!(seen, Seen::Clear(through) if through >= bound) {
            return Ok(Reached::Yes);
        }
        let frontier = self.frontier().await?;
        if bound > frontier.next {
            return Ok(Reached::Ahead);
        }
        if bound > frontier.visible {
            return Ok(Reached::NotYet);
        }
        let at = match seen {
            Seen::Pending => return Ok(Reached::NotYet),
            Seen::Clear(through) => at.max(through),
            Seen::Unknown => at,
        };
        let pending = self.read_feed_of(types, at, 1).await?;
        Ok(match pending.first() {
            Some(event) if event.position < bound => Reached::NotYet,
            _ => Reached::Yes,
        })
    }

    async fn frontier(&self) -> Result<Frontier, StoreError> {
        use sqlx::Row;
        match self.backend() {
            Backend::Postgres => {
                let row = sqlx::query(
                    "SELECT pg_snapshot_xmin(s)::text::bigint AS xmin, \
                            pg_snapshot_xmax(s)::text::bigint AS xmax \
                     FROM pg_current_snapshot() AS s",
                )
                .fetch_one(self.read_pool())
                .await?;
                let position = |tx: i64| FeedPosition { tx, seq: 0 };
                Ok(Frontier {
                    visible: position(row.try_get("xmin")?),
                    next: position(row.try_get("xmax")?),
                })
            }
            Backend::Sqlite => {
                let last: i64 =
                    sqlx::query_scalar("SELECT coalesce(max(global_seq), 0) FROM events")
                        .fetch_one(self.read_pool())
                        .await?;
                let next = FeedPosition {
                    tx: 0,
                    seq: last + 1,
                };
                Ok(Frontier {
                    visible: next,
                    next,
                })
            }
        }
    }
}
