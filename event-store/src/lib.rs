//! The event-store port and its two adapters.
//!
//! [`Store`] is the one handle the rest of the engine uses: it loads a
//! stream's events, appends to one or more streams atomically with an expected
//! sequence per stream, reads the durable commit-ordered global feed, keeps
//! projector checkpoints and idempotency records, and hands out an
//! [`sqlx::AnyPool`] on the same database for read models.
//!
//! * `postgres.rs` — Postgres: postgres-es's table (pure event-store
//!   mode), read and written by our own statements on `event_store.events`; every append, on one stream or several, is
//!   one multi-row insert of postgres-es's columns in one transaction;
//!   `postgres/feed.rs` orders the feed by `(tx_id, global_seq)` below the
//!   `xmin` horizon and wakes readers on LISTEN/NOTIFY.
//! * `sqlite.rs` — SQLite (sqlx): one writer, so rowid order is commit order.
//! * `store.rs` — the [`Store`] handle that picks an adapter from the URL.
//! * `repository.rs` — [`Store`] as a cqrs-es `PersistedEventRepository`.
//! * `group.rs` — group commit: concurrent appends commit as one batch,
//!   each with its own outcome (`sqlite/batch.rs`, `postgres/batch.rs`).
//! * `skip.rs` — [`Skip`]: followers pass over events they do not read
//!   without a transaction per batch.
//! * `migrations.rs` — versioned schema migrations of every bounded context,
//!   applied in one transaction under one lock.
//! * `exclusive.rs` — [`Exclusive`]: a named lock one process holds at a
//!   time (a rebuild), freed with its holder.
//! * `upcast.rs` — [`Upcasters`]: older event versions brought to today's
//!   shape on every read path.
//! * `consistency.rs` — read-your-writes: a bound past a write, and whether
//!   a read model has reached it.
//! * `checkpoint.rs` — projector checkpoints, kept in the read database so they
//!   commit in the same transaction as the read-model rows.
//! * `transient.rs` — [`is_transient`]: which database failures are worth a
//!   retry (UNAVAILABLE), for every crate that talks to a database.
//!
//! Both pass the same contract suite in `tests/contract/`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
pub use cqrs_es::persist::SerializedEvent;
use serde_json::Value;
use sqlx::error::ErrorKind;

mod checkpoint;
mod consistency;
mod exclusive;
mod group;
mod idempotency;
pub mod migrations;
pub mod postgres;
mod repository;
mod skip;
pub mod sqlite;
mod store;
mod tail;
#[cfg(feature = "testing")]
pub mod testing;
mod transient;
pub mod upcast;

pub use checkpoint::{
    claim_checkpoint, delete_checkpoint, load_checkpoint, load_checkpoints, lock_checkpoint,
    lock_checkpoints, save_checkpoint,
};
pub use consistency::Reached;
pub use exclusive::Exclusive;
pub use idempotency::{find_idempotency, insert_idempotency};
pub use skip::{Skip, MAX_SKIP_AGE};
#[cfg(feature = "testing")]
pub use store::Batched;
pub use store::{Store, WriteTurn, EVENT_STORE};
pub use transient::{is_transient, is_transient_sqlstate};
pub use upcast::{EventUpcaster, Upcasters};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A place in the global feed. `(tx, seq)` compare lexicographically; the
/// start of the feed is `FeedPosition::START`. On SQLite `tx` is always 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FeedPosition {
    pub tx: i64,
    pub seq: i64,
}

impl FeedPosition {
    pub const START: FeedPosition = FeedPosition { tx: 0, seq: 0 };
}

/// How [`Store::read_feed_as`] reads at the head of what this process's
/// feed reader has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedRead {
    /// Asks the database, so every commit made before the call is seen
    /// ([`Store::read_feed`]): for `step` and `catch_up`.
    Fresh,
    /// Answers from the feed reader only ([`Store::follow_feed`]): for a
    /// loop woken by [`Store::feed_past`].
    Follow,
    /// Answers from the feed reader's window only, never the database:
    /// nothing for a position before the window ([`Store::skip_unwanted`]).
    Memory,
}

/// One event as the global feed delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// Cursor to resume after this event.
    pub position: FeedPosition,
    /// The event's global position (`global_seq`), unique across the log.
    pub global_seq: i64,
    pub recorded_at: DateTime<Utc>,
    /// The event as stored, shared: every follower of a process gets the
    /// same one from its feed reader, so handing it out copies nothing.
    pub event: Arc<SerializedEvent>,
}

/// A stream to load and the sequence to load after (0: from its start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRef<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub after_sequence: usize,
}

/// New events for one stream, appended after `expected_sequence` (0 for a
/// stream with no events). Events get sequences `expected_sequence + 1 ..`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamAppend {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub expected_sequence: usize,
    pub events: Vec<NewEvent>,
}

/// A stream a decision read but does not write, which must still be at
/// `sequence` (0: no events) when the append commits; otherwise the append
/// fails with [`StoreError::Conflict`]. A hold reads its show's status this
/// way, so it can never commit after the show was cancelled.
///
/// The check holds against concurrent writers too: on Postgres a condition
/// takes a shared advisory lock on its stream before it looks, and every
/// append takes the exclusive lock of each stream it writes, so an append
/// to the stream and a conditional append on it never overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCondition {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: usize,
}

/// An event not yet in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
}

/// The stored outcome of a command sent with an idempotency key; written in
/// the same transaction as the command's events.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// Who sent it and which RPC, e.g. `u_01J…:ReserveSeats`.
    pub scope: String,
    pub key: String,
    /// Hash of the request, to tell a replay from a reuse with other input.
    pub request_hash: String,
    /// The command's result, serialized by the caller.
    pub response: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A stream had moved past the expected sequence, or the idempotency key
    /// was written concurrently: reload and decide again.
    #[error("optimistic concurrency conflict")]
    Conflict,
    /// The database could not be reached, timed out, is restarting or
    /// failing over, or rolled the transaction back ([`is_transient`]):
    /// retry later. An append that fails so may or may not have committed;
    /// its idempotency record, written in the same transaction, tells a
    /// retry which.
    #[error("event store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("event store error: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub(crate) fn other(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Other(Box::new(err))
    }
}

/// Database error codes are mapped here, once, for both adapters: any unique
/// violation (an events key or an idempotency key) is a lost race, and a
/// transient failure ([`is_transient`]) is [`StoreError::Unavailable`].
impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                StoreError::Conflict
            }
            _ if is_transient(&err) => StoreError::Unavailable(Box::new(err)),
            _ => StoreError::Other(Box::new(err)),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::other(err)
    }
}
