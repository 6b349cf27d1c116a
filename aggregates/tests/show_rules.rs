//! Given/when/then rules of the Show aggregate.

use chrono::{Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use ticketing_aggregates::*;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn organizer() -> UserRef {
    UserRef::parse("u", "u_01JZ00000000000000000000AA").unwrap()
}

fn details() -> ShowDetails {
    ShowDetails {
        show_id: ShowId::parse("s", "s_01JZ00000000000000000000AA").unwrap(),
        organizer: organizer(),
        title: "Hamlet".into(),
        venue: "Globe".into(),
        starts_at: now() + Duration::days(30),
        time_zone: TimeZoneName::utc(),
        currency: Currency::parse("currency", "EUR").unwrap(),
        plan: SeatingPlan::parse(&[RawSection {
            name: "Stalls".into(),
            rows: vec![RawRow {
                name: "A".into(),
                seats: vec![("A-1".into(), 5000)],
            }],
        }])
        .unwrap(),
        max_held_seats: None,
    }
}

fn owner() -> Actor {
    Actor {
        user: organizer(),
        is_admin: false,
    }
}

fn stranger() -> Actor {
    Actor {
        user: UserRef::parse("u", "u_01JZ00000000000000000000BB").unwrap(),
        is_admin: false,
    }
}

type ShowTest = TestFramework<Show>;

#[tokio::test]
async fn scheduling_a_show_records_its_plan() {
    ShowTest::with(())
        .given_no_previous_events()
        .when_async(ShowCommand::Schedule {
            details: details(),
            now: now(),
        })
        .await
        .then_expect_events(vec![ShowEvent::ShowScheduled(details())]);
}

#[tokio::test]
async fn a_show_cannot_start_in_the_past_or_be_scheduled_twice() {
    let mut past = details();
    past.starts_at = now() - Duration::minutes(1);
    ShowTest::with(())
        .given_no_previous_events()
        .when_async(ShowCommand::Schedule {
            details: past,
            now: now(),
        })
        .await
        .then_expect_error(ShowError::StartsInThePast);
    ShowTest::with(())
        .given(vec![ShowEvent::ShowScheduled(details())])
        .when_async(ShowCommand::Schedule {
            details: details(),
            now: now(),
        })
        .await
        .then_expect_error(ShowError::AlreadyScheduled);
}

#[tokio::test]
async fn the_owner_publishes_and_publishing_twice_is_a_no_op() {
    ShowTest::with(())
        .given(vec![ShowEvent::ShowScheduled(details())])
        .when_async(ShowCommand::Publish { by: owner() })
        .await
        .then_expect_events(vec![ShowEvent::ShowPublished {}]);
    ShowTest::with(())
        .given(vec![
            ShowEvent::ShowScheduled(details()),
            ShowEvent::ShowPublished {},
        ])
        .when_async(ShowCommand::Publish { by: owner() })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn only_the_owner_or_an_admin_may_change_a_show() {
    ShowTest::with(())
        .given(vec![ShowEvent::ShowScheduled(details())])
        .when_async(ShowCommand::Cancel { by: stranger() })
        .await
        .then_expect_error(ShowError::NotOwner);
    let admin = Actor {
        is_admin: true,
        ..stranger()
    };
    ShowTest::with(())
        .given(vec![ShowEvent::ShowScheduled(details())])
        .when_async(ShowCommand::Cancel { by: admin })
        .await
        .then_expect_events(vec![ShowEvent::ShowCancelled {}]);
}

#[tokio::test]
async fn an_unknown_show_cannot_be_published() {
    ShowTest::with(())
        .given_no_previous_events()
        .when_async(ShowCommand::Publish { by: owner() })
        .await
        .then_expect_error(ShowError::NotFound);
}

#[tokio::test]
async fn a_cancelled_show_cannot_be_published_and_cancelling_again_is_a_no_op() {
    let cancelled = vec![
        ShowEvent::ShowScheduled(details()),
        ShowEvent::ShowCancelled {},
    ];
    ShowTest::with(())
        .given(cancelled.clone())
        .when_async(ShowCommand::Publish { by: owner() })
        .await
        .then_expect_error(ShowError::Cancelled);
    ShowTest::with(())
        .given(cancelled)
        .when_async(ShowCommand::Cancel { by: owner() })
        .await
        .then_expect_events(vec![]);
}

#[test]
fn show_scheduled_stores_seats_as_pairs_at_version_2_and_reads_version_1_upcast() {
    let event = ShowEvent::ShowScheduled(details());
    assert_eq!(cqrs_es::DomainEvent::event_version(&event), "2");
    let stored = serde_json::to_value(&event).unwrap();
    assert_eq!(
        stored["ShowScheduled"]["plan"]["sections"][0]["rows"][0]["seats"],
        serde_json::json!([["A-1", 5000]])
    );
    // The same event as version 1 wrote it: each seat an object. The type
    // reads only version 2; version 1 is read through its upcast.
    let mut v1 = stored.clone();
    v1["ShowScheduled"]["plan"]["sections"][0]["rows"][0]["seats"] =
        serde_json::json!([{ "label": "A-1", "price_minor": 5000 }]);
    assert!(serde_json::from_value::<ShowEvent>(v1.clone()).is_err());
    let (version, upcast) = ticketing_aggregates::upcast::upcast_payload("ShowScheduled", "1", v1);
    assert_eq!(version, "2");
    let read: ShowEvent = serde_json::from_value(upcast).unwrap();
    assert_eq!(read, event);
    let read: ShowEvent = serde_json::from_value(stored).unwrap();
    assert_eq!(read, event);
    // A pair is still validated like the object was.
    let bad = serde_json::json!(["A 1", 5000]);
    assert!(serde_json::from_value::<PlannedSeat>(bad).is_err());
    let negative = serde_json::json!(["A-1", -5]);
    assert!(serde_json::from_value::<PlannedSeat>(negative).is_err());
}
