//! Shared by the relay tests: an engine on a fresh database driven through a
//! purchase flow, and the integration events that flow must produce (worked
//! out from the log, not by the relay's mapping). `kafka.rs`: the broker and
//! a consumer.

#![allow(dead_code)] // each test binary uses part of this

pub mod kafka;
pub mod proxy;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use ticketing_aggregates::*;
use ticketing_commands::testing::{one_row_show, published_show};
use ticketing_commands::{Engine, EngineConfig};
use ticketing_event_store::testing::settle_feed;
use ticketing_event_store::{FeedPosition, Store};
use ticketing_payment::SimulatedProvider;
use ticketing_relay::{Envelope, IntegrationEvent, PublishError, Publisher, SOURCE};

#[derive(Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// What a consumer of the topics must see: `(topic, key)` → envelope.
pub struct Expected {
    pub by_id: BTreeMap<i64, (String, String, Envelope)>,
}

pub async fn store(url: String) -> Store {
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    ticketing_payment::migrate(store.read_pool()).await.unwrap();
    store
}

/// Schedules and publishes a show, then: reserve A-1 and release it;
/// reserve A-2, a declined card (tok_declined), a good one (tok_visa);
/// reserve A-3 and let it expire. Returns what the relay must publish.
pub async fn purchase_flow(store: &Store) -> Expected {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let clock = TestClock(Arc::new(Mutex::new(t0)));
    let provider = SimulatedProvider::new(store.read_pool().clone());
    let engine = Engine::new(
        store.clone(),
        Arc::new(clock.clone()),
        EngineConfig::default(),
    )
    .with_provider(Arc::new(provider));
    let show = published_show(
        &engine,
        one_row_show("Hamlet", "Globe", t0 + Duration::days(30), 5),
    )
    .await;
    let customer = UserRef::generate();
    let reserve = |label: &str| {
        let labels = vec![SeatLabel::parse("seat_labels", label).unwrap()];
        let (engine, customer, show) = (engine.clone(), customer.clone(), show.clone());
        async move {
            engine
                .reserve_seats(&customer, &show, labels, None)
                .await
                .unwrap()
                .reservation_id
        }
    };

    let released = reserve("A-1").await;
    engine
        .release_reservation(&customer, &released, None)
        .await
        .unwrap();

    let bought = reserve("A-2").await;
    let cart = engine.add_to_cart(&customer, &bought, None).await.unwrap();
    let declined = engine
        .checkout(&customer, &cart.order_id, "tok_declined", None)
        .await
        .unwrap();
    assert_eq!(declined.status, OrderStatus::PaymentFailed);
    let paid = engine
        .checkout(&customer, &cart.order_id, "tok_visa", None)
        .await
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);

    let expired = reserve("A-3").await;
    *clock.0.lock().unwrap() += Duration::minutes(31);
    assert!(engine.expire_reservation(&expired).await.unwrap());

    let order = cart.order_id.as_str();
    let payments = payment_ids(store, order).await;
    let deadline = t0 + Duration::minutes(30);
    let hold = |reservation: &ReservationId, label: &str| {
        json!({
            "reservation_id": reservation,
            "show_id": show,
            "seat_labels": [label],
            "customer_id": customer,
            "expires_at": deadline,
        })
    };
    let payment = |id: &str| {
        json!({
            "payment_id": id,
            "order_id": order,
            "amount_minor": 5000,
            "currency": "EUR",
        })
    };
    let with = |mut data: Value, field: &str, value: Value| {
        data[field] = value;
        data
    };
    let wanted = [
        (
            "Reservation",
            released.as_str(),
            "ReservationCreated",
            "reservation-created",
            hold(&released, "A-1"),
        ),
        (
            "Reservation",
            released.as_str(),
            "ReservationReleased",
            "reservation-released",
            hold(&released, "A-1"),
        ),
        (
            "Reservation",
            bought.as_str(),
            "ReservationCreated",
            "reservation-created",
            hold(&bought, "A-2"),
        ),
        (
            "Payment",
            payments[0].as_str(),
            "PaymentFailed",
            "payment-failed",
            with(payment(&payments[0]), "reason", json!("card declined")),
        ),
        (
            "Payment",
            payments[1].as_str(),
            "PaymentSucceeded",
            "payment-succeeded",
            with(
                payment(&payments[1]),
                "provider_ref",
                json!(format!("ch_{}", payments[1].trim_start_matches("p_"))),
            ),
        ),
        (
            "Order",
            order,
            "OrderPaid",
            "order-paid",
            json!({
                "order_id": order,
                "customer_id": customer,
                "payment_id": payments[1],
                "total_minor": 5000,
                "currency": "EUR",
                "items": [{
                    "reservation_id": bought,
                    "show_id": show,
                    "seat_label": "A-2",
                    "price_minor": 5000,
                }],
            }),
        ),
        (
            "Reservation",
            expired.as_str(),
            "ReservationCreated",
            "reservation-created",
            hold(&expired, "A-3"),
        ),
        (
            "Reservation",
            expired.as_str(),
            "ReservationExpired",
            "reservation-expired",
            hold(&expired, "A-3"),
        ),
    ];
    expected_from_log(store, &wanted).await
}

