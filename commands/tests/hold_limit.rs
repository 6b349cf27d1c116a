//! At most so many seats held per customer and show (issue #10 point 11):
//! 10 by default, what the organizer set for the show, or none. Ended holds
//! (released, expired, bought) stop counting; another customer has a count
//! of their own; racing reservations of one customer never pass the limit.
//! On SQLite and Postgres.

mod support;

use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use support::{on_both, paying_engine, TestClock};
use ticketing_aggregates::*;
use ticketing_commands::testing::{one_row_show, published_show};
use ticketing_commands::{CommandError, Engine};
use ticketing_event_store::{Store, StreamRef};

struct World {
    engine: Engine,
    clock: TestClock,
    store: Store,
    provider: ticketing_payment::SimulatedProvider,
    customer: UserRef,
}

async fn world(url: String) -> World {
    let paying = paying_engine(&url).await;
    World {
        engine: paying.engine,
        clock: paying.clock,
        store: paying.store,
        provider: paying.provider,
        customer: UserRef::generate(),
    }
}

impl World {
    /// A published show of `seats` seats `A-1…` whose organizer set `limit`.
    async fn show(&self, seats: usize, limit: Option<u32>) -> ShowId {
        let mut input = one_row_show("Hamlet", "Globe", self.now() + Duration::days(30), seats);
        input.max_held_seats = limit;
        published_show(&self.engine, input).await
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn reserve(
        &self,
        who: &UserRef,
        show: &ShowId,
        seats: std::ops::RangeInclusive<usize>,
    ) -> Result<ReservationId, CommandError> {
        let labels = seats
            .map(|i| SeatLabel::parse("l", &format!("A-{i}")).unwrap())
            .collect();
        let view = self.engine.reserve_seats(who, show, labels, None).await?;
        Ok(view.reservation_id)
    }

    /// Seats of `show` held now, by their last event in the log.
    async fn held(&self, show: &ShowId, seats: usize) -> usize {
        let ids: Vec<String> = (1..=seats).map(|i| format!("{show}/A-{i}")).collect();
        let streams: Vec<StreamRef> = ids
            .iter()
            .map(|id| StreamRef {
                aggregate_type: "Seat",
                aggregate_id: id,
                after_sequence: 0,
            })
            .collect();
        let loaded = self.store.load_streams(&streams).await.unwrap();
        loaded
            .iter()
            .filter(|events| events.last().is_some_and(|e| e.event_type == "SeatHeld"))
            .count()
    }
}

fn limit_reached(result: &Result<ReservationId, CommandError>) -> bool {
    matches!(
        result,
        Err(CommandError::Precondition {
            reason: "HOLD_LIMIT_REACHED",
            ..
        })
    )
}

async fn ended_holds_stop_counting(url: String) {
    let w = world(url).await;
    let show = w.show(40, None).await;
    let first = w.reserve(&w.customer, &show, 1..=5).await.unwrap();
    w.reserve(&w.customer, &show, 6..=10).await.unwrap();
    let eleventh = w.reserve(&w.customer, &show, 11..=11).await;
    assert!(limit_reached(&eleventh), "{eleventh:?}");
    assert_eq!(w.held(&show, 40).await, 10, "the refused seat is not held");

    let other = UserRef::generate();
    w.reserve(&other, &show, 11..=20)
        .await
        .expect("a count of their own");

    w.engine
        .release_reservation(&w.customer, &first, None)
        .await
        .unwrap();
    w.reserve(&w.customer, &show, 21..=25)
        .await
        .expect("released seats stop counting");
    assert!(limit_reached(&w.reserve(&w.customer, &show, 26..=26).await));

    // Both holds pass their deadline (30 minutes).
    w.clock.advance(Duration::minutes(31));
    w.reserve(&w.customer, &show, 26..=35)
        .await
        .expect("expired holds stop counting");
}

async fn bought_seats_stop_counting(url: String) {
    let w = world(url).await;
    let show = w.show(20, None).await;
    let r = w.reserve(&w.customer, &show, 1..=10).await.unwrap();
    let cart = w.engine.add_to_cart(&w.customer, &r, None).await.unwrap();
    let paid = w
        .engine
        .checkout(&w.customer, &cart.order_id, "tok_visa", None)
        .await
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    let charges = w.provider.charges().await.unwrap();
    assert_eq!(charges.iter().filter(|c| c.succeeded).count(), 1);
    w.reserve(&w.customer, &show, 11..=20)
        .await
        .expect("sold seats are not held");
}

async fn the_organizer_sets_the_limit(url: String) {
    let w = world(url).await;
    let two = w.show(10, Some(2)).await;
    w.reserve(&w.customer, &two, 1..=2).await.unwrap();
    assert!(limit_reached(&w.reserve(&w.customer, &two, 3..=3).await));
    let unlimited = w.show(40, Some(0)).await;
    for first in [1, 11, 21, 31] {
        w.reserve(&w.customer, &unlimited, first..=first + 9)
            .await
            .expect("no limit");
    }
    assert_eq!(w.held(&unlimited, 40).await, 40);

    // Each count lists the reservations under the limit: it stays small.
    let mut input = one_row_show("Hamlet", "Globe", w.now() + Duration::days(30), 2);
    input.max_held_seats = Some(MAX_HELD_SEATS + 1);
    let organizer = UserRef::generate();
    let refused = w.engine.schedule_show(&organizer, input, None).await;
    assert!(
        matches!(&refused, Err(CommandError::Invalid(v)) if v[0].field == "max_held_seats_per_customer"),
        "{refused:?}"
    );
}

async fn racing_reservations_never_pass_the_limit(url: String) {
    let w = world(url).await;
    let show = w.show(30, None).await;
    let w = Arc::new(w);
    let show = Arc::new(show);
    let tasks: Vec<_> = (1..=30)
        .map(|seat| {
            let (w, show) = (w.clone(), show.clone());
            tokio::spawn(async move { w.reserve(&w.customer, &show, seat..=seat).await })
        })
        .collect();
    let mut held = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => held += 1,
            Err(CommandError::Precondition { reason, .. }) => {
                assert!(reason == "HOLD_LIMIT_REACHED", "{reason}")
            }
            // Contention on the customer's count may exhaust retries.
            Err(other) => assert!(matches!(other, CommandError::Unavailable(_)), "{other:?}"),
        }
    }
    assert!((1..=10).contains(&held), "{held} reservations succeeded");
    assert_eq!(w.held(&show, 30).await, held, "the log agrees");
}

on_both!(
    ended_holds_stop_counting,
    bought_seats_stop_counting,
    the_organizer_sets_the_limit,
    racing_reservations_never_pass_the_limit
);
