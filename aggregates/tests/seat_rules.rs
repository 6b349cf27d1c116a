//! Given/when/then rules of the Seat aggregate.

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use ticketing_aggregates::*;

type SeatTest = TestFramework<Seat>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn r(n: u8) -> ReservationId {
    ReservationId::parse("r", &format!("r_01JZ000000000000000000000{n}")).unwrap()
}

fn held(n: u8, until: DateTime<Utc>) -> SeatEvent {
    SeatEvent::SeatHeld {
        reservation: r(n),
        until,
    }
}

fn hold(n: u8, now: DateTime<Utc>) -> SeatCommand {
    SeatCommand::Hold {
        reservation: r(n),
        until: now + Duration::minutes(30),
        now,
    }
}

#[tokio::test]
async fn an_available_seat_is_held() {
    SeatTest::with(())
        .given_no_previous_events()
        .when_async(hold(1, t0()))
        .await
        .then_expect_events(vec![held(1, t0() + Duration::minutes(30))]);
}

#[tokio::test]
async fn a_live_hold_blocks_everyone_else() {
    let until = t0() + Duration::minutes(30);
    SeatTest::with(())
        .given(vec![held(1, until)])
        .when_async(hold(2, t0() + Duration::minutes(29)))
        .await
        .then_expect_error(SeatError::Unavailable {
            held_until: Some(until),
        });
}

#[tokio::test]
async fn a_hold_past_its_deadline_never_blocks_a_new_buyer() {
    let later = t0() + Duration::minutes(30);
    SeatTest::with(())
        .given(vec![held(1, later)])
        .when_async(hold(2, later))
        .await
        .then_expect_events(vec![
            SeatEvent::SeatReleased {
                reservation: r(1),
                reason: ReleaseReason::Expired,
            },
            held(2, later + Duration::minutes(30)),
        ]);
}

#[tokio::test]
async fn a_sold_seat_is_never_held_again() {
    let until = t0() + Duration::minutes(30);
    SeatTest::with(())
        .given(vec![
            held(1, until),
            SeatEvent::SeatSold { reservation: r(1) },
        ])
        .when_async(hold(2, t0() + Duration::days(1)))
        .await
        .then_expect_error(SeatError::Unavailable { held_until: None });
}

#[tokio::test]
async fn only_the_holder_before_its_deadline_may_buy_or_extend() {
    let until = t0() + Duration::minutes(30);
    SeatTest::with(())
        .given(vec![held(1, until)])
        .when_async(SeatCommand::Sell {
            reservation: r(1),
            now: t0(),
        })
        .await
        .then_expect_events(vec![SeatEvent::SeatSold { reservation: r(1) }]);
    SeatTest::with(())
        .given(vec![held(1, until)])
        .when_async(SeatCommand::Sell {
            reservation: r(2),
            now: t0(),
        })
        .await
        .then_expect_error(SeatError::HoldEnded);
    SeatTest::with(())
        .given(vec![held(1, until)])
        .when_async(SeatCommand::ExtendHold {
            reservation: r(1),
            until: until + Duration::minutes(15),
            now: until,
        })
        .await
        .then_expect_error(SeatError::HoldEnded);
    SeatTest::with(())
        .given(vec![held(1, until)])
        .when_async(SeatCommand::ExtendHold {
            reservation: r(1),
            until: until + Duration::minutes(15),
            now: t0(),
        })
        .await
        .then_expect_events(vec![SeatEvent::SeatHoldExtended {
            reservation: r(1),
            until: until + Duration::minutes(15),
        }]);
}

#[tokio::test]
async fn release_ends_only_the_named_reservations_hold() {
    let until = t0() + Duration::minutes(30);
    SeatTest::with(())
        .given(vec![held(1, until)])
        .when_async(SeatCommand::Release {
            reservation: r(2),
            reason: ReleaseReason::Released,
        })
        .await
        .then_expect_events(vec![]);
    SeatTest::with(())
        .given(vec![held(1, until)])
        .when_async(SeatCommand::Release {
            reservation: r(1),
            reason: ReleaseReason::Released,
        })
        .await
        .then_expect_events(vec![SeatEvent::SeatReleased {
            reservation: r(1),
            reason: ReleaseReason::Released,
        }]);
}

#[tokio::test]
async fn a_deadline_in_the_past_is_refused() {
    SeatTest::with(())
        .given_no_previous_events()
        .when_async(SeatCommand::Hold {
            reservation: r(1),
            until: t0(),
            now: t0(),
        })
        .await
        .then_expect_error(SeatError::DeadlineInThePast);
}
