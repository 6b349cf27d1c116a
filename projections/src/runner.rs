//! The projector runner: tails the global feed from a checkpoint and applies
//! each batch, with the checkpoint, in one read-model transaction.
//!
//! Two runners of the same projection and shard (two processes) never
//! apply a batch twice: on Postgres each batch transaction first takes a
//! transaction-level advisory lock named after the projection and shard,
//! then reads the checkpoints, in one statement (`lock_checkpoints`); on
//! SQLite the transaction holds the write lock from its start.
//!
//! A runner given a [`Shard`] (`with_shard`) applies only its shows' events
//! and keeps its own checkpoint `(name, K)`, moved past every event it read
//! (`shard.rs`); each batch first checks that the checkpoints are laid out
//! for its shard count (`layout.rs`).
//!
//! Between batches the runner passes over events its projection does not
//! read in memory ([`Skip`]), so the orders projector costs no transaction
//! while only seats are being held: during an on-sale most of the
//! projectors' batches were a locked transaction that applied nothing.

use sqlx::AnyConnection;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use ticketing_event_store::{
    load_checkpoint, save_checkpoint, Backend, FeedEvent, FeedPosition, FeedRead, Skip, Store,
};
use tokio::sync::watch;
use tracing::Instrument;

use crate::{record_error, ProjectionError, Shard};

/// The feed read (design.md §12: one feed today; every projector shard
/// reads all of it).
const FEED: i32 = 0;

/// The advisory-lock key of shard `shard` of projector `name`'s checkpoint:
/// the live runner takes it for each batch, and a rebuild takes every
/// shard's to exclude the runners.
pub(crate) fn lock_key(name: &str, shard: i32) -> String {
    format!("projector:{name}:{shard}")
}

/// Takes lock `key` for the rest of the transaction `conn` is in (on
/// Postgres; SQLite's writers already take turns). The checkpoint is read
/// by a later statement, whose snapshot sees what the last holder committed.
pub(crate) async fn lock(
    conn: &mut AnyConnection,
    backend: Backend,
    key: &str,
) -> Result<(), ProjectionError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(key)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A read model fed by the global feed.
pub trait Projection: Send + Sync + 'static {
    /// Unique name; keys the checkpoint.
    fn name(&self) -> &'static str;

    /// Applies a batch of the feed, in feed order, inside the batch
    /// transaction; a projection may fold the batch first and write each
    /// row once. Events of aggregates it does not read are ignored.
    fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        events: &[FeedEvent],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;

    /// Whether `apply_batch` reads `event` at all: the runner passes over
    /// stretches of events nobody wants without a transaction for them
    /// (see [`Skip`]). Must be true of every event the projection uses.
    fn wants(&self, _event: &FeedEvent) -> bool {
        true
    }
}

pub struct Projector<P> {
    store: Store,
    projection: P,
    batch_size: usize,
    idle_poll: Duration,
    delay: Duration,
    shard: Shard,
}

impl<P: Projection> Projector<P> {
    pub fn new(store: Store, projection: P) -> Self {
        Self {
            store,
            projection,
            batch_size: 256,
            idle_poll: Duration::from_millis(500),
            delay: Duration::ZERO,
            shard: Shard::WHOLE,
        }
    }

    /// Keeps only `shard`'s shows, under its own checkpoint; for a model
    /// split among shards ([`crate::ReadModel::sharded`]).
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    /// Pauses `delay` before each step, holding nothing (no lock, no
    /// transaction): tests slow a projector down on purpose to show that
    /// readers wait for their own writes.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Applies at most one batch; returns how many events it applied.
    pub async fn step(&self) -> Result<usize, ProjectionError> {
        Ok(self.step_at(FeedRead::Fresh, None).await?.0)
    }

