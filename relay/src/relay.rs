//! The relay runner: tails the global feed from its checkpoint, publishes
//! each batch's integration events, and advances the checkpoint only after
//! the publisher acknowledged the whole batch.
//!
//! A crash (or a failed publish) between the two leaves the checkpoint
//! behind, so the batch is published again: delivery is at least once, and
//! the repeat carries the same envelope ids for consumers to dedupe. A
//! stored event the mapping cannot read stops the relay there (logged and
//! counted as a failure) instead of being skipped.
//!
//! Two relays of one checkpoint never publish the same batch at once: on
//! Postgres each batch runs inside a read-model transaction that first takes
//! the advisory lock `<checkpoint>:<shard>` (`relay:0`, `worker:notifier:0`)
//! and keeps it until the checkpoint is
//! saved. That transaction only reads until then, so it has no transaction
//! id and does not hold back the feed's `xmin` horizon while the broker
//! answers. SQLite is one process's file, and its write lock would stop
//! every append while the broker answers: there the checkpoint is read
//! without a lock and saved in a short `BEGIN IMMEDIATE` transaction that
//! never moves it backwards.
//!
//! Between batches the relay passes over events on none of its topics in
//! memory ([`Skip`]): the fulfillment worker costs no transaction while
//! only seats are being held.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::AnyConnection;
use ticketing_event_store::{
    load_checkpoint, lock_checkpoint, save_checkpoint, Backend, FeedPosition, FeedRead, Skip,
    Store, StoreError,
};
use tokio::sync::watch;
use tracing::Instrument;

use ticketing_bus::{integration_events_of, publishes, EnvelopeError, IntegrationEvent};

use crate::health::RelayHealth;
use crate::publisher::{PublishError, Publisher};

/// Feed shard read by this process (design.md §12: one shard today).
const SHARD: i32 = 0;

