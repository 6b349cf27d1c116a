//! The purchase flow over gRPC, with a clock the test moves: the seed's hold
//! timeline to SOLD, the unbought hold the expirer takes back, and every
//! purchase RPC refusing bad input and the wrong caller without writing.

use chrono::{Duration, TimeZone, Utc};
use std::sync::Arc;
use ticketing_commands::EngineConfig;
use ticketing_identity::Role;
use ticketing_tests::v1::ordering_service_client::OrderingServiceClient;
use ticketing_tests::v1::*;
use ticketing_tests::*;
use tonic::Code;

fn ts(at: chrono::DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

async fn clocked(backend: Backend) -> (TestApp, TestClock, chrono::DateTime<Utc>) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let clock = TestClock::at(t0);
    let app = spawn_app_at(
        database_url(backend).await,
        EngineConfig::default(),
        Arc::new(clock.clone()),
    )
    .await;
    (app, clock, t0)
}

fn status_of(map: &SeatMap, label: &str) -> i32 {
    map.seats
        .iter()
        .find(|s| s.label == label)
        .map(|s| s.status)
        .unwrap_or_default()
}

async fn seed_timeline(backend: Backend) {
    let (app, clock, t0) = clocked(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 4).await;
    let customer = app.customer().await;
    let mut orders = OrderingServiceClient::new(app.channel.clone());

    let reservation = app
        .inventory()
        .reserve_seats(authed(
            &customer,
            ReserveSeatsRequest {
                show_id: show_id.clone(),
                seat_labels: vec!["A-1".into()],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reservation.expires_at, Some(ts(t0 + Duration::minutes(30))));
    clock.advance(Duration::minutes(15));
    let add = AddToCartRequest {
        reservation_id: reservation.reservation_id.clone(),
    };
    let cart = orders
        .add_to_cart(authed(&customer, add))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cart.status, OrderStatus::Cart as i32);
    assert_eq!(
        cart.expires_at,
        Some(ts(t0 + Duration::minutes(45))),
        "adding to the cart extends the hold"
    );
    assert_eq!((cart.total_minor, cart.currency.as_str()), (5000, "EUR"));
    clock.advance(Duration::minutes(29));
    let pay = CheckoutRequest {
        order_id: cart.order_id.clone(),
        payment_token: "tok_visa".into(),
    };
    let paid = orders
        .checkout(authed(&customer, pay))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paid.status, OrderStatus::Paid as i32);
    app.wait_for_seat_map(&show_id, |m| status_of(m, "A-1") == SeatStatus::Sold as i32)
        .await;
    let fetched = orders
        .get_order(authed(
            &customer,
            GetOrderRequest {
                min_consistency_token: Default::default(),
                order_id: cart.order_id.clone(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(fetched.into_inner().status, OrderStatus::Paid as i32);

    // The alternative: a hold nobody buys comes back after its deadline.
    let lapsed = app
        .inventory()
        .reserve_seats(authed(
            &customer,
            ReserveSeatsRequest {
                show_id: show_id.clone(),
                seat_labels: vec!["A-2".into()],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    app.wait_for_seat_map(&show_id, |m| status_of(m, "A-2") == SeatStatus::Held as i32)
        .await;
    clock.advance(Duration::minutes(31));
    let expired = async {
        loop {
            let events = log(&app.store).await;
            if events.iter().any(|(kind, id, event)| {
                kind == "Reservation"
                    && *id == lapsed.reservation_id
                    && event == "ReservationExpired"
            }) {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let events = tokio::time::timeout(std::time::Duration::from_secs(10), expired)
        .await
        .expect("the expirer ran");
    assert!(events.iter().any(|(kind, id, event)| kind == "Seat"
        && id.ends_with("/A-2")
        && event == "SeatReleased"));
    app.wait_for_seat_map(&show_id, |m| {
        status_of(m, "A-2") == SeatStatus::Available as i32
    })
    .await;
    let mine = loop {
        let page = orders
            .list_my_orders(authed(&customer, ListMyOrdersRequest::default()))
            .await
            .unwrap()
            .into_inner();
        if page
            .orders
            .first()
            .is_some_and(|o| o.status == OrderStatus::Paid as i32)
        {
            break page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(mine.orders.len(), 1);
    assert_eq!(mine.orders[0].order_id, cart.order_id);
    app.stop().await;
}

async fn purchase_refusals(backend: Backend) {
    let (app, clock, _) = clocked(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 4).await;
    let (ann, bob) = (app.customer().await, app.customer().await);
    let mut orders = OrderingServiceClient::new(app.channel.clone());
    let reserve = ReserveSeatsRequest {
        show_id,
        seat_labels: vec!["A-1".into()],
    };
    let reservation = app
        .inventory()
        .reserve_seats(authed(&ann, reserve))
        .await
        .unwrap()
        .into_inner();
    let add = AddToCartRequest {
        reservation_id: reservation.reservation_id.clone(),
    };
    let cart = orders
        .add_to_cart(authed(&ann, add.clone()))
        .await
        .unwrap()
        .into_inner();
    let before = log(&app.store).await;

    let code = |r: Result<tonic::Response<Order>, tonic::Status>| {
        r.map(|_| Code::Ok).unwrap_or_else(|s| s.code())
    };
    let bad_ids = [
        code(
            orders
                .add_to_cart(authed(
                    &ann,
                    AddToCartRequest {
                        reservation_id: "nope".into(),
                    },
                ))
                .await,
        ),
        code(
            orders
                .get_order(authed(
                    &ann,
                    GetOrderRequest {
                        min_consistency_token: Default::default(),
                        order_id: "o_".into(),
                    },
                ))
                .await,
        ),
        code(
            orders
                .remove_from_cart(authed(
                    &ann,
                    RemoveFromCartRequest {
                        order_id: "x".into(),
                        reservation_id: "y".into(),
                    },
                ))
                .await,
        ),
        code(
            orders
                .checkout(authed(
                    &ann,
                    CheckoutRequest {
                        order_id: cart.order_id.clone(),
                        payment_token: "".into(),
                    },
                ))
                .await,
        ),
        code(
            orders
                .checkout(authed(
                    &ann,
                    CheckoutRequest {
                        order_id: cart.order_id.clone(),
                        payment_token: "x".repeat(65),
                    },
                ))
                .await,
        ),
    ];
    assert!(
        bad_ids.iter().all(|c| *c == Code::InvalidArgument),
        "{bad_ids:?}"
    );
    let status = orders
        .remove_from_cart(authed(
            &ann,
            RemoveFromCartRequest {
                order_id: "x".into(),
                reservation_id: "y".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["order_id", "reservation_id"]);

    assert_eq!(
        code(orders.add_to_cart(add.clone()).await),
        Code::Unauthenticated
    );
    assert_eq!(
        code(orders.add_to_cart(authed(&organizer, add.clone())).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(orders.add_to_cart(authed(&bob, add.clone())).await),
        Code::PermissionDenied,
        "another's reservation"
    );
    let get = GetOrderRequest {
        min_consistency_token: Default::default(),
        order_id: cart.order_id.clone(),
    };
    assert_eq!(
        code(orders.get_order(authed(&bob, get)).await),
        Code::NotFound,
        "another's order does not exist for bob"
    );
    let pay = CheckoutRequest {
        order_id: cart.order_id.clone(),
        payment_token: "tok_visa".into(),
    };
    assert_eq!(
        code(orders.checkout(authed(&bob, pay.clone())).await),
        Code::NotFound
    );
    let remove = RemoveFromCartRequest {
        order_id: cart.order_id.clone(),
        reservation_id: reservation.reservation_id.clone(),
    };
    assert_eq!(
        code(orders.remove_from_cart(authed(&bob, remove)).await),
        Code::NotFound
    );
    assert_eq!(log(&app.store).await, before, "refusals wrote to the log");

    clock.advance(Duration::minutes(31));
    let status = orders.checkout(authed(&ann, pay)).await.unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_deref()),
        (Code::FailedPrecondition, Some("RESERVATION_EXPIRED"))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_seed_timeline() {
    seed_timeline(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_seed_timeline() {
    seed_timeline(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_purchase_refusals() {
    purchase_refusals(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_purchase_refusals() {
    purchase_refusals(Backend::Postgres).await;
}

/// Adding a hold to the cart again and again cannot keep its seats: the
/// deadline moves to now + TTL but never past creation + 2 × TTL, and the
/// expirer frees the seat once that has passed.
async fn holds_end_however_often_they_are_added(backend: Backend) {
    let (app, clock, t0) = clocked(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 2).await;
    let customer = app.customer().await;
    let mut orders = OrderingServiceClient::new(app.channel.clone());
    let reservation = app
        .inventory()
        .reserve_seats(authed(
            &customer,
            ReserveSeatsRequest {
                show_id: show_id.clone(),
                seat_labels: vec!["A-1".into()],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let add = || {
        authed(
            &customer,
            AddToCartRequest {
                reservation_id: reservation.reservation_id.clone(),
            },
        )
    };
    clock.advance(Duration::minutes(20));
    let cart = orders.add_to_cart(add()).await.unwrap().into_inner();
    assert_eq!(cart.expires_at, Some(ts(t0 + Duration::minutes(50))));
    clock.advance(Duration::minutes(25));
    let cart = orders.add_to_cart(add()).await.unwrap().into_inner();
    assert_eq!(
        cart.expires_at,
        Some(ts(t0 + Duration::minutes(60))),
        "capped at creation + 2 × 30 min, not now + 30 min"
    );
    clock.advance(Duration::minutes(13));
    let cart = orders.add_to_cart(add()).await.unwrap().into_inner();
    assert_eq!(cart.expires_at, Some(ts(t0 + Duration::minutes(60))));
    clock.advance(Duration::minutes(3));
    let refused = orders.add_to_cart(add()).await.unwrap_err();
    assert_eq!(reason(&refused).as_deref(), Some("RESERVATION_EXPIRED"));
    app.wait_for_seat_map(&show_id, |map| {
        status_of(map, "A-1") == SeatStatus::Available as i32
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_holds_end_however_often_they_are_added() {
    holds_end_however_often_they_are_added(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_holds_end_however_often_they_are_added() {
    holds_end_however_often_they_are_added(Backend::Postgres).await;
}
