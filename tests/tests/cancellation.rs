//! A cancelled show sells nothing more and undoes what it sold: live holds
//! are released, a cart's checkout is refused, every paid order is refunded
//! once through the payment provider and its tickets turn VOIDED, so the
//! door answers VOIDED. A show that has started takes no new holds.

use chrono::{Duration, TimeZone, Utc};
use std::sync::Arc;
use ticketing_aggregates::{Order, Payment};
use ticketing_commands::EngineConfig;
use ticketing_identity::Role;
use ticketing_payment::SimulatedProvider;
use ticketing_tests::v1::*;
use ticketing_tests::*;

async fn order_status(app: &TestApp, customer: &str, order_id: &str) -> i32 {
    app.ordering()
        .get_order(authed(
            customer,
            GetOrderRequest {
                min_consistency_token: Default::default(),
                order_id: order_id.into(),
            },
        ))
        .await
        .expect("get order")
        .into_inner()
        .status
}

/// Polls `check` until it holds; panics after 20 s.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn cancelling_undoes_the_sale(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 5).await;
    let buyer = app.customer().await;
    let order = app.buy(&buyer, &show_id, &["A-1", "A-2"]).await;
    let tickets = app.wait_for_tickets(&buyer, &order.order_id, 2).await;

    // A second customer holds A-3 in a cart, a third holds A-4.
    let carter = app.customer().await;
    let held = app
        .inventory()
        .reserve_seats(authed(
            &carter,
            ReserveSeatsRequest {
                show_id: show_id.clone(),
                seat_labels: vec!["A-3".into()],
            },
        ))
        .await
        .expect("reserve")
        .into_inner();
    let cart = app
        .ordering()
        .add_to_cart(authed(
            &carter,
            AddToCartRequest {
                reservation_id: held.reservation_id,
            },
        ))
        .await
        .expect("cart")
        .into_inner();
    let holder = app.customer().await;
    app.inventory()
        .reserve_seats(authed(
            &holder,
            ReserveSeatsRequest {
                show_id: show_id.clone(),
                seat_labels: vec!["A-4".into()],
            },
        ))
        .await
        .expect("reserve");

    app.catalog()
        .cancel_show(authed(
            &organizer,
            CancelShowRequest {
                show_id: show_id.clone(),
            },
        ))
        .await
        .expect("cancel");

    // Nothing more is sold.
    let refused = app
        .ordering()
        .checkout(authed(
            &carter,
            CheckoutRequest {
                order_id: cart.order_id.clone(),
                payment_token: "tok_visa".into(),
            },
        ))
        .await
        .expect_err("the show is cancelled");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(reason(&refused).as_deref(), Some("SHOW_CANCELLED"));
    let refused = app
        .inventory()
        .reserve_seats(authed(
            &holder,
            ReserveSeatsRequest {
                show_id: show_id.clone(),
                seat_labels: vec!["A-5".into()],
            },
        ))
        .await
        .expect_err("no new holds");
    assert_eq!(reason(&refused).as_deref(), Some("SHOW_CANCELLED"));

    // The holds end: are free again (nobody can take them).
    app.wait_for_seat_map(&show_id, |map| {
        map.seats.len() == 5
            && map.seats.iter().all(|seat| match seat.label.as_str() {
                "A-3" | "A-4" | "A-5" => seat.status == SeatStatus::Available as i32,
                _ => seat.status == SeatStatus::Sold as i32,
            })
    })
    .await;

    // The paid order is refunded and its tickets are void.
    eventually("the order is refunded", || async {
        order_status(&app, &buyer, &order.order_id).await == OrderStatus::Refunded as i32
    })
    .await;
    let voided = app.wait_for_tickets(&buyer, &order.order_id, 2).await;
    assert!(
        voided
            .iter()
            .all(|t| t.status == TicketStatus::Voided as i32),
        "{voided:?}"
    );
    for ticket in &tickets {
        let answer = app
            .fulfillment()
            .check_in(authed(
                &organizer,
                CheckInRequest {
                    qr_payload: ticket.qr_payload.clone(),
                    show_id: show_id.clone(),
                },
            ))
            .await
            .expect("scanned")
            .into_inner();
        assert_eq!(answer.result, CheckInResult::Voided as i32);
    }

    // Refunded once: one refund in the log, and the provider gave the
    // money back for that payment (and only it).
    let provider = SimulatedProvider::new(app.store.read_pool().clone());
    let charges = provider.charges().await.expect("charges");
    let refunded: Vec<_> = charges.iter().filter(|c| c.refunded).collect();
    assert_eq!(refunded.len(), 1, "{charges:?}");
    assert!(refunded[0].refund_requests >= 1);
    assert_eq!(
        count_events::<Payment>(&app.store, &refunded[0].key, "PaymentRefunded").await,
        1
    );
    assert_eq!(
        count_events::<Order>(&app.store, &order.order_id, "OrderRefunded").await,
        1
    );
    // The expirer keeps sweeping; nothing is refunded again.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        count_events::<Order>(&app.store, &order.order_id, "OrderRefunded").await,
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_cancelling_undoes_the_sale() {
    cancelling_undoes_the_sale(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cancelling_undoes_the_sale() {
    cancelling_undoes_the_sale(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_show_that_has_started_takes_no_holds() {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let clock = TestClock::at(t0);
    let app = spawn_app_at(
        database_url(Backend::Sqlite).await,
        EngineConfig::default(),
        Arc::new(clock.clone()),
    )
    .await;
    let organizer = app.user_with_role(Role::Organizer).await;
    // schedule_request starts the show 30 days from the wall clock.
    let show_id = app.published_show(&organizer, 2).await;
    let customer = app.customer().await;
    clock.advance(Duration::days(31) + (Utc::now() - t0));
    let refused = app
        .inventory()
        .reserve_seats(authed(
            &customer,
            ReserveSeatsRequest {
                show_id,
                seat_labels: vec!["A-1".into()],
            },
        ))
        .await
        .expect_err("the show has started");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(reason(&refused).as_deref(), Some("SHOW_STARTED"));
    app.stop().await;
}