    /// [`Projector::step`] from after `skip` if it still applies, also
    /// returning the checkpoint it left; saves the checkpoint past skipped
    /// events even when there is nothing to apply.
    async fn step_at(
        &self,
        read: FeedRead,
        skip: Option<Skip>,
    ) -> Result<(usize, FeedPosition), ProjectionError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let backend = self.store.backend();
        let name = self.projection.name();
        let shard = self.shard;
        let _turn = self.store.write_turn().await;
        let mut tx = self.store.begin_read_model().await?;
        let saved = crate::layout::lock_and_resume(
            &mut tx,
            backend,
            &lock_key(name, shard.id()),
            name,
            shard,
        )
        .await?;
        let after = skip.map_or(saved, |skip| skip.resume(saved));
        let mut batch = self
            .store
            .read_feed_as(read, FEED, after, self.batch_size)
            .await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            // Nothing after the skipped events: save how far they went, so
            // an idle projector's checkpoint is at the head.
            if after != saved {
                save_checkpoint(&mut tx, backend, name, shard.id(), after).await?;
                tx.commit().await?;
            }
            return Ok((0, after));
        };
        let read = batch.len();
        batch.retain(|event| shard.owns_event(event));
        let span = tracing::info_span!("projector_batch", projection = name, %shard, events = read, after = ?after);
        async {
            self.projection.apply_batch(&mut tx, &batch).await?;
            save_checkpoint(&mut tx, backend, name, shard.id(), last).await?;
            tx.commit().await?;
            Ok::<_, ProjectionError>(())
        }
        .instrument(span)
        .await?;
        Ok((read, last))
    }

    /// Applies batches until the feed is drained.
    pub async fn catch_up(&self) -> Result<FeedPosition, ProjectionError> {
        while self.step().await? > 0 {}
        self.checkpoint().await
    }

    pub async fn checkpoint(&self) -> Result<FeedPosition, ProjectionError> {
        let mut conn = self.store.read_pool().acquire().await?;
        Ok(load_checkpoint(
            &mut conn,
            self.store.backend(),
            self.projection.name(),
            self.shard.id(),
        )
        .await?)
    }

    /// Publishes how many events the log holds beyond this projector's
    /// checkpoint (global positions apart, so approximate under concurrent
    /// commits); a failed read only skips one sample.
    async fn record_lag(&self, name: String, shard: String) {
        if let (Ok(head), Ok(at)) = (self.store.feed_head(FEED).await, self.checkpoint().await) {
            metrics::gauge!("ticketing_projection_lag_events", "projection" => name, "shard" => shard)
                .set((head.seq - at.seq).max(0) as f64);
        }
    }

    /// Runs until `shutdown` turns true: applies a batch whenever the
    /// process's feed reader has events past the checkpoint that the
    /// projection wants, passes over the others in memory ([`Skip`]), and
    /// steps on an idle poll. Errors are logged and retried with backoff,
    /// since a read model that stops is worse than one that lags.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let me = Arc::new(self);
        let mut backoff = Duration::from_millis(100);
        // The lag costs two queries: sampled once a second, not per batch.
        let mut lag_sampled: Option<std::time::Instant> = None;
        let shard = me.shard.index().to_string();
        let mut skip = None;
        while !*shutdown.borrow() {
            let name = me.projection.name().to_owned();
            // The process's feed reader polls by itself, so an idle poll
            // here need not ask the database for the feed again.
            // The batch runs in a task of its own, so a projector stopped
            // mid-batch (its task aborted) cannot leave a pooled connection
            // inside a read-model transaction it never got to end: a
            // `BEGIN IMMEDIATE` cancelled while it waited for SQLite's write
            // lock did just that, and the lock was never given back.
            let step = tokio::spawn({
                let me = Arc::clone(&me);
                let skip = skip.take();
                async move { me.step_at(FeedRead::Follow, skip).await }
            });
            let stepped = step
                .await
                .unwrap_or_else(|failed| Err(ProjectionError::BatchPanicked(failed.to_string())));
            let (at, pause) = match stepped {
                Ok((0, at)) => {
                    metrics::gauge!("ticketing_projection_lag_events", "projection" => name, "shard" => shard.clone())
                        .set(0.0);
                    (Some(at), me.idle_poll)
                }
                Ok((applied, at)) => {
                    metrics::counter!("ticketing_projection_events_total", "projection" => name.clone(), "shard" => shard.clone()).increment(applied as u64);
                    if lag_sampled.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                        lag_sampled = Some(std::time::Instant::now());
                        me.record_lag(name, shard.clone()).await;
                    }
                    backoff = Duration::from_millis(100);
                    (Some(at), me.idle_poll)
                }
                Err(error) => {
                    tracing::error!(projection = %name, shard = %me.shard, error = %error, "projector batch failed; retrying");
                    metrics::counter!("ticketing_projection_errors_total", "projection" => name.clone(), "shard" => shard.clone()).increment(1);
                    if let Err(unrecorded) = record_error(
                        &me.store,
                        &name,
                        me.shard.id(),
                        &error.to_string(),
                        chrono::Utc::now(),
                    )
                    .await
                    {
                        tracing::warn!(projection = %name, error = %unrecorded, "could not record the projector's error");
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    (None, backoff)
                }
            };
            let Some(at) = at else {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            };
            // Waits for the next event this projector's shard wants, passing
            // over the others; the next step starts after them.
            let mut passed = Skip::at(at);
            let wants =
                |event: &FeedEvent| me.shard.owns_event(event) && me.projection.wants(event);
            tokio::select! {
                _ = me.store.skip_unwanted(&mut passed, me.batch_size, pause, wants) => {}
                _ = shutdown.changed() => {}
            }
            skip = Some(passed);
        }
    }
}
