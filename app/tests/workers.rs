//! The ticket workers as processes of their own, on Postgres.
//!
//! * `fulfillment_killed_mid_batch`: `--role fulfillment` (reading the log
//!   in process) is SIGKILLed while it works through many paid orders, and
//!   restarted: every paid seat ends with exactly one ticket, its id derived
//!   from order, show and seat — none lost, none twice.
//! * `roles_wait_for_migrate_on_a_fresh_database`: on Postgres a role
//!   refuses an unmigrated schema; after `ticketing migrate`, roles started
//!   together, as an orchestrator starts them, all come up.
//! * `kafka_roles_as_separate_processes`: gateway, projector, expirer,
//!   relay, fulfillment and notifier each as its own process, the workers
//!   fed by Kafka, give a purchase the same outcome as `--role all` does in
//!   one process (`role_all_in_one_process`): a ticket per seat whose QR
//!   payload verifies and is admitted at the door, one email per order
//!   (`deployments.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::Rng;
use ticketing::{open_store, Settings};
use ticketing_aggregates::{
    OrderId, OrderStatus, SeatLabel, ShowId, TicketEvent, TicketId, UserRef,
};
use ticketing_commands::testing::{one_row_show, published_show};
use ticketing_commands::Engine;
use ticketing_event_store::testing::settle_feed;
use ticketing_event_store::{load_checkpoint, FeedPosition, Store};
use ticketing_tests::{database_url, log_with_payloads, Backend, JWT_SECRET};

#[path = "workers/deployments.rs"]
mod deployments;
// Shared with other tests; not every helper is used here.
#[allow(dead_code)]
mod support;
use support::processes::{launch_role, spawn_role, Process};
use support::start_serving;

const ORDERS: usize = 150;
const SEATS_PER_SHOW: usize = 450;

/// (order, show, seat) of a paid seat.
type PaidSeat = (String, String, String);

/// Pays for `ORDERS` orders of 1–3 seats, some across both shows, four
/// buyers at a time; returns every paid seat.
async fn paid_orders(engine: &Engine, shows: &[ShowId; 2]) -> BTreeSet<PaidSeat> {
    let mut rng = rand::thread_rng();
    let mut next = [0usize; 2];
    let mut plans: Vec<Vec<Vec<(ShowId, SeatLabel)>>> = vec![Vec::new(); 4];
    for i in 0..ORDERS {
        let mut by_show: BTreeMap<usize, Vec<(ShowId, SeatLabel)>> = BTreeMap::new();
        for _ in 0..rng.gen_range(1..=3) {
            let show = rng.gen_range(0..2);
            next[show] += 1;
            let label = SeatLabel::parse("seat", &format!("A-{}", next[show])).expect("label");
            by_show
                .entry(show)
                .or_default()
                .push((shows[show].clone(), label));
        }
        plans[i % 4].push(by_show.into_values().flatten().collect());
    }
    let mut buyers = tokio::task::JoinSet::new();
    for orders in plans {
        let engine = engine.clone();
        buyers.spawn(async move {
            let mut paid = Vec::new();
            for seats in orders {
                paid.extend(pay(&engine, &seats).await);
            }
            paid
        });
    }
    let mut paid = BTreeSet::new();
    while let Some(bought) = buyers.join_next().await {
        paid.extend(bought.expect("buyer"));
    }
    paid
}

/// One order of `seats`: a reservation per show, all in one cart, paid.
async fn pay(engine: &Engine, seats: &[(ShowId, SeatLabel)]) -> Vec<PaidSeat> {
    let customer = UserRef::generate();
    let mut order_id = None;
    for show in seats.iter().map(|(show, _)| show).collect::<BTreeSet<_>>() {
        let labels = seats
            .iter()
            .filter(|(s, _)| s == show)
            .map(|(_, l)| l.clone());
        let reservation = engine
            .reserve_seats(&customer, show, labels.collect(), None)
            .await
            .expect("reserve");
        let cart = engine
            .add_to_cart(&customer, &reservation.reservation_id, None)
            .await
            .expect("add to cart");
        order_id = Some(cart.order_id);
    }
    let order_id: OrderId = order_id.expect("an order");
    let paid = engine
        .checkout(&customer, &order_id, "tok_visa", None)
        .await
        .expect("checkout");
    assert_eq!(paid.status, OrderStatus::Paid);
    seats
        .iter()
        .map(|(show, label)| (order_id.to_string(), show.to_string(), label.to_string()))
        .collect()
}

async fn tickets_issued(store: &Store) -> i64 {
    let sql = "SELECT COUNT(*) FROM event_store.events WHERE event_type = 'TicketIssued'";
    sqlx::query_scalar(sql)
        .fetch_one(store.read_pool())
        .await
        .expect("count tickets")
}

/// The saved position of the checkpoint `name` (the start if never saved).
async fn checkpoint(store: &Store, name: &str) -> FeedPosition {
    let mut conn = store.read_pool().acquire().await.expect("connection");
    load_checkpoint(&mut conn, store.backend(), name, 0)
        .await
        .expect("checkpoint")
}