/// The payment ids of the order's checkouts, in order (declined, paid).
async fn payment_ids(store: &Store, order: &str) -> Vec<String> {
    let events = store.load::<Order>(order, 0).await.unwrap();
    let ids: Vec<String> = events
        .iter()
        .filter(|e| e.event_type == "CheckoutStarted")
        .map(|e| {
            e.payload["CheckoutStarted"]["payment_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2, "two checkouts: declined, then paid");
    ids
}

/// Finds each wanted event in the log and builds the envelope a consumer
/// must receive for it: id = its global position, time = when recorded,
/// and the data the flow says it must carry.
async fn expected_from_log(store: &Store, wanted: &[(&str, &str, &str, &str, Value)]) -> Expected {
    settle_feed(store).await;
    let mut log = Vec::new();
    let mut after = FeedPosition::START;
    loop {
        let page = store.read_feed(0, after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        log.extend(page);
    }
    let mut by_id = BTreeMap::new();
    for (aggregate_type, id, event_type, topic, data) in wanted {
        let matching: Vec<_> = log
            .iter()
            .filter(|e| {
                e.event.aggregate_type == *aggregate_type
                    && e.event.aggregate_id == *id
                    && e.event.event_type == *event_type
            })
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{aggregate_type} {id} has one {event_type}"
        );
        let event = matching[0];
        let envelope = Envelope {
            id: event.global_seq,
            event_type: topic.to_string(),
            source: SOURCE.into(),
            subject: id.to_string(),
            time: event.recorded_at,
            data: data.clone(),
            schema_version: 2,
        };
        by_id.insert(
            event.global_seq,
            (topic.to_string(), id.to_string(), envelope),
        );
    }
    assert_eq!(by_id.len(), wanted.len());
    Expected { by_id }
}

impl Expected {
    /// Asserts `received` holds exactly the expected events, each at least
    /// once and with `duplicates_allowed` more than once, but never a
    /// different envelope under the same id.
    pub fn assert_delivered(
        &self,
        received: &[(String, String, Envelope)],
        duplicates_allowed: bool,
    ) {
        let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
        for (topic, key, envelope) in received {
            let Some((want_topic, want_key, want)) = self.by_id.get(&envelope.id) else {
                panic!("unexpected event on {topic}: {envelope:?}");
            };
            assert_eq!(
                (topic, key),
                (want_topic, want_key),
                "event {}",
                envelope.id
            );
            assert_eq!(envelope, want, "envelope of event {}", envelope.id);
            *seen.entry(envelope.id).or_default() += 1;
        }
        let missing: Vec<_> = self
            .by_id
            .keys()
            .filter(|id| !seen.contains_key(id))
            .collect();
        assert!(missing.is_empty(), "never delivered: {missing:?}");
        if !duplicates_allowed {
            assert!(seen.values().all(|n| *n == 1), "delivered twice: {seen:?}");
        }
    }
}

/// A publisher that keeps what it was given, as a working broker would.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<(String, String, Envelope)>>,
}

impl Recorder {
    pub fn taken(&self) -> Vec<(String, String, Envelope)> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

impl Publisher for Recorder {
    async fn publish(&self, batch: &[IntegrationEvent]) -> Result<(), PublishError> {
        let mut events = self.events.lock().unwrap();
        for event in batch {
            events.push((
                event.topic.to_owned(),
                event.key.clone(),
                event.envelope.clone(),
            ));
        }
        Ok(())
    }
}
