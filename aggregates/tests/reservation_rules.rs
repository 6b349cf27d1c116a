//! Given/when/then rules of the Reservation aggregate, including the rules
//! that need the show: it must be published and list every seat.

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use std::collections::HashMap;
use std::sync::Arc;
use ticketing_aggregates::*;

type ReservationTest = TestFramework<Reservation>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn rid() -> ReservationId {
    ReservationId::parse("r", "r_01JZ00000000000000000000AA").unwrap()
}

fn show_id() -> ShowId {
    ShowId::parse("s", "s_01JZ00000000000000000000AA").unwrap()
}

fn customer(n: u8) -> UserRef {
    UserRef::parse("u", &format!("u_01JZ000000000000000000000{n}")).unwrap()
}

fn label(raw: &str) -> SeatLabel {
    SeatLabel::parse("l", raw).unwrap()
}

fn show(status: ShowStatus) -> ShowFacts {
    let seats: HashMap<_, _> = ["A-1", "A-2", "A-3"]
        .into_iter()
        .map(|l| (label(l), PriceMinor::parse("p", 1000).unwrap()))
        .collect();
    ShowFacts {
        show_id: show_id(),
        status,
        starts_at: t0() + Duration::days(30),
        seats: Arc::new(seats),
    }
}

fn create(status: ShowStatus, seats: &[&str]) -> ReservationCommand {
    ReservationCommand::Create {
        reservation_id: rid(),
        customer: customer(1),
        show: show(status),
        seats: seats.iter().map(|l| label(l)).collect(),
        until: t0() + Duration::minutes(30),
        now: t0(),
        max_seats: 2,
    }
}

fn created() -> ReservationEvent {
    ReservationEvent::ReservationCreated {
        reservation_id: rid(),
        customer: customer(1),
        show_id: show_id(),
        seats: vec![label("A-1"), label("A-2")],
        until: t0() + Duration::minutes(30),
    }
}

#[tokio::test]
async fn a_reservation_on_a_published_show_is_created() {
    ReservationTest::with(())
        .given_no_previous_events()
        .when_async(create(ShowStatus::Published, &["A-1", "A-2"]))
        .await
        .then_expect_events(vec![created()]);
}

#[tokio::test]
async fn a_show_not_published_cannot_be_reserved() {
    for (status, error) in [
        (ShowStatus::Scheduled, ReservationError::ShowNotOnSale),
        (ShowStatus::Cancelled, ReservationError::ShowCancelled),
        (ShowStatus::Unknown, ReservationError::ShowNotFound),
    ] {
        ReservationTest::with(())
            .given_no_previous_events()
            .when_async(create(status, &["A-1"]))
            .await
            .then_expect_error(error);
    }
}

#[tokio::test]
async fn a_seat_not_in_the_plan_cannot_be_held() {
    ReservationTest::with(())
        .given_no_previous_events()
        .when_async(create(ShowStatus::Published, &["A-1", "Z-9"]))
        .await
        .then_expect_error(ReservationError::UnknownSeats(vec![label("Z-9")]));
}

#[tokio::test]
async fn seat_lists_are_bounded_and_free_of_duplicates() {
    ReservationTest::with(())
        .given_no_previous_events()
        .when_async(create(ShowStatus::Published, &[]))
        .await
        .then_expect_error(ReservationError::SeatCount { got: 0, max: 2 });
    ReservationTest::with(())
        .given_no_previous_events()
        .when_async(create(ShowStatus::Published, &["A-1", "A-2", "A-3"]))
        .await
        .then_expect_error(ReservationError::SeatCount { got: 3, max: 2 });
    ReservationTest::with(())
        .given_no_previous_events()
        .when_async(create(ShowStatus::Published, &["A-1", "A-1"]))
        .await
        .then_expect_error(ReservationError::DuplicateSeat(label("A-1")));
}

#[tokio::test]
async fn a_reservation_id_is_used_once() {
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(create(ShowStatus::Published, &["A-1"]))
        .await
        .then_expect_error(ReservationError::AlreadyExists);
}

#[tokio::test]
async fn only_the_owner_releases_and_releasing_twice_is_a_no_op() {
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(ReservationCommand::Release { by: customer(2) })
        .await
        .then_expect_error(ReservationError::NotOwner);
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(ReservationCommand::Release { by: customer(1) })
        .await
        .then_expect_events(vec![ReservationEvent::ReservationReleased {}]);
    ReservationTest::with(())
        .given(vec![created(), ReservationEvent::ReservationReleased {}])
        .when_async(ReservationCommand::Release { by: customer(1) })
        .await
        .then_expect_events(vec![]);
    ReservationTest::with(())
        .given_no_previous_events()
        .when_async(ReservationCommand::Release { by: customer(1) })
        .await
        .then_expect_error(ReservationError::NotFound);
}

