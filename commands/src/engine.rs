//! [`Engine`]: the write side's handle. Holds the store, the clock, the seat
//! gate and the show cache, and owns the commit step that every command ends
//! with: one atomic append carrying the events and, when the caller sent an
//! idempotency key, the stored response.

use serde::{de::DeserializeOwned, Serialize};
use std::sync::Arc;
use std::time::Duration;
use ticketing_aggregates::{Cart, Clock, CustomerHolds, OrderItem, PaymentProvider};
use ticketing_event_store::{IdempotencyRecord, Store, StoreError, StreamAppend, StreamCondition};

use crate::carts::{Memory, TailHeads};
use crate::gate::SeatGate;
use crate::locks::SeatLocks;
use crate::shows::ShowCache;
use crate::CommandError;

/// How often a command reloads and decides again after a conflict before it
/// gives up with UNAVAILABLE; each retry means another writer made progress.
pub(crate) const MAX_ATTEMPTS: usize = 32;

/// Reservations whose seats, and orders whose items, are remembered at most
/// (a few hundred bytes each); most are used within seconds.
const RESERVED_HERE: usize = 16_384;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long a hold lasts (default 30 minutes).
    pub hold_ttl: Duration,
    /// Most seats in one reservation (default 10).
    pub max_seats_per_reservation: usize,
    /// How long this process trusts its memory that a seat is taken before it
    /// asks the store again; bounds the staleness another gateway's release
    /// can cause (default 2 s).
    pub taken_cache_ttl: Duration,
    /// Most seats one customer may hold of a show at once, for shows whose
    /// organizer set no limit of their own (default 10).
    pub max_held_seats: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            hold_ttl: Duration::from_secs(30 * 60),
            max_seats_per_reservation: 10,
            taken_cache_ttl: Duration::from_secs(2),
            max_held_seats: 10,
        }
    }
}

/// An idempotency key with the scope it is unique in and the request's hash.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// Caller and RPC, e.g. `u_01J…:ReserveSeats`.
    pub scope: String,
    pub key: String,
    pub request_hash: String,
}

#[derive(Clone)]
pub struct Engine {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    pub(crate) gate: Arc<SeatGate>,
    pub(crate) shows: Arc<ShowCache>,
    pub(crate) carts: Arc<TailHeads<Cart>>,
    pub(crate) holds: Arc<TailHeads<CustomerHolds>>,
    /// The seat ids of reservations made here, by reservation id: a
    /// reservation's seats never change, so AddToCart can read them with the
    /// reservation instead of after it.
    pub(crate) reserved_here: Arc<Memory<Vec<String>>>,
    /// The items of orders last written here, by order id: Checkout reads
    /// their holds with the order, then checks the guess against it.
    pub(crate) carted_here: Arc<Memory<Vec<OrderItem>>>,
    pub(crate) provider: Option<Arc<dyn PaymentProvider>>,
    /// Advisory seat locks shared with other processes (`locks.rs`).
    pub(crate) locks: Option<Arc<dyn SeatLocks>>,
}

pub(crate) enum Commit {
    Done,
    /// Another writer got there first: reload and decide again.
    Conflict,
}

impl Engine {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: EngineConfig) -> Self {
        Self {
            gate: Arc::new(SeatGate::new(config.taken_cache_ttl)),
            shows: Arc::new(ShowCache::default()),
            carts: Arc::new(TailHeads::default()),
            holds: Arc::new(TailHeads::default()),
            reserved_here: Arc::new(Memory::new(RESERVED_HERE)),
            carted_here: Arc::new(Memory::new(RESERVED_HERE)),
            store,
            clock,
            config,
            provider: None,
            locks: None,
        }
    }

    /// Advisory seat locks shared with the other processes that take seats.
    pub fn with_seat_locks(mut self, locks: Arc<dyn SeatLocks>) -> Self {
        self.locks = Some(locks);
        self
    }

    /// Forgets that the seats are taken, here and in the shared locks,
    /// after they were released.
    pub(crate) fn forget_taken(&self, seat_ids: &[String]) {
        for id in seat_ids {
            self.gate.forget(id);
        }
        if let Some(locks) = &self.locks {
            locks.forget(seat_ids);
        }
    }

    /// The payment provider checkouts charge through; without one, checkout
    /// answers UNAVAILABLE.
    pub fn with_provider(mut self, provider: Arc<dyn PaymentProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Now, by the engine's clock (injected, so tests can move it).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The stored response of an earlier request with the same key, if any;
    /// a key reused for a different request is refused.
    pub(crate) async fn replayed<T: DeserializeOwned>(
        &self,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Option<T>, CommandError> {
        let Some(idem) = idempotency else {
            return Ok(None);
        };
        let Some(record) = self.store.idempotency(&idem.scope, &idem.key).await? else {
            return Ok(None);
        };
        if record.request_hash != idem.request_hash {
            return Err(CommandError::IdempotencyKeyReused);
        }
        Ok(Some(serde_json::from_value(record.response)?))
    }

    /// Appends atomically; with a key, the response is stored in the same
    /// transaction so a crash can never separate the effect from its record.
    pub(crate) async fn commit<T: Serialize>(
        &self,
        appends: &[StreamAppend],
        response: &T,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Commit, CommandError> {
        self.commit_if(appends, &[], response, idempotency).await
    }

    /// [`Engine::commit`], but a conflict also when a stream the decision
    /// read without writing it (a show's status) has moved on.
    pub(crate) async fn commit_if<T: Serialize>(
        &self,
        appends: &[StreamAppend],
        conditions: &[StreamCondition],
        response: &T,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Commit, CommandError> {
        let record = match idempotency {
            Some(idem) => Some(IdempotencyRecord {
                scope: idem.scope.clone(),
                key: idem.key.clone(),
                request_hash: idem.request_hash.clone(),
                response: serde_json::to_value(response)?,
            }),
            None => None,
        };
        // The append runs in its own task: a client that hangs up must not
        // cancel it half-way and leave a connection inside a transaction.
        let store = self.store.clone();
        let appends = appends.to_vec();
        let conditions = conditions.to_vec();
        let appended = tokio::spawn(async move {
            store
                .append_if(&appends, &conditions, record.as_ref())
                .await
        })
        .await
        .map_err(CommandError::internal)?;
        match appended {
            Ok(()) => Ok(Commit::Done),
            Err(StoreError::Conflict) => {
                metrics::counter!("ticketing_conflicts_total").increment(1);
                Ok(Commit::Conflict)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// A refusal may only mean that a concurrent twin of this request (same
    /// key) got there first: then its stored response is the answer.
    pub(crate) async fn settle<T: DeserializeOwned>(
        &self,
        result: Result<T, CommandError>,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<T, CommandError> {
        match result {
            Err(error @ (CommandError::SeatUnavailable(_) | CommandError::Precondition { .. }))
                if idempotency.is_some() =>
            {
                Ok(self.replayed(idempotency).await?.ok_or(error)?)
            }
            other => other,
        }
    }

    /// After a conflict: if it was our own key, written by a concurrent twin
    /// of this request, answer with its response.
    pub(crate) async fn after_conflict<T: DeserializeOwned>(
        &self,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Option<T>, CommandError> {
        self.replayed(idempotency).await
    }
}

pub(crate) fn exhausted() -> CommandError {
    CommandError::Unavailable(StoreError::Conflict)
}