/// The checkpoint name of the relay to Kafka.
pub const CHECKPOINT: &str = "relay";

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("relay checkpoint: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

pub struct Relay<P> {
    store: Store,
    publisher: P,
    checkpoint: String,
    batch_size: usize,
    idle_poll: Duration,
    /// When the backlog (two queries) was last sampled: once a second at
    /// most, not after every batch.
    backlog_sampled: std::sync::Mutex<Option<std::time::Instant>>,
    health: RelayHealth,
}

impl<P: Publisher> Relay<P> {
    pub fn new(store: Store, publisher: P) -> Self {
        Relay {
            store,
            publisher,
            checkpoint: CHECKPOINT.to_owned(),
            batch_size: 256,
            idle_poll: Duration::from_millis(500),
            backlog_sampled: std::sync::Mutex::new(None),
            health: RelayHealth::default(),
        }
    }

    /// Keeps this relay's position under another name, for a destination
    /// that must not share the Kafka relay's progress (an in-process worker).
    pub fn with_checkpoint(mut self, name: impl Into<String>) -> Self {
        self.checkpoint = name.into();
        self
    }

    /// Whether this relay's batches keep failing (for `/readyz`).
    pub fn health(&self) -> RelayHealth {
        self.health.clone()
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Relays at most one batch of the feed; returns how many feed events
    /// it moved past (published or not). Records the relay's metrics,
    /// labelled with its checkpoint (`relay`, `worker:fulfillment`, …).
    pub async fn step(&self) -> Result<usize, RelayError> {
        Ok(self.step_at(FeedRead::Fresh, None).await?.0)
    }

    /// [`Relay::step`] from after `skip` if it still applies, also
    /// returning the checkpoint it left.
    async fn step_at(
        &self,
        read: FeedRead,
        skip: Option<Skip>,
    ) -> Result<(usize, FeedPosition), RelayError> {
        let result = self.try_step(read, skip).await;
        let failing = match &result {
            Ok(_) => {
                self.health.succeeded();
                0
            }
            Err(error) => self.health.failed(error),
        };
        metrics::gauge!("ticketing_relay_consecutive_failures", "checkpoint" => self.checkpoint.clone())
            .set(f64::from(failing));
        match &result {
            Ok((0, _)) => {
                metrics::gauge!("ticketing_relay_backlog_events", "checkpoint" => self.checkpoint.clone())
                    .set(0.0);
            }
            Ok(_) => self.record_backlog().await,
            Err(_) => {
                metrics::counter!("ticketing_relay_failures_total", "checkpoint" => self.checkpoint.clone())
                    .increment(1);
                self.record_backlog().await;
            }
        }
        result
    }

    async fn try_step(
        &self,
        read: FeedRead,
        skip: Option<Skip>,
    ) -> Result<(usize, FeedPosition), RelayError> {
        let backend = self.store.backend();
        // On Postgres: the locked transaction the checkpoint is read and
        // later saved in.
        let mut locked = None;
        let saved = match backend {
            Backend::Postgres => {
                let mut tx = self.store.begin_read_model().await?;
                let lock = format!("{}:{SHARD}", self.checkpoint);
                let after =
                    lock_checkpoint(&mut tx, backend, &lock, &self.checkpoint, SHARD).await?;
                locked = Some(tx);
                after
            }
            Backend::Sqlite => {
                let mut conn = self.store.read_pool().acquire().await?;
                load_checkpoint(&mut conn, backend, &self.checkpoint, SHARD).await?
            }
        };
        let after = skip.map_or(saved, |skip| skip.resume(saved));
        let batch = self
            .store
            .read_feed_as(read, SHARD, after, self.batch_size)
            .await?;
        // Nothing after the skipped events: save how far they went, so an
        // idle relay's checkpoint is at the head.
        let Some(last) = batch.last().map(|e| e.position) else {
            if after != saved {
                self.save(locked, after).await?;
            }
            return Ok((0, after));
        };
        let events = integration_events_of(&self.store, &batch, self.publisher.topics()).await?;
        let per_topic = count_per_topic(&events);
        let span = tracing::info_span!(
            "relay_publish",
            events = events.len(),
            topics = per_topic.len(),
            after = ?after,
        );
        if !events.is_empty() {
            self.publisher.publish(&events).instrument(span).await?;
        }
        self.save(locked, last).await?;
        for (topic, count) in per_topic {
            metrics::counter!(
                "ticketing_relay_published_total",
                "checkpoint" => self.checkpoint.clone(),
                "topic" => topic
            )
            .increment(count);
        }
        Ok((batch.len(), last))
    }

    /// Saves the checkpoint `to`, in `locked` (Postgres) or in a short
    /// transaction of its own taken in turn (SQLite).
    async fn save(
        &self,
        locked: Option<sqlx::Transaction<'static, sqlx::Any>>,
        to: FeedPosition,
    ) -> Result<(), RelayError> {
        let _turn = self.store.write_turn().await;
        let backend = self.store.backend();
        let tx = match locked {
            // The lock was held since the checkpoint was read: nobody else
            // moved it, so it is saved without reading it again.
            Some(mut tx) => {
                save_checkpoint(&mut tx, backend, &self.checkpoint, SHARD, to).await?;
                tx
            }
            None => {
                let mut tx = self.store.begin_read_model().await?;
                advance(&mut tx, backend, &self.checkpoint, to).await?;
                tx
            }
        };
        tx.commit().await?;
        Ok(())
    }

    /// Relays batches until the feed is drained; returns the checkpoint.
    pub async fn catch_up(&self) -> Result<FeedPosition, RelayError> {
        while self.step().await? > 0 {}
        self.checkpoint().await
    }

    /// The position this relay has published up to.
    pub async fn checkpoint(&self) -> Result<FeedPosition, RelayError> {
        let mut conn = self.store.read_pool().acquire().await?;
        Ok(load_checkpoint(&mut conn, self.store.backend(), &self.checkpoint, SHARD).await?)
    }

    /// Events in the log beyond the checkpoint (global positions apart, so
    /// approximate under concurrent commits); a failed read skips a sample.
    async fn record_backlog(&self) {
        {
            let mut sampled = self
                .backlog_sampled
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if sampled.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
                return;
            }
            *sampled = Some(std::time::Instant::now());
        }
        if let (Ok(head), Ok(at)) = (self.store.feed_head(SHARD).await, self.checkpoint().await) {
            metrics::gauge!("ticketing_relay_backlog_events", "checkpoint" => self.checkpoint.clone())
                .set((head.seq - at.seq).max(0) as f64);
        }
    }

    /// Runs until `shutdown` turns true: relays a batch whenever the
    /// process's feed reader is past the checkpoint, and on an idle poll.
    /// Errors (broker or database down) are logged and retried with
    /// backoff; the unacknowledged batch is published again. Shutdown does
    /// not wait for the broker: a batch cut short is simply published again
    /// by the next run.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        let mut skip = None;
        let topics = self.publisher.topics();
        loop {
            let step = tokio::select! {
                // The process's feed reader polls by itself, so an idle
                // poll here need not ask the database for the feed again.
                step = self.step_at(FeedRead::Follow, skip.take()) => step,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            match step {
                Ok((_, at)) => {
                    backoff = Duration::from_millis(100);
                    // Events on no topic of this relay are passed over in
                    // memory, without a transaction (see `Skip`).
                    let mut passed = Skip::at(at);
                    tokio::select! {
                        _ = self.store.skip_unwanted(&mut passed, self.batch_size, self.idle_poll, |event| {
                            publishes(event, topics)
                        }) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                    skip = Some(passed);
                }
                Err(error) => {
                    tracing::error!(relay = %self.checkpoint, error = %error, "relay batch failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

fn count_per_topic(events: &[IntegrationEvent]) -> BTreeMap<&'static str, u64> {
    let mut counts = BTreeMap::new();
    for event in events {
        *counts.entry(event.topic).or_insert(0) += 1;
    }
    counts
}

/// Saves `to` unless the stored checkpoint is already there or beyond (a
/// second SQLite relay got there first).
async fn advance(
    conn: &mut AnyConnection,
    backend: Backend,
    name: &str,
    to: FeedPosition,
) -> Result<(), StoreError> {
    if load_checkpoint(conn, backend, name, SHARD).await? < to {
        save_checkpoint(conn, backend, name, SHARD, to).await?;
    }
    Ok(())
}
