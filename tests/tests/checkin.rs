//! Check-in at the door: a ticket admits once, however many scanners race
//! on it; anything that does not verify — a flipped byte, garbage, a ticket
//! for another show — is INVALID, never an error; only the show's
//! organizer (or an admin) may scan.

use futures::future::join_all;
use ticketing_identity::Role;
use ticketing_tests::v1::*;
use ticketing_tests::*;
use tonic::Code;

fn scan(payload: &str, show_id: &str) -> CheckInRequest {
    CheckInRequest {
        qr_payload: payload.into(),
        show_id: show_id.into(),
    }
}

async fn result(app: &TestApp, token: &str, request: CheckInRequest) -> CheckInResponse {
    app.fulfillment()
        .check_in(authed(token, request))
        .await
        .expect("a scan is answered")
        .into_inner()
}

async fn a_ticket_admits_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 2).await;
    let other_show = app.published_show(&organizer, 2).await;
    let customer = app.customer().await;
    let order = app.buy(&customer, &show_id, &["A-1"]).await;
    let ticket = app.wait_for_tickets(&customer, &order.order_id, 1).await[0].clone();

    // 50 scanners at once: one is let in, 49 are told it was used.
    let mut channels = Vec::new();
    for _ in 0..5 {
        channels.push(app.new_channel().await);
    }
    let scans = (0..50).map(|n| {
        let mut client =
            ticketing_tests::v1::fulfillment_service_client::FulfillmentServiceClient::new(
                channels[n % channels.len()].clone(),
            );
        let request = authed(&organizer, scan(&ticket.qr_payload, &show_id));
        async move { client.check_in(request).await }
    });
    let answers: Vec<CheckInResponse> = join_all(scans)
        .await
        .into_iter()
        .map(|answer| answer.expect("every scan is answered").into_inner())
        .collect();
    let admitted = answers
        .iter()
        .filter(|a| a.result == CheckInResult::Admitted as i32)
        .count();
    let used = answers
        .iter()
        .filter(|a| a.result == CheckInResult::AlreadyUsed as i32)
        .count();
    assert_eq!((admitted, used), (1, 49), "{answers:?}");
    let first = answers
        .iter()
        .find(|a| a.result == CheckInResult::Admitted as i32)
        .expect("admitted");
    assert_eq!(first.ticket_id, ticket.ticket_id);
    assert_eq!(first.seat_label, "A-1");
    assert!(
        answers
            .iter()
            .all(|a| a.checked_in_at == first.checked_in_at),
        "ALREADY_USED names the first admission"
    );
    assert_eq!(
        count_events::<ticketing_aggregates::Ticket>(
            &app.store,
            &ticket.ticket_id,
            "TicketCheckedIn"
        )
        .await,
        1,
        "the log admits once"
    );

    // Anything that does not verify is INVALID: each byte flipped, garbage,
    // an oversized payload, a ticket of another show at this door.
    let payload = ticket.qr_payload.as_bytes();
    for at in (0..payload.len()).step_by(7) {
        let mut forged = payload.to_vec();
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        let answer = result(&app, &organizer, scan(&forged, "")).await;
        assert_eq!(
            answer.result,
            CheckInResult::Invalid as i32,
            "byte {at} changed: {forged}"
        );
        assert!(answer.ticket_id.is_empty());
    }
    for garbage in ["", "T1.", "hello", &"x".repeat(100_000)] {
        let answer = result(&app, &organizer, scan(garbage, "")).await;
        assert_eq!(answer.result, CheckInResult::Invalid as i32);
    }
    let elsewhere = result(&app, &organizer, scan(&ticket.qr_payload, &other_show)).await;
    assert_eq!(
        elsewhere.result,
        CheckInResult::Invalid as i32,
        "wrong show"
    );

    // Only the show's organizer or an admin scans.
    let denied = app
        .fulfillment()
        .check_in(authed(&customer, scan(&ticket.qr_payload, &show_id)))
        .await
        .expect_err("a customer is no door");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let stranger = app.user_with_role(Role::Organizer).await;
    let denied = app
        .fulfillment()
        .check_in(authed(&stranger, scan(&ticket.qr_payload, &show_id)))
        .await
        .expect_err("another organizer's show");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let admin = app.user_with_role(Role::Admin).await;
    let by_admin = result(&app, &admin, scan(&ticket.qr_payload, &show_id)).await;
    assert_eq!(by_admin.result, CheckInResult::AlreadyUsed as i32);
    let malformed = app
        .fulfillment()
        .check_in(authed(&organizer, scan(&ticket.qr_payload, "s_nope")))
        .await
        .expect_err("a malformed door show id");
    assert_eq!(malformed.code(), Code::InvalidArgument);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_ticket_admits_once() {
    a_ticket_admits_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_ticket_admits_once() {
    a_ticket_admits_once(Backend::Postgres).await;
}
