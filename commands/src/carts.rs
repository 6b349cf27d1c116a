//! Where streams whose state is their last event were last seen, so a
//! command reads only their tail: a customer's cart (the order open as the
//! cart, or none), which gains two events with every purchase — read whole,
//! it made a customer's purchase cost more with each earlier one (about 200
//! rows per order in the purchase bench) — and a customer's holds of a show
//! (CustomerHolds), which gains one with every reservation.
//!
//! A tail read returns every event after the remembered position, so it
//! always ends at the stream's head, whoever wrote since; the append's
//! expected sequence stays the guarantee.
//!
//! Also [`Memory`], the bounded map behind it, which also remembers the
//! seats of the reservations made in this process, so AddToCart reads them
//! with the reservation in one round trip.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Mutex;

use cqrs_es::Aggregate;
use ticketing_event_store::{Store, StreamRef};

use crate::load::{load, Loaded};
use crate::CommandError;

/// Streams remembered at most per aggregate type; emptied when full.
const MAX_REMEMBERED: usize = 65_536;

/// What this process remembers by stream id, at most `capacity` entries:
/// emptied when full, so it never outgrows its bound.
pub(crate) struct Memory<V> {
    entries: Mutex<HashMap<String, V>>,
    capacity: usize,
}

impl<V: Clone> Memory<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            capacity,
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<V> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn put(&self, id: &str, value: V) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(id) {
            entries.clear();
        }
        entries.insert(id.to_owned(), value);
    }

    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, V>> {
        // Entries are inserted whole: a panic cannot leave one half-made.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where each stream of `A`, an aggregate whose state is its last event,
/// was last seen.
pub(crate) struct TailHeads<A> {
    heads: Memory<usize>,
    aggregate: PhantomData<fn() -> A>,
}

impl<A> Default for TailHeads<A> {
    fn default() -> Self {
        Self {
            heads: Memory::new(MAX_REMEMBERED),
            aggregate: PhantomData,
        }
    }
}

impl<A: Aggregate> TailHeads<A> {
    /// The stream `id`, from its last event as this process last saw it
    /// (whole if never seen).
    pub(crate) fn stream<'a>(&self, id: &'a str) -> StreamRef<'a> {
        let seen = self.heads.get(id).unwrap_or(0);
        StreamRef {
            aggregate_type: A::TYPE,
            aggregate_id: id,
            after_sequence: seen.saturating_sub(1),
        }
    }

    /// Whether this process has seen the stream `id` (read or written it).
    pub(crate) fn seen(&self, id: &str) -> bool {
        self.heads.get(id).is_some()
    }

    /// The stream `id` is at `sequence`: this process just appended there.
    pub(crate) fn remember(&self, id: &str, sequence: usize) {
        self.heads.put(id, sequence);
    }

    /// The aggregate as read from [`TailHeads::stream`], remembered; read
    /// whole if the tail came back empty although events were seen before
    /// (a store that lost them: never trust the memory over the log).
    pub(crate) async fn checked(
        &self,
        store: &Store,
        id: &str,
        read: Loaded<A>,
    ) -> Result<Loaded<A>, CommandError> {
        let seen = self.heads.get(id).unwrap_or(0);
        let loaded = if read.sequence == 0 && seen > 0 {
            self.heads.forget(id);
            load::<A>(store, id).await?
        } else {
            read
        };
        if loaded.sequence > 0 {
            self.remember(id, loaded.sequence);
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{fold, load_batch};
    use ticketing_aggregates::{Cart, CartEvent, OrderId};
    use ticketing_event_store::{NewEvent, StreamAppend};

    async fn append(store: &Store, customer: &str, at: usize, event: CartEvent) {
        let append = StreamAppend {
            aggregate_type: Cart::TYPE.into(),
            aggregate_id: customer.into(),
            expected_sequence: at,
            events: vec![NewEvent {
                event_type: cqrs_es::DomainEvent::event_type(&event),
                event_version: cqrs_es::DomainEvent::event_version(&event),
                payload: serde_json::to_value(&event).unwrap(),
                metadata: serde_json::json!({}),
            }],
        };
        store.append(&[append], None).await.unwrap();
    }

    /// After many purchases the cart is read from its last event: the
    /// tail holds one or two events whatever the stream's length, and folds
    /// to the same cart as the whole stream, also after another writer.
    #[tokio::test]
    async fn a_long_cart_stream_is_read_from_its_last_event() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let heads = TailHeads::<Cart>::default();
        let customer = "u_cart";
        let mut at = 0;
        for _ in 0..30 {
            let order_id = OrderId::generate();
            append(
                &store,
                customer,
                at,
                CartEvent::CartOpened {
                    order_id: order_id.clone(),
                },
            )
            .await;
            append(&store, customer, at + 1, CartEvent::CartClosed { order_id }).await;
            at += 2;
        }
        let first = load_batch(&store, &[heads.stream(customer)])
            .await
            .unwrap()
            .next_events()
            .unwrap();
        assert_eq!(first.len(), 60, "never seen: read whole");
        let cart = heads
            .checked(&store, customer, fold(customer, first).unwrap())
            .await
            .unwrap();
        assert_eq!(cart.sequence, 60);

        // Another process opens a cart meanwhile.
        let open = OrderId::generate();
        append(
            &store,
            customer,
            60,
            CartEvent::CartOpened {
                order_id: open.clone(),
            },
        )
        .await;
        let tail = load_batch(&store, &[heads.stream(customer)])
            .await
            .unwrap()
            .next_events()
            .unwrap();
        assert_eq!(tail.len(), 2, "the last seen event and the new one");
        let cart = heads
            .checked(&store, customer, fold(customer, tail).unwrap())
            .await
            .unwrap();
        let whole = load::<Cart>(&store, customer).await.unwrap();
        assert_eq!((cart.sequence, &cart.aggregate.open), (61, &Some(open)));
        assert_eq!(
            (whole.sequence, &whole.aggregate.open),
            (cart.sequence, &cart.aggregate.open)
        );

        // A memory ahead of the log is not trusted.
        heads.heads.put(customer, 500);
        let empty = load_batch(&store, &[heads.stream(customer)])
            .await
            .unwrap()
            .next_events()
            .unwrap();
        assert!(empty.is_empty());
        let cart = heads
            .checked(&store, customer, fold(customer, empty).unwrap())
            .await
            .unwrap();
        assert_eq!(cart.sequence, 61);
    }

    #[test]
    fn a_memory_stays_within_its_capacity() {
        let memory = Memory::new(3);
        for i in 0..10 {
            memory.put(&format!("s{i}"), i);
            assert!(memory.lock().len() <= 3);
        }
        assert_eq!(
            memory.get("s9"),
            Some(9),
            "the latest entry survives a clear"
        );
        memory.put("s9", 10);
        assert_eq!(memory.get("s9"), Some(10));
        memory.forget("s9");
        assert_eq!(memory.get("s9"), None);
    }
}