/// Where each order's OrderPaid is in the feed.
async fn order_paid_positions(store: &Store) -> BTreeMap<String, FeedPosition> {
    settle_feed(store).await;
    let mut positions = BTreeMap::new();
    let mut after = FeedPosition::START;
    loop {
        let page = store.read_feed(0, after, 1000).await.expect("feed");
        let Some(last) = page.last() else { break };
        after = last.position;
        for e in page.iter().filter(|e| e.event.event_type == "OrderPaid") {
            positions.insert(e.event.aggregate_id.clone(), e.position);
        }
    }
    positions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulfillment_killed_mid_batch() {
    let url = database_url(Backend::Postgres).await;
    let data = tempfile::tempdir().expect("data dir");
    let store = open_store(&url).await.expect("store");
    let settings = Settings::new(url.clone(), data.path(), JWT_SECRET.to_vec());
    let engine = ticketing::application::engine(&store, &settings);
    let starts_at = chrono::Utc::now() + chrono::Duration::days(30);
    let show = || one_row_show("Hamlet", "The Globe", starts_at, SEATS_PER_SHOW);
    let shows = [
        published_show(&engine, show()).await,
        published_show(&engine, show()).await,
    ];
    let paid = paid_orders(&engine, &shows).await;
    let total = paid.len() as i64;
    let paid_at = order_paid_positions(&store).await;
    assert_eq!(paid_at.len(), ORDERS);

    // A kill just after a checkpoint leaves nothing to hand over twice:
    // then the next run is killed too, further on, up to three times.
    let mut redelivered = 0;
    for round in 0..3 {
        let worker = spawn_role(&url, data.path(), "fulfillment", &[]).await;
        let kill_at =
            rand::thread_rng().gen_range(total * (round + 1) / 5..total * (round + 2) / 5);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tickets_issued(&store).await < kill_at {
            assert!(tokio::time::Instant::now() < deadline, "no progress");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        worker.kill();
        let at_kill = tickets_issued(&store).await;
        assert!(at_kill < total, "killed before all {total} were issued");
        let at = checkpoint(&store, "worker:fulfillment").await;
        let orders: BTreeSet<String> = issued(&store).await.into_keys().map(|k| k.0).collect();
        redelivered = orders.iter().filter(|o| paid_at[*o] > at).count();
        eprintln!(
            "killed with {at_kill} of {total} tickets issued; {redelivered} orders with \
             tickets lie past the checkpoint and are handed over again"
        );
        if redelivered > 0 {
            break;
        }
    }

    let _worker = spawn_role(&url, data.path(), "fulfillment", &[]).await;
    let last = *paid_at.values().max().expect("orders");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while checkpoint(&store, "worker:fulfillment").await < last {
        assert!(tokio::time::Instant::now() < deadline, "never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let issued = issued(&store).await;
    let seats: BTreeSet<PaidSeat> = issued.keys().cloned().collect();
    let missing: Vec<_> = paid.difference(&seats).collect();
    let extra: Vec<_> = seats.difference(&paid).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} paid seats without a ticket, e.g. {:?}; {} tickets of no paid seat, e.g. {:?}",
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first()
    );
    let doubled: Vec<_> = issued.iter().filter(|(_, t)| t.len() > 1).collect();
    assert!(
        doubled.is_empty(),
        "{} seats with more than one ticket, e.g. {:?}",
        doubled.len(),
        doubled.first()
    );
    let mut per_order: BTreeMap<&str, u32> = BTreeMap::new();
    for (order, _, _) in &paid {
        *per_order.entry(order.as_str()).or_default() += 1;
    }
    for ((order, show, seat), tickets) in &issued {
        let (id, details_id, in_order) = &tickets[0];
        let derived = TicketId::for_seat(
            &OrderId::parse("order", order).expect("order id"),
            &ShowId::parse("show", show).expect("show id"),
            &SeatLabel::parse("seat", seat).expect("label"),
        )
        .to_string();
        assert_eq!(
            (id, details_id),
            (&derived, &derived),
            "{order} {show} {seat}"
        );
        assert_eq!(*in_order, per_order[order.as_str()], "{order}");
    }
    // Last, so that a lost or doubled ticket is what a failure names.
    assert!(
        redelivered > 0,
        "the kill came mid-batch: some orders were handed over twice"
    );
}

/// Every TicketIssued in the log by (order, show, seat): its stream id,
/// the ticket id it carries, and how many tickets it says its order got.
async fn issued(store: &Store) -> BTreeMap<PaidSeat, Vec<(String, String, u32)>> {
    let mut issued: BTreeMap<PaidSeat, Vec<_>> = BTreeMap::new();
    for e in log_with_payloads(store).await {
        if e.event_type != "TicketIssued" {
            continue;
        }
        let Ok(TicketEvent::TicketIssued(d)) = serde_json::from_value(e.payload) else {
            panic!("a TicketIssued payload");
        };
        let seat = (
            d.order_id.to_string(),
            d.show_id.to_string(),
            d.seat_label.to_string(),
        );
        issued.entry(seat).or_default().push((
            e.aggregate_id,
            d.ticket_id.to_string(),
            d.tickets_in_order,
        ));
    }
    issued
}

/// On a fresh Postgres database a role refuses to start and names the
/// command to run; once `ticketing migrate` ran, six roles started at once,
/// as an orchestrator starts them, all come up (none migrates, so none
/// races another's DDL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_wait_for_migrate_on_a_fresh_database() {
    let url = ticketing_event_store::testing::fresh_postgres_url().await;
    let dir = tempfile::tempdir().expect("data dir");
    let refused = support::processes::cli(
        &url,
        dir.path(),
        &[
            "serve",
            "--role",
            "projector",
            "--admin-addr",
            "127.0.0.1:0",
        ],
    );
    assert!(!refused.status.success(), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("run `ticketing migrate`"), "{stderr}");

    let migrated = support::processes::cli(&url, dir.path(), &["migrate"]);
    assert!(migrated.status.success(), "{migrated:?}");
    let roles = [
        "projector",
        "expirer",
        "fulfillment",
        "notifier",
        "projector",
    ];
    let mut processes: Vec<Process> = roles
        .iter()
        .map(|role| launch_role(&url, dir.path(), role, &[]))
        .collect();
    let _gateway = start_serving(&url, dir.path(), &["--role", "gateway"], &[]).await;
    for process in &mut processes {
        process.until_up().await;
    }
}
