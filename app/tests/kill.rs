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
use ticketing_event_store::Store;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use ticketing_proto::v1::*;
use ticketing_tests::{authed, database_url, log, log_with_payloads, Backend};

mod support;
use support::start;

const SEATS: usize = 400;
const CALLS: usize = 400;

/// Each ReservationCreated has a SeatHeld for every one of its seats and
/// each SeatHeld belongs to a created reservation.
async fn assert_reservations_whole(store: &Store) -> usize {
    let mut created: HashMap<String, HashSet<String>> = HashMap::new();
    let mut holds: HashMap<String, HashSet<String>> = HashMap::new();
    for e in log_with_payloads(store).await {
        match e.aggregate_type.as_str() {
            "Reservation" => {
                if let Ok(ReservationEvent::ReservationCreated {
                    reservation_id,
                    seats,
                    ..
                }) = serde_json::from_value(e.payload)
                {
                    created.insert(
                        reservation_id.to_string(),
                        seats.into_iter().map(String::from).collect(),
                    );
                }
            }
            "Seat" => {
                if let Ok(SeatEvent::SeatHeld { reservation, .. }) =
                    serde_json::from_value(e.payload)
                {
                    let label = e
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
    let held = held_seats(&store).await;
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

/// The labels of every seat the log shows held at some point.
async fn held_seats(store: &Store) -> HashSet<String> {
    log(store)
        .await
        .into_iter()
        .filter(|(kind, _, event)| kind == "Seat" && event == "SeatHeld")
        .map(|(_, id, _)| id.split_once('/').expect("seat").1.to_owned())
        .collect()
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

/// SQLite commits the appends that wait for its write lock together, in
/// one transaction (group commit). With `TICKETING_FAULT=mid-batch` the
/// process aborts inside the first batch of two or more appends, after
/// their inserts and before the commit: a crash in the middle of a batch.
/// Every acknowledged reservation is whole in the log, nothing of the cut
/// batch is, and the restarted engine sells its seats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_crash_in_the_middle_of_a_batch() {
    const BURST: usize = 40;
    let url = database_url(Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("ticketing-kill-{}", ulid::Ulid::new()));
    let mut server = support::start_with(&url, &dir, "30m", Some("mid-batch")).await;
    let show_id = server.published_show(&url, &dir, BURST + 2).await;
    let customer = server.customer().await;
    let reserve = |label: String| {
        let mut client = InventoryServiceClient::new(server.channel.clone());
        let request = authed(
            &customer,
            ReserveSeatsRequest {
                show_id: show_id.clone(),
                seat_labels: vec![label],
            },
        );
        async move { client.reserve_seats(request).await }
    };
    // One at a time, each a batch of its own: acknowledged.
    for label in ["A-1", "A-2"] {
        reserve(label.into()).await.expect("a batch of one commits");
    }
    // Together: they queue for the lock, and the first batch of two or
    // more ends the process before its commit.
    let calls: Vec<_> = (3..BURST + 3)
        .map(|i| tokio::spawn(reserve(format!("A-{i}"))))
        .collect();
    let answered = futures_count(calls).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.exited().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the process did not crash in a batch"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = Store::connect(&url).await.expect("reconnect");
    let whole = assert_reservations_whole(&store).await;
    assert!(
        whole >= 2 + answered,
        "every acknowledged reservation is in the log ({whole} < 2 + {answered})"
    );
    assert!(answered < BURST, "the crash came before the burst ended");

    let held = held_seats(&store).await;
    drop(server);
    let server = start(&url, &dir, "30m").await;
    let customer = server.customer().await;
    let mut inventory = InventoryServiceClient::new(server.channel.clone());
    for label in (3..BURST + 3)
        .map(|i| format!("A-{i}"))
        .filter(|l| !held.contains(l))
    {
        let request = ReserveSeatsRequest {
            show_id: show_id.clone(),
            seat_labels: vec![label],
        };
        inventory
            .reserve_seats(authed(&customer, request))
            .await
            .expect("a seat of the cut batch is free");
    }
    server.kill();
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

/// The process dies after the provider took the money and before the sale
/// was recorded; restarted, the expirer resumes the payment from the log:
/// the order is paid, the seat sold once, the card charged once.
async fn crash_between_charge_and_sale(backend: Backend) {
    use ticketing_proto::v1::ordering_service_client::OrderingServiceClient;
    let url = database_url(backend).await;
    let dir = std::env::temp_dir().join(format!("ticketing-kill-{}", ulid::Ulid::new()));
    let server = support::start_with(&url, &dir, "30m", Some("after-charge")).await;
    let show_id = server.published_show(&url, &dir, 3).await;
    let customer = server.customer().await;
    let mut inventory = InventoryServiceClient::new(server.channel.clone());
    let reserve = ReserveSeatsRequest {
        show_id: show_id.clone(),
        seat_labels: vec!["A-1".into()],
    };
    let reservation = inventory
        .reserve_seats(authed(&customer, reserve))
        .await
        .expect("hold")
        .into_inner();
    let mut orders = OrderingServiceClient::new(server.channel.clone());
    let add = AddToCartRequest {
        reservation_id: reservation.reservation_id,
    };
    let cart = orders
        .add_to_cart(authed(&customer, add))
        .await
        .expect("cart")
        .into_inner();
    let pay = CheckoutRequest {
        order_id: cart.order_id.clone(),
        payment_token: "tok_visa".into(),
    };
    assert!(
        orders.checkout(authed(&customer, pay)).await.is_err(),
        "the process died mid-checkout"
    );
    server.kill();

    let store = Store::connect(&url).await.expect("store");
    let seat_id = format!("{show_id}/A-1");
    let sold = |events: &[(String, String, String)]| {
        events
            .iter()
            .filter(|(kind, id, event)| kind == "Seat" && *id == seat_id && event == "SeatSold")
            .count()
    };
    assert_eq!(
        sold(&log(&store).await),
        0,
        "the crash came before the sale was recorded"
    );

    let server = start(&url, &dir, "30m").await;
    let mut orders = OrderingServiceClient::new(server.channel.clone());
    let mut status = 0;
    for _ in 0..200 {
        let get = GetOrderRequest {
            min_consistency_token: Default::default(),
            order_id: cart.order_id.clone(),
        };
        status = orders
            .get_order(authed(&customer, get))
            .await
            .expect("order")
            .into_inner()
            .status;
        if status == OrderStatus::Paid as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status,
        OrderStatus::Paid as i32,
        "the saga resumed after the restart"
    );
    assert_eq!(sold(&log(&store).await), 1, "sold exactly once");
    let provider = ticketing_payment::SimulatedProvider::new(store.read_pool().clone());
    let charges = provider.charges().await.expect("charges");
    assert_eq!(
        charges.iter().filter(|c| c.succeeded).count(),
        1,
        "charged once: {charges:?}"
    );
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_crash_between_charge_and_sale() {
    crash_between_charge_and_sale(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_between_charge_and_sale() {
    crash_between_charge_and_sale(Backend::Postgres).await;
}
