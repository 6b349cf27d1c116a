//! Read-your-writes, the store's part: a bound past a client's write
//! ([`Store::write_bound`]) and whether a follower of the feed (a read
//! model) has applied everything of interest below it
//! ([`Store::reached`]).
//!
//! A bound is a [`FeedPosition`] that no committed event reaches yet:
//! every event committed before the call lies below it. On Postgres it is
//! `(xmax, 0)` of a fresh snapshot: every transaction that had started,
//! so every commit the caller saw, has a smaller id. On SQLite, where
//! commits are serial, it is one past the last `global_seq`.
//!
//! A read model has reached a bound when its checkpoint is at or past it,
//! or when every event below the bound is visible to the feed and none of
//! them after its checkpoint is of a type it folds: a projector that
//! passes over other events is not waited for (its checkpoint may lag
//! behind them by up to `MAX_SKIP_AGE`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{load_checkpoint, Backend, FeedPosition, Store, StoreError};

/// The bound last read, shared: concurrent commands of a process ask for
/// their token together, and one read of the frontier that began after an
/// append answered serves every append answered before it began.
#[derive(Default)]
pub(crate) struct Bounds {
    /// Appends of this process that have their answer.
    appends: AtomicU64,
    /// The last bound read, with the count of appends when its read began.
    last: tokio::sync::Mutex<Option<(u64, FeedPosition)>>,
}

impl Bounds {
    /// An append (of any outcome) has its answer.
    pub(crate) fn appended(&self) {
        self.appends.fetch_add(1, Ordering::SeqCst);
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
        let bounds = &self.bounds;
        // Counts the caller's own append: a read that began at this count
        // or later began after it.
        let mine = bounds.appends.load(Ordering::SeqCst);
        let mut last = bounds.last.lock().await;
        if let Some((began, bound)) = *last {
            if began >= mine {
                return Ok(bound);
            }
        }
        let began = bounds.appends.load(Ordering::SeqCst);
        let bound = self.frontier().await?.next;
        *last = Some((began, bound));
        Ok(bound)
    }

    /// Whether the follower that keeps checkpoint `checkpoint` (shard 0) and
    /// folds events of `types` has applied every such event below `bound`.
    pub async fn reached(
        &self,
        checkpoint: &str,
        types: &[&str],
        bound: FeedPosition,
    ) -> Result<Reached, StoreError> {
        let mut conn = self.read_pool().acquire().await?;
        let at = load_checkpoint(&mut conn, self.backend(), checkpoint, 0).await?;
        drop(conn);
        if at >= bound {
            return Ok(Reached::Yes);
        }
        let frontier = self.frontier().await?;
        if bound > frontier.next {
            return Ok(Reached::Ahead);
        }
        if bound > frontier.visible {
            return Ok(Reached::NotYet);
        }
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
