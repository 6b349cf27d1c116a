//! Given/when/then rules of the Ticket aggregate: issued once, admitted at
//! most once, and a void that overtakes the issue leaves a tombstone.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use ticketing_aggregates::*;

type TicketTest = TestFramework<Ticket>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn door() -> UserRef {
    UserRef::parse("u", "u_01JZ00000000000000000000D0").unwrap()
}

fn details() -> TicketDetails {
    let order = OrderId::parse("o", "o_01JZ00000000000000000000AA").unwrap();
    let show = ShowId::parse("s", "s_01JZ00000000000000000000AA").unwrap();
    let seat = SeatLabel::parse("l", "A-1").unwrap();
    TicketDetails {
        ticket_id: TicketId::for_seat(&order, &show, &seat),
        order_id: order,
        customer_id: UserRef::parse("u", "u_01JZ00000000000000000000C1").unwrap(),
        holder_name: "Ann".into(),
        show_id: show,
        show_title: "Hamlet".into(),
        venue: "The Globe".into(),
        starts_at: t0() + chrono::Duration::days(30),
        time_zone: TimeZoneName::parse("z", "Europe/London").unwrap(),
        section: "Stalls".into(),
        row: "A".into(),
        seat_label: seat,
        price_minor: 5000,
        currency: Currency::parse("c", "GBP").unwrap(),
        issued_at: t0(),
        qr_payload: "T1.signed".into(),
        tickets_in_order: 1,
    }
}

fn issued() -> TicketEvent {
    TicketEvent::TicketIssued(Box::new(details()))
}

fn check_in() -> TicketCommand {
    TicketCommand::CheckIn {
        at: t0(),
        by: door(),
    }
}

#[tokio::test]
async fn a_ticket_is_issued_once() {
    TicketTest::with(())
        .given_no_previous_events()
        .when_async(TicketCommand::Issue(Box::new(details())))
        .await
        .then_expect_events(vec![issued()]);
    TicketTest::with(())
        .given(vec![issued()])
        .when_async(TicketCommand::Issue(Box::new(details())))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_ticket_admits_once() {
    TicketTest::with(())
        .given(vec![issued()])
        .when_async(check_in())
        .await
        .then_expect_events(vec![TicketEvent::TicketCheckedIn {
            at: t0(),
            by: door(),
        }]);
    TicketTest::with(())
        .given(vec![
            issued(),
            TicketEvent::TicketCheckedIn {
                at: t0(),
                by: door(),
            },
        ])
        .when_async(check_in())
        .await
        .then_expect_error(TicketError::AlreadyCheckedIn { at: t0() });
    TicketTest::with(())
        .given_no_previous_events()
        .when_async(check_in())
        .await
        .then_expect_error(TicketError::NotFound);
}

#[tokio::test]
async fn a_void_ticket_admits_nobody_and_a_tombstone_blocks_the_issue() {
    let voided = TicketEvent::TicketVoided {
        reason: "show cancelled".into(),
    };
    let void = || TicketCommand::Void {
        reason: "show cancelled".into(),
    };
    TicketTest::with(())
        .given(vec![issued()])
        .when_async(void())
        .await
        .then_expect_events(vec![voided.clone()]);
    TicketTest::with(())
        .given(vec![issued(), voided.clone()])
        .when_async(check_in())
        .await
        .then_expect_error(TicketError::Voided);
    TicketTest::with(())
        .given(vec![issued(), voided.clone()])
        .when_async(void())
        .await
        .then_expect_events(vec![]);
    // Voided before it was issued: the late issue issues nothing.
    TicketTest::with(())
        .given_no_previous_events()
        .when_async(void())
        .await
        .then_expect_events(vec![voided.clone()]);
    TicketTest::with(())
        .given(vec![voided])
        .when_async(TicketCommand::Issue(Box::new(details())))
        .await
        .then_expect_events(vec![]);
}
