//! The purchase flow through the command engine, with a clock the test
//! moves: the hold timeline of the seed, declines and retries, lost provider
//! answers, and payments racing the expirer — on SQLite and Postgres.

mod support;

use chrono::{DateTime, Duration, Utc};
use support::{on_both, paying_engine, Paying, TestClock};
use ticketing_aggregates::*;
use ticketing_commands::testing::{one_row_show, published_show};
use ticketing_commands::{CommandError, Engine};
use ticketing_event_store::{Store, StreamRef};
use ticketing_payment::SimulatedProvider;

struct World {
    engine: Engine,
    clock: TestClock,
    store: Store,
    provider: SimulatedProvider,
    show: ShowId,
    customer: UserRef,
    t0: DateTime<Utc>,
}

async fn world(url: String) -> World {
    let Paying {
        engine,
        clock,
        store,
        provider,
    } = paying_engine(&url).await;
    let t0 = clock.now();
    let show = published_show(
        &engine,
        one_row_show("Hamlet", "Globe", t0 + Duration::days(30), 20),
    )
    .await;
    World {
        engine,
        clock,
        store,
        provider,
        show,
        customer: UserRef::generate(),
        t0,
    }
}

impl World {
    async fn reserve(&self, labels: &[&str]) -> ReservationId {
        let labels = labels
            .iter()
            .map(|l| SeatLabel::parse("l", l).unwrap())
            .collect();
        self.engine
            .reserve_seats(&self.customer, &self.show, labels, None)
            .await
            .unwrap()
            .reservation_id
    }

    /// Event types of one stream, in order (read from the stream itself,
    /// which shows every committed event at once).
    async fn stream(&self, aggregate_type: &str, id: &str) -> Vec<String> {
        let stream = StreamRef {
            aggregate_type,
            aggregate_id: id,
            after_sequence: 0,
        };
        let mut loaded = self.store.load_streams(&[stream]).await.unwrap();
        loaded
            .pop()
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    async fn seat(&self, label: &str) -> Vec<String> {
        self.stream("Seat", &format!("{}/{label}", self.show)).await
    }
}

async fn the_seed_timeline(url: String) {
    let w = world(url).await;
    let r = w.reserve(&["A-1"]).await;
    w.clock.advance(Duration::minutes(15));
    let cart = w.engine.add_to_cart(&w.customer, &r, None).await.unwrap();
    assert_eq!(cart.status, OrderStatus::Cart);
    assert_eq!(
        cart.expires_at,
        Some(w.t0 + Duration::minutes(45)),
        "adding to the cart extends the hold"
    );
    assert_eq!(cart.total_minor, 5000);
    w.clock.advance(Duration::minutes(29));
    let paid = w
        .engine
        .checkout(&w.customer, &cart.order_id, "tok_visa", None)
        .await
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(
        w.seat("A-1").await,
        ["SeatHeld", "SeatHoldExtended", "SeatSold"]
    );
    let reservation = w.stream("Reservation", r.as_str()).await;
    assert_eq!(
        reservation,
        [
            "ReservationCreated",
            "ReservationExtended",
            "ReservationConverted"
        ]
    );
    let charges = w.provider.charges().await.unwrap();
    assert_eq!((charges.len(), charges[0].succeeded), (1, true));
}

async fn an_unbought_hold_expires(url: String) {
    let w = world(url).await;
    let r = w.reserve(&["A-2", "A-3"]).await;
    w.clock.advance(Duration::minutes(29));
    assert!(
        !w.engine.expire_reservation(&r).await.unwrap(),
        "not before the deadline"
    );
    w.clock.advance(Duration::minutes(1));
    assert!(w.engine.expire_reservation(&r).await.unwrap());
    assert!(
        !w.engine.expire_reservation(&r).await.unwrap(),
        "expiring twice does nothing"
    );
    assert_eq!(
        w.stream("Reservation", r.as_str()).await,
        ["ReservationCreated", "ReservationExpired"]
    );
    assert_eq!(w.seat("A-3").await, ["SeatHeld", "SeatReleased"]);
    w.reserve(&["A-2"]).await;
}

async fn declined_then_paid_once(url: String) {
    let w = world(url).await;
    let r = w.reserve(&["A-4"]).await;
    w.clock.advance(Duration::minutes(5));
    let cart = w.engine.add_to_cart(&w.customer, &r, None).await.unwrap();
    let failed = w
        .engine
        .checkout(&w.customer, &cart.order_id, "tok_declined", None)
        .await
        .unwrap();
    assert_eq!(failed.status, OrderStatus::PaymentFailed);
    assert_eq!(failed.failure_reason.as_deref(), Some("card declined"));
    assert_eq!(
        w.seat("A-4").await,
        ["SeatHeld", "SeatHoldExtended"],
        "the seat stays held for a retry"
    );
    let paid = w
        .engine
        .checkout(&w.customer, &cart.order_id, "tok_visa", None)
        .await
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    let again = w
        .engine
        .checkout(&w.customer, &cart.order_id, "tok_visa", None)
        .await
        .unwrap();
    assert_eq!(
        again.status,
        OrderStatus::Paid,
        "a repeated checkout of a paid order charges nothing"
    );
    let charges = w.provider.charges().await.unwrap();
    assert_eq!(
        charges.iter().filter(|c| c.succeeded).count(),
        1,
        "charged once"
    );
    let events = w.stream("Order", cart.order_id.as_str()).await;
    assert_eq!(events.iter().filter(|e| *e == "OrderPaid").count(), 1);
}

async fn lost_answers_charge_once(url: String) {
    let w = world(url).await;
    let r = w.reserve(&["A-5"]).await;
    let cart = w.engine.add_to_cart(&w.customer, &r, None).await.unwrap();
    let paid = w
        .engine
        .checkout(&w.customer, &cart.order_id, "tok_timeout", None)
        .await
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    let charges = w.provider.charges().await.unwrap();
    assert_eq!(charges.len(), 1);
    assert!(
        charges[0].succeeded && charges[0].attempts == 2,
        "{charges:?}"
    );
}

async fn payment_racing_two_expirers(url: String) {
    let w = world(url).await;
    for round in 0..8 {
        let label = format!("A-{}", 10 + round);
        let r = w.reserve(&[label.as_str()]).await;
        let cart = w.engine.add_to_cart(&w.customer, &r, None).await.unwrap();
        // Checkout starts before the deadline; the settlement, the two
        // expirers and the deadline then meet at the same instant.
        let order = load_payment(&w, &cart.order_id).await;
        let deadline = cart.expires_at.unwrap();
        *w.clock.0.lock().unwrap() = deadline - Duration::milliseconds(1);
        let clock = w.clock.clone();
        let tick = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(round as u64 % 3)).await;
            clock.advance(Duration::milliseconds(2));
        });
        let (paid, e1, e2) = tokio::join!(
            w.engine.resume_payment(&order, Some("tok_visa"), None),
            w.engine.expire_reservation(&r),
            w.engine.expire_reservation(&r)
        );
        tick.await.unwrap();
        let seat = w.seat(&label).await;
        let sold = seat.iter().any(|e| e == "SeatSold");
        let released = seat.iter().any(|e| e == "SeatReleased");
        assert!(
            sold != released,
            "round {round}: exactly one of sold / released: {seat:?}, payment: {paid:?}"
        );
        let payment = w.stream("Payment", order.as_str()).await;
        if sold {
            assert!(paid.is_ok() && !payment.contains(&"PaymentRefunded".to_owned()));
        } else {
            assert!(matches!(
                paid,
                Err(CommandError::Precondition {
                    reason: "RESERVATION_EXPIRED",
                    ..
                })
            ));
            assert!(
                payment.contains(&"PaymentRefunded".to_owned()),
                "{payment:?}"
            );
        }
        assert!(
            !(e1.unwrap() && e2.unwrap()),
            "one expirer at most did the work"
        );
    }
}

