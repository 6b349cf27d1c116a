//! The contention guarantee over gRPC: 1,000 concurrent ReserveSeats for one
//! seat give exactly one OK and 999 SEAT_UNAVAILABLE, and overlapping
//! multi-seat reservations never both succeed — on Postgres and SQLite.

use futures::future::join_all;
use std::collections::HashSet;
use ticketing_aggregates::Seat;
use ticketing_identity::Role;
use ticketing_tests::v1::inventory_service_client::InventoryServiceClient;
use ticketing_tests::v1::{ReserveSeatsRequest, SeatStatus};
use ticketing_tests::*;
use tonic::Code;

const CONTENDERS: usize = 1000;
const CHANNELS: usize = 8;
const CUSTOMERS: usize = 20;

async fn one_seat_thousand_buyers(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 4).await;
    let mut customers = Vec::new();
    for _ in 0..CUSTOMERS {
        customers.push(app.customer().await);
    }
    let mut channels = Vec::new();
    for _ in 0..CHANNELS {
        channels.push(app.new_channel().await);
    }
    let calls = (0..CONTENDERS).map(|i| {
        let mut client = InventoryServiceClient::new(channels[i % CHANNELS].clone());
        let request = authed(
            &customers[i % CUSTOMERS],
            ReserveSeatsRequest {
                show_id: show_id.clone(),
                seat_labels: vec!["A-2".into()],
            },
        );
        async move { client.reserve_seats(request).await }
    });
    let results = join_all(calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let mut other = Vec::new();
    let mut unavailable = 0;
    for status in results.iter().filter_map(|r| r.as_ref().err()) {
        if status.code() == Code::FailedPrecondition
            && reason(status).as_deref() == Some("SEAT_UNAVAILABLE")
        {
            unavailable += 1;
        } else {
            other.push(format!("{:?}: {}", status.code(), status.message()));
        }
    }
    assert!(other.is_empty(), "unexpected outcomes: {other:?}");
    assert_eq!((ok, unavailable), (1, CONTENDERS - 1));
    let seat_id = format!("{show_id}/A-2");
    assert_eq!(
        count_events::<Seat>(&app.store, &seat_id, "SeatHeld").await,
        1
    );
    app.wait_for_seat_map(&show_id, |map| {
        map.seats
            .iter()
            .filter(|s| s.status == SeatStatus::Held as i32)
            .count()
            == 1
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_thousand_buyers_one_seat_one_winner() {
    one_seat_thousand_buyers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_thousand_buyers_one_seat_one_winner() {
    one_seat_thousand_buyers(Backend::Postgres).await;
}

/// Rounds of two customers racing for overlapping seat sets.
async fn overlapping_reservations(backend: Backend) {
    const ROUNDS: usize = 15;
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    // Each of the two wins about half the rounds: more seats than the
    // default hold limit.
    let show_id = app.unlimited_show(&organizer, ROUNDS * 5).await;
    let (alice, bob) = (app.customer().await, app.customer().await);
    let labels = |from: usize| {
        (from..from + 3)
            .map(|i| format!("A-{i}"))
            .collect::<Vec<_>>()
    };
    for round in 0..ROUNDS {
        let first = 1 + round * 5;
        let (a, b) = (labels(first), labels(first + 2));
        let reserve = |token: &str, seats: Vec<String>| {
            let mut client = app.inventory();
            let request = authed(
                token,
                ReserveSeatsRequest {
                    show_id: show_id.clone(),
                    seat_labels: seats,
                },
            );
            async move { client.reserve_seats(request).await }
        };
        let (ra, rb) = tokio::join!(reserve(&alice, a.clone()), reserve(&bob, b.clone()));
        assert!(
            ra.is_ok() != rb.is_ok(),
            "round {round}: exactly one of two overlapping reservations wins"
        );
        let (winner, loser, lost) = if ra.is_ok() { (a, b, rb) } else { (b, a, ra) };
        let status = lost.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(reason(&status).as_deref(), Some("SEAT_UNAVAILABLE"));
        let winners: HashSet<_> = winner.iter().collect();
        for label in loser.iter().filter(|l| !winners.contains(l)) {
            let seat_id = format!("{show_id}/{label}");
            assert_eq!(
                count_events::<Seat>(&app.store, &seat_id, "SeatHeld").await,
                0,
                "loser held {label}"
            );
        }
    }
    let map = app
        .wait_for_seat_map(&show_id, |map| {
            map.seats
                .iter()
                .filter(|s| s.status == SeatStatus::Held as i32)
                .count()
                == ROUNDS * 3
        })
        .await;
    assert_eq!(map.seats.len(), ROUNDS * 5);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_overlapping_reservations_never_both_win() {
    overlapping_reservations(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_overlapping_reservations_never_both_win() {
    overlapping_reservations(Backend::Postgres).await;
}
