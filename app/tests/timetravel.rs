//! Time travel: the seat map at three instants of a scripted history —
//! before anything was held, while two seats were held, after one was sold
//! and the other released — over gRPC (GetSeatMap as_of) and from the CLI
//! (`ticketing seatmap --as-of`).

use std::process::Command;
use std::time::Duration;
use ticketing_identity::Role;
use ticketing_proto::v1::ordering_service_client::OrderingServiceClient;
use ticketing_proto::v1::*;
use ticketing_tests::{authed, spawn_app, Backend, TestApp};

fn ts(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Now, with a pause on each side so events fall clearly before or after.
async fn instant() -> chrono::DateTime<chrono::Utc> {
    tokio::time::sleep(Duration::from_millis(30)).await;
    let at = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    at
}

async fn statuses(
    app: &TestApp,
    organizer: &str,
    show_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<i32> {
    let request = GetSeatMapRequest {
        min_consistency_token: Default::default(),
        show_id: show_id.into(),
        as_of: Some(ts(at)),
    };
    let map = app
        .inventory()
        .get_seat_map(authed(organizer, request))
        .await
        .expect("as-of seat map")
        .into_inner();
    map.seats.iter().map(|s| s.status).collect()
}

async fn three_instants(backend: Backend) {
    let app = spawn_app(backend).await;
    let before_show = instant().await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 3).await;
    let customer = app.customer().await;
    let t1 = instant().await;

    let reserve = |labels: &[&str]| ReserveSeatsRequest {
        show_id: show_id.clone(),
        seat_labels: labels.iter().map(|l| l.to_string()).collect(),
    };
    let first = app
        .inventory()
        .reserve_seats(authed(&customer, reserve(&["A-1"])))
        .await
        .unwrap()
        .into_inner();
    let second = app
        .inventory()
        .reserve_seats(authed(&customer, reserve(&["A-2"])))
        .await
        .unwrap()
        .into_inner();
    let t2 = instant().await;

    let mut orders = OrderingServiceClient::new(app.channel.clone());
    let cart = orders
        .add_to_cart(authed(
            &customer,
            AddToCartRequest {
                reservation_id: first.reservation_id,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let pay = CheckoutRequest {
        order_id: cart.order_id,
        payment_token: "tok_visa".into(),
    };
    orders.checkout(authed(&customer, pay)).await.unwrap();
    let release = ReleaseReservationRequest {
        reservation_id: second.reservation_id,
    };
    app.inventory()
        .release_reservation(authed(&customer, release))
        .await
        .unwrap();
    let t3 = instant().await;

    let (a, h, s) = (
        SeatStatus::Available as i32,
        SeatStatus::Held as i32,
        SeatStatus::Sold as i32,
    );
    assert_eq!(statuses(&app, &organizer, &show_id, t1).await, [a, a, a]);
    assert_eq!(statuses(&app, &organizer, &show_id, t2).await, [h, h, a]);
    assert_eq!(statuses(&app, &organizer, &show_id, t3).await, [s, a, a]);
    let early = GetSeatMapRequest {
        min_consistency_token: Default::default(),
        show_id: show_id.clone(),
        as_of: Some(ts(before_show)),
    };
    assert_eq!(
        app.inventory()
            .get_seat_map(authed(&organizer, early))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );
    let future = GetSeatMapRequest {
        min_consistency_token: Default::default(),
        show_id: show_id.clone(),
        as_of: Some(ts(chrono::Utc::now() + chrono::Duration::days(1))),
    };
    assert_eq!(
        app.inventory()
            .get_seat_map(authed(&organizer, future))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::InvalidArgument
    );

    let cli = Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args([
            "--log-format",
            "text",
            "seatmap",
            &show_id,
            "--as-of",
            &t2.to_rfc3339(),
            "--database-url",
            &app.database_url,
        ])
        .env("TICKETING_LOG", "warn")
        .output()
        .expect("run ticketing seatmap");
    let out = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(out.contains("1 available, 2 held, 0 sold"), "{out}");

    // Time travel is for admins, analysts and the show's own organizer.
    let at_t2 = || GetSeatMapRequest {
        min_consistency_token: Default::default(),
        show_id: show_id.clone(),
        as_of: Some(ts(t2)),
    };
    let anonymous = app.inventory().get_seat_map(at_t2()).await.unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
    let rival = app.user_with_role(Role::Organizer).await;
    for token in [&customer, &rival] {
        let refused = app
            .inventory()
            .get_seat_map(authed(token, at_t2()))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    }
    for role in [Role::Analyst, Role::Admin] {
        let token = app.user_with_role(role).await;
        assert_eq!(statuses(&app, &token, &show_id, t2).await, [h, h, a]);
    }
    // Now is still anyone's.
    app.inventory()
        .get_seat_map(GetSeatMapRequest {
            min_consistency_token: Default::default(),
            show_id: show_id.clone(),
            as_of: None,
        })
        .await
        .expect("the seat map now is public");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_seat_map_at_three_instants() {
    three_instants(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_seat_map_at_three_instants() {
    three_instants(Backend::Postgres).await;
}