/// A checkout that dies between requesting the payment and charging the
/// card leaves no token to finish with. The expirer waits while the charge
/// may still be on its way, then voids the key: the payment fails, a late
/// charge under it takes no money, and the customer pays again.
async fn an_interrupted_checkout_is_voided(url: String) {
    let w = world(url).await;
    let r = w.reserve(&["A-6"]).await;
    let cart = w.engine.add_to_cart(&w.customer, &r, None).await.unwrap();
    let payment = load_payment(&w, &cart.order_id).await;
    let pending = w.engine.resume_payment(&payment, None, None).await;
    assert!(
        matches!(
            pending,
            Err(CommandError::Precondition {
                reason: "PAYMENT_PENDING",
                ..
            })
        ),
        "{pending:?}"
    );
    assert!(
        w.provider.charges().await.unwrap().is_empty(),
        "not voided yet"
    );

    w.clock
        .advance(ticketing_commands::VOID_INTERRUPTED_AFTER + Duration::seconds(1));
    let failed = w.engine.resume_payment(&payment, None, None).await.unwrap();
    assert_eq!(failed.status, OrderStatus::PaymentFailed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some(ticketing_payment::VOIDED)
    );
    let late = ChargeRequest {
        key: payment.clone(),
        amount_minor: 5000,
        currency: Currency::parse("c", "EUR").unwrap(),
        token: "tok_visa".into(),
    };
    assert_eq!(
        w.provider.charge(&late).await.unwrap(),
        ChargeOutcome::Declined {
            reason: ticketing_payment::VOIDED.into()
        },
        "a charge after the void takes nothing"
    );
    let paid = w
        .engine
        .checkout(&w.customer, &cart.order_id, "tok_visa", None)
        .await
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    let charges = w.provider.charges().await.unwrap();
    assert_eq!(charges.iter().filter(|c| c.succeeded).count(), 1);
    assert!(charges
        .iter()
        .all(|c| c.key != payment.as_str() || !c.succeeded));
}

/// The same interruption, but the customer retries the checkout: the token
/// comes back with the call and the started payment is charged.
async fn a_retried_checkout_completes_an_interrupted_one(url: String) {
    let w = world(url).await;
    let r = w.reserve(&["A-7"]).await;
    let cart = w.engine.add_to_cart(&w.customer, &r, None).await.unwrap();
    let payment = load_payment(&w, &cart.order_id).await;
    let paid = w
        .engine
        .checkout(&w.customer, &cart.order_id, "tok_visa", None)
        .await
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    let charges = w.provider.charges().await.unwrap();
    assert_eq!(charges.len(), 1);
    assert_eq!(
        (charges[0].key.as_str(), charges[0].succeeded),
        (payment.as_str(), true)
    );
    w.clock
        .advance(ticketing_commands::VOID_INTERRUPTED_AFTER + Duration::seconds(1));
    let again = w.engine.resume_payment(&payment, None, None).await.unwrap();
    assert_eq!(
        again.status,
        OrderStatus::Paid,
        "a settled payment is never voided"
    );
}

/// Starts the checkout of `order` without settling it; returns its payment.
async fn load_payment(w: &World, order: &OrderId) -> PaymentId {
    w.engine
        .start_checkout(&w.customer, order, "tok_visa")
        .await
        .unwrap()
}

on_both!(
    the_seed_timeline,
    an_unbought_hold_expires,
    declined_then_paid_once,
    lost_answers_charge_once,
    payment_racing_two_expirers,
    an_interrupted_checkout_is_voided,
    a_retried_checkout_completes_an_interrupted_one
);