#[tokio::test]
async fn a_reservation_expires_only_after_its_deadline() {
    let deadline = t0() + Duration::minutes(30);
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(ReservationCommand::Expire {
            now: deadline - Duration::seconds(1),
        })
        .await
        .then_expect_error(ReservationError::NotDue);
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(ReservationCommand::Expire { now: deadline })
        .await
        .then_expect_events(vec![ReservationEvent::ReservationExpired {}]);
}

fn order() -> OrderId {
    OrderId::parse("o", "o_01JZ00000000000000000000AA").unwrap()
}

#[tokio::test]
async fn adding_to_a_cart_extends_a_live_hold_only() {
    let deadline = t0() + Duration::minutes(30);
    let extend = |now| ReservationCommand::Extend {
        by: customer(1),
        until: now + Duration::minutes(30),
        now,
        hold_ttl: Duration::minutes(30),
    };
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(extend(t0() + Duration::minutes(15)))
        .await
        .then_expect_events(vec![ReservationEvent::ReservationExtended {
            until: t0() + Duration::minutes(45),
        }]);
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(extend(deadline))
        .await
        .then_expect_error(ReservationError::Expired);
    ReservationTest::with(())
        .given(vec![created(), ReservationEvent::ReservationReleased {}])
        .when_async(extend(t0()))
        .await
        .then_expect_error(ReservationError::Released);
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(ReservationCommand::Extend {
            by: customer(2),
            until: deadline,
            now: t0(),
            hold_ttl: Duration::minutes(30),
        })
        .await
        .then_expect_error(ReservationError::NotOwner);
}

/// Extending again and again cannot keep a hold past its creation plus two
/// hold TTLs: the deadline stops there, and extending at it changes nothing.
#[tokio::test]
async fn a_hold_extends_to_twice_its_ttl_at_most() {
    let extend = |now| ReservationCommand::Extend {
        by: customer(1),
        until: now + Duration::minutes(30),
        now,
        hold_ttl: Duration::minutes(30),
    };
    let extended = |minutes| ReservationEvent::ReservationExtended {
        until: t0() + Duration::minutes(minutes),
    };
    ReservationTest::with(())
        .given(vec![created(), extended(45)])
        .when_async(extend(t0() + Duration::minutes(40)))
        .await
        .then_expect_events(vec![extended(60)]);
    ReservationTest::with(())
        .given(vec![created(), extended(45), extended(60)])
        .when_async(extend(t0() + Duration::minutes(55)))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_reservation_converts_once_and_only_before_its_deadline() {
    let deadline = t0() + Duration::minutes(30);
    let convert = |now| ReservationCommand::Convert {
        order_id: order(),
        now,
    };
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(convert(deadline - Duration::seconds(1)))
        .await
        .then_expect_events(vec![ReservationEvent::ReservationConverted {
            order_id: order(),
        }]);
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(convert(deadline))
        .await
        .then_expect_error(ReservationError::Expired);
    ReservationTest::with(())
        .given(vec![created(), ReservationEvent::ReservationExpired {}])
        .when_async(convert(t0()))
        .await
        .then_expect_error(ReservationError::Expired);
    ReservationTest::with(())
        .given(vec![
            created(),
            ReservationEvent::ReservationConverted { order_id: order() },
        ])
        .when_async(convert(deadline + Duration::days(1)))
        .await
        .then_expect_events(vec![]);
    ReservationTest::with(())
        .given(vec![
            created(),
            ReservationEvent::ReservationConverted { order_id: order() },
        ])
        .when_async(ReservationCommand::Expire { now: deadline })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_show_that_has_started_cannot_be_reserved() {
    let mut facts = show(ShowStatus::Published);
    facts.starts_at = t0();
    ReservationTest::with(())
        .given_no_previous_events()
        .when_async(ReservationCommand::Create {
            reservation_id: rid(),
            customer: customer(1),
            show: facts,
            seats: vec![label("A-1")],
            until: t0() + Duration::minutes(30),
            now: t0(),
            max_seats: 2,
        })
        .await
        .then_expect_error(ReservationError::ShowStarted);
}

#[tokio::test]
async fn a_cancelled_show_withdraws_live_holds_only() {
    ReservationTest::with(())
        .given(vec![created()])
        .when_async(ReservationCommand::Withdraw)
        .await
        .then_expect_events(vec![ReservationEvent::ReservationReleased {}]);
    let converted = ReservationEvent::ReservationConverted {
        order_id: OrderId::generate(),
    };
    for ended in [
        ReservationEvent::ReservationReleased {},
        ReservationEvent::ReservationExpired {},
        converted,
    ] {
        ReservationTest::with(())
            .given(vec![created(), ended])
            .when_async(ReservationCommand::Withdraw)
            .await
            .then_expect_events(vec![]);
    }
    ReservationTest::with(())
        .given_no_previous_events()
        .when_async(ReservationCommand::Withdraw)
        .await
        .then_expect_error(ReservationError::NotFound);
}
