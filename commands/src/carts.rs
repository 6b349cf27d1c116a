//! Where each customer's cart stream was last seen, so AddToCart and
//! Checkout read only its tail. A cart's state is its last event (the order
//! open as the cart, or none), and the stream gains two events with every
//! purchase: read whole, it made a customer's purchase cost more with each
//! earlier one (about 200 rows per order in the purchase bench).
//!
//! A tail read returns every event after the remembered position, so it
//! always ends at the stream's head, whoever wrote since; the append's
//! expected sequence stays the guarantee.

use std::collections::HashMap;
use std::sync::Mutex;

use cqrs_es::Aggregate;
use ticketing_aggregates::Cart;
use ticketing_event_store::{Store, StreamRef};

use crate::load::{load, Loaded};
use crate::CommandError;

/// Customers remembered at most; emptied when full.
const MAX_REMEMBERED: usize = 65_536;

#[derive(Default)]
pub(crate) struct CartHeads(Mutex<HashMap<String, usize>>);

impl CartHeads {
    /// The cart stream of `customer`, from its last event as this process
    /// last saw it (whole if never seen).
    pub(crate) fn stream<'a>(&self, customer: &'a str) -> StreamRef<'a> {
        let seen = self.lock().get(customer).copied().unwrap_or(0);
        StreamRef {
            aggregate_type: Cart::TYPE,
            aggregate_id: customer,
            after_sequence: seen.saturating_sub(1),
        }
    }

    /// The cart as read from [`CartHeads::stream`], remembered; read whole
    /// if the tail came back empty although events were seen before (a
    /// store that lost them: never trust the memory over the log).
    pub(crate) async fn checked(
        &self,
        store: &Store,
        customer: &str,
        read: Loaded<Cart>,
    ) -> Result<Loaded<Cart>, CommandError> {
        let seen = self.lock().get(customer).copied().unwrap_or(0);
        let cart = if read.sequence == 0 && seen > 0 {
            self.lock().remove(customer);
            load::<Cart>(store, customer).await?
        } else {
            read
        };
        if cart.sequence > 0 {
            let mut heads = self.lock();
            if heads.len() >= MAX_REMEMBERED && !heads.contains_key(customer) {
                heads.clear();
            }
            heads.insert(customer.to_owned(), cart.sequence);
        }
        Ok(cart)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // Entries are inserted whole: a panic cannot leave one half-made.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{fold, load_batch};
    use ticketing_aggregates::{CartEvent, OrderId};
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
        let heads = CartHeads::default();
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
        heads.lock().insert(customer.into(), 500);
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
}
