//! kill -9 of the real `ticketing` process: a burst of reservations cut off
//! at a random instant leaves every reservation whole (all its seats held) or
//! absent, and a hold whose deadline passed while the engine was down never
//! blocks the next buyer. Runs on SQLite and Postgres.

use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use ticketing_aggregates::{ReservationEvent, SeatEvent};
use ticketing_event_store::{FeedPosition, Store};
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use ticketing_proto::v1::*;
use ticketing_tests::{authed, database_url, log, Backend};

mod support;
use support::start;

const SEATS: usize = 400;
const CALLS: usize = 400;

/// Each ReservationCreated has a SeatHeld for every one of its seats and
/// each SeatHeld belongs to a created reservation.
async fn assert_reservations_whole(store: &Store) -> usize {
    let mut created: HashMap<String, HashSet<String>> = HashMap::new();
    let mut holds: HashMap<String, HashSet<String>> = HashMap::new();
    let mut after = FeedPosition::START;
    loop {
        let batch = store.read_feed(0, after, 1000).await.expect("feed");
        let Some(last) = batch.last() else { break };
        after = last.position;
        for e in batch {
            match e.event.aggregate_type.as_str() {
                "Reservation" => {
                    if let Ok(ReservationEvent::ReservationCreated {
                        reservation_id,
                        seats,
                        ..
                    }) = serde_json::from_value(e.event.payload)
                    {
                        created.insert(
                            reservation_id.to_string(),
                            seats.into_iter().map(String::from).collect(),
                        );
                    }
                }
                "Seat" => {
                    if let Ok(SeatEvent::SeatHeld { reservation, .. }) =
                        serde_json::from_value(e.event.payload)
                    {
                        let label = e
                            .event
                            .aggregate_id
                            .split_once('/')
                            .expect("seat id")
                            .1
                            .to_owned();
                        holds
                            .entry(reservation.to_string())
                            .or_default()
                            .insert(label);
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        created, holds,
        "a reservation and its seat holds are written together or not at all"
    );
    created.len()
}

async fn killed_mid_burst(backend: Backend) {
    let url = database_url(backend).await;
    let dir = std::env::temp_dir().join(format!("ticketing-kill-{}", ulid::Ulid::new()));
    let server = start(&url, &dir, "30m").await;
    let show_id = server.published_show(&url, &dir, SEATS).await;
    let mut customers = Vec::new();
    for _ in 0..4 {
        customers.push(server.customer().await);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..CALLS)
        .map(|i| {
            let count = rng.gen_range(1..=4);
            let labels: HashSet<String> = (0..count)
                .map(|_| format!("A-{}", rng.gen_range(1..=SEATS)))
                .collect();
            let mut client = InventoryServiceClient::new(server.channel.clone());
            let request = ReserveSeatsRequest {
                show_id: show_id.clone(),
                seat_labels: labels.into_iter().collect(),
            };
            let request = authed(&customers[i % customers.len()], request);
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                let reply = client.reserve_seats(request).await;
                if reply.is_ok() {
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
                reply
            })
        })
        .collect();
    // Kill once the engine is busy acknowledging, at a random instant.
    let kill_after = rng.gen_range(10..40);
    while acknowledged.load(Ordering::SeqCst) < kill_after {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    server.kill();
    let answered = futures_count(calls).await;
    assert!(answered < CALLS, "the kill came before the burst ended");
    let store = Store::connect(&url).await.expect("reconnect");
    let whole = assert_reservations_whole(&store).await;
    eprintln!(
        "killed mid-burst: {answered} of {CALLS} acknowledged, {whole} reservations in the log"
    );
    assert!(
        whole >= answered,
        "every acknowledged reservation is in the log ({whole} < {answered})"
    );

    let server = start(&url, &dir, "30m").await;
    let customer = server.customer().await;
    let held: HashSet<String> = log(&store)
        .await
        .into_iter()
        .filter(|(kind, _, event)| kind == "Seat" && event == "SeatHeld")
        .map(|(_, id, _)| id.split_once('/').expect("seat").1.to_owned())
        .collect();
    if let Some(free) = (1..=SEATS)
        .map(|i| format!("A-{i}"))
        .find(|l| !held.contains(l))
    {
        let request = ReserveSeatsRequest {
            show_id,
            seat_labels: vec![free],
        };
        let mut inventory = InventoryServiceClient::new(server.channel.clone());
        inventory
            .reserve_seats(authed(&customer, request))
            .await
            .expect("the restarted engine sells what is free");
    }
    assert!(assert_reservations_whole(&store).await > whole || held.len() == SEATS);
    server.kill();
}

/// How many calls were acknowledged with OK before the kill.
async fn futures_count(
    calls: Vec<tokio::task::JoinHandle<Result<tonic::Response<Reservation>, tonic::Status>>>,
) -> usize {
    let mut ok = 0;
    for call in calls {
        if matches!(call.await, Ok(Ok(_))) {
            ok += 1;
        }
    }
    ok
}

async fn deadline_passes_while_down(backend: Backend) {
    let url = database_url(backend).await;
    let dir = std::env::temp_dir().join(format!("ticketing-kill-{}", ulid::Ulid::new()));
    let server = start(&url, &dir, "1s").await;
    let show_id = server.published_show(&url, &dir, 3).await;
    let first = server.customer().await;
    let request = |seats: &[&str]| ReserveSeatsRequest {
        show_id: show_id.clone(),
        seat_labels: seats.iter().map(|s| s.to_string()).collect(),
    };
    let mut inventory = InventoryServiceClient::new(server.channel.clone());
    inventory
        .reserve_seats(authed(&first, request(&["A-1", "A-2"])))
        .await
        .expect("first hold");
    server.kill();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let server = start(&url, &dir, "30m").await;
    let second = server.customer().await;
    let mut inventory = InventoryServiceClient::new(server.channel.clone());
    inventory
        .reserve_seats(authed(&second, request(&["A-2", "A-3"])))
        .await
        .expect("a hold past its deadline never blocks a new buyer");
    let store = Store::connect(&url).await.expect("store");
    let a2: Vec<String> = log(&store)
        .await
        .into_iter()
        .filter(|(kind, id, _)| kind == "Seat" && id.ends_with("/A-2"))
        .map(|(_, _, event)| event)
        .collect();
    assert_eq!(
        a2,
        ["SeatHeld", "SeatReleased", "SeatHeld"],
        "the stale hold ends in the same append"
    );
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_mid_burst_leaves_whole_reservations() {
    killed_mid_burst(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kill_mid_burst_leaves_whole_reservations() {
    killed_mid_burst(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_deadline_passes_while_killed() {
    deadline_passes_while_down(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deadline_passes_while_killed() {
    deadline_passes_while_down(Backend::Postgres).await;
}
