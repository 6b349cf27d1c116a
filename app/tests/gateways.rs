//! Contention across processes: two `--role gateway` processes on different
//! ports against one Postgres, with the projector, expirer, relay and
//! workers each a process of its own — once without Redis (only the store's
//! optimistic concurrency coordinates the gateways: each answers its own
//! losers from memory, and the other gateway's append conflicts), once with
//! the advisory seat locks in a `redis-server` of the test's own.
//!
//! * 1,000 concurrent ReserveSeats for one seat, split across both
//!   gateways: exactly one OK, 999 SEAT_UNAVAILABLE, one SeatHeld in the log.
//! * Rounds of two overlapping multi-seat reservations, one per gateway:
//!   exactly one wins each round, and the loser holds nothing.
//! * Purchases through both gateways end as with `--role all`: paid, a
//!   ticket per seat.
//! * With Redis stopped mid-test the contention still has one winner, and
//!   once it is back the gateways use the locks again.
//!
//! Each contention run prints its p50/p99 (docs/benchmarks.md).

#[allow(dead_code)] // each test binary uses part of it
mod support;

use std::time::{Duration, Instant};

use futures::future::join_all;
use ticketing_aggregates::Seat;
use ticketing_event_store::Store;
use ticketing_locks::testing::OwnRedis;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use ticketing_proto::v1::ReserveSeatsRequest;
use ticketing_tests::{authed, count_events, database_url, reason, Backend};
use tonic::transport::Channel;
use tonic::Code;

use support::processes::{cli, launch_role, Process};
use support::{start_serving, Server};

const CONTENDERS: usize = 1000;
const CUSTOMERS: usize = 20;
/// HTTP/2 connections per gateway.
const CONNECTIONS: usize = 4;
/// The worker roles' database pools, as in docs/operations.md's budget.
const SMALL_POOL: &[&str] = &["--db-max-connections", "3"];

/// Two gateways and every other role as processes of their own.
struct Topology {
    url: String,
    gateways: [Server; 2],
    _roles: Vec<Process>,
    dirs: Vec<tempfile::TempDir>,
}

/// One topology at a time: each is nine processes with database pools of
/// their own, and two at once would exhaust the test server's connections.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn topology(redis: Option<&str>) -> Topology {
    let url = database_url(Backend::Postgres).await;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let migrated = cli(&url, dirs[0].path(), &["migrate"]);
    assert!(migrated.status.success(), "{migrated:?}");
    let brokers = ticketing_bus::testing::kafka_brokers();
    let prefix = format!("t{}.", ulid::Ulid::new().to_string().to_lowercase());
    let kafka = [
        "--kafka-brokers",
        &brokers,
        "--kafka-topic-prefix",
        &prefix,
        "--kafka-replication-factor",
        "1",
        "--db-max-connections",
        "3",
    ];
    let mut roles = vec![
        launch_role(&url, dirs[0].path(), "projector", SMALL_POOL),
        launch_role(&url, dirs[0].path(), "expirer", SMALL_POOL),
        launch_role(&url, dirs[0].path(), "relay", &kafka),
        launch_role(&url, dirs[1].path(), "fulfillment", SMALL_POOL),
        launch_role(&url, dirs[1].path(), "notifier", SMALL_POOL),
    ];
    let mut extra = vec!["--role", "gateway", "--db-max-connections", "16"];
    if let Some(redis) = redis {
        extra.extend(["--redis-url", redis, "--redis-timeout", "100ms"]);
    }
    let gateways = [
        start_serving(&url, dirs[2].path(), &extra, &[]).await,
        start_serving(&url, dirs[3].path(), &extra, &[]).await,
    ];
    for role in &mut roles {
        role.until_up().await;
    }
    Topology {
        url,
        gateways,
        _roles: roles,
        dirs,
    }
}

impl Topology {
    async fn show(&self, seats: usize) -> String {
        self.gateways[0]
            .published_show(&self.url, self.dirs[0].path(), seats)
            .await
    }

    async fn customers(&self, n: usize) -> Vec<String> {
        let mut tokens = Vec::new();
        for i in 0..n {
            tokens.push(self.gateways[i % 2].customer().await);
        }
        tokens
    }

    /// `CONNECTIONS` channels to each gateway, alternating.
    async fn channels(&self) -> Vec<Channel> {
        let mut channels = Vec::new();
        for _ in 0..CONNECTIONS {
            for gateway in &self.gateways {
                let channel = Channel::from_shared(format!("http://{}", gateway.addr))
                    .unwrap()
                    .connect()
                    .await
                    .expect("connect");
                channels.push(channel);
            }
        }
        channels
    }

    /// 1,000 ReserveSeats for `label`, split across both gateways: exactly
    /// one wins, and the log holds one SeatHeld. Returns (p50, p99).
    async fn thousand_buyers(&self, show_id: &str, label: &str) -> (Duration, Duration) {
        let customers = self.customers(CUSTOMERS).await;
        let channels = self.channels().await;
        let calls = (0..CONTENDERS).map(|i| {
            let mut client = InventoryServiceClient::new(channels[i % channels.len()].clone());
            let request = authed(
                &customers[i % CUSTOMERS],
                ReserveSeatsRequest {
                    show_id: show_id.to_owned(),
                    seat_labels: vec![label.to_owned()],
                },
            );
            async move {
                let started = Instant::now();
                let result = client.reserve_seats(request).await;
                (result, started.elapsed())
            }
        });
        let results = join_all(calls).await;
        let ok = results.iter().filter(|(r, _)| r.is_ok()).count();
        let other: Vec<String> = results
            .iter()
            .filter_map(|(r, _)| r.as_ref().err())
            .filter(|status| {
                status.code() != Code::FailedPrecondition
                    || reason(status).as_deref() != Some("SEAT_UNAVAILABLE")
            })
            .map(|status| format!("{:?}: {}", status.code(), status.message()))
            .collect();
        assert!(other.is_empty(), "unexpected outcomes: {other:?}");
        assert_eq!(ok, 1, "exactly one winner across both gateways");
        let store = Store::connect(&self.url).await.unwrap();
        let seat_id = format!("{show_id}/{label}");
        assert_eq!(
            count_events::<Seat>(&store, &seat_id, "SeatHeld").await,
            1,
            "one SeatHeld in the log"
        );
        let mut latencies: Vec<Duration> = results.iter().map(|(_, at)| *at).collect();
        latencies.sort();
        let at =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        (at(0.50), at(0.99))
    }

    /// Rounds of two overlapping 3-seat reservations, one per gateway.
    async fn overlapping(&self) {
        const ROUNDS: usize = 10;
        let show_id = self.show(ROUNDS * 5).await;
        let customers = self.customers(2).await;
        let store = Store::connect(&self.url).await.unwrap();
        let labels = |from: usize| {
            (from..from + 3)
                .map(|i| format!("A-{i}"))
                .collect::<Vec<_>>()
        };
        for round in 0..ROUNDS {
            let first = 1 + round * 5;
            let (a, b) = (labels(first), labels(first + 2));
            let reserve = |gateway: usize, seats: Vec<String>| {
                let mut client =
                    InventoryServiceClient::new(self.gateways[gateway].channel.clone());
                let request = authed(
                    &customers[gateway],
                    ReserveSeatsRequest {
                        show_id: show_id.clone(),
                        seat_labels: seats,
                    },
                );
                async move { client.reserve_seats(request).await }
            };
            let (ra, rb) = tokio::join!(reserve(0, a.clone()), reserve(1, b.clone()));
            assert!(
                ra.is_ok() != rb.is_ok(),
                "round {round}: exactly one of two overlapping reservations wins"
            );
            let (winner, loser, lost) = if ra.is_ok() { (a, b, rb) } else { (b, a, ra) };
            let status = lost.unwrap_err();
            assert_eq!(reason(&status).as_deref(), Some("SEAT_UNAVAILABLE"));
            for label in loser.iter().filter(|l| !winner.contains(l)) {
                let seat_id = format!("{show_id}/{label}");
                assert_eq!(
                    count_events::<Seat>(&store, &seat_id, "SeatHeld").await,
                    0,
                    "round {round}: the loser held {label}"
                );
            }
        }
    }

    /// A purchase through each gateway: paid, and a ticket per seat.
    async fn purchases(&self) {
        let show_id = self.show(6).await;
        let orders: [&[&str]; 2] = [&["A-1", "A-2"], &["A-3", "A-4", "A-5"]];
        for (i, labels) in orders.into_iter().enumerate() {
            let gateway = &self.gateways[i];
            let customer = gateway.customer_named(&format!("Buyer {i}")).await;
            let order = gateway.buy(&customer.token, &show_id, labels).await;
            let tickets = gateway
                .wait_for_tickets(&customer.token, &order.order_id, labels.len())
                .await;
            let mut seats: Vec<&str> = tickets.iter().map(|t| t.seat_label.as_str()).collect();
            seats.sort();
            assert_eq!(seats, labels, "a ticket per seat");
        }
    }
}

/// The value of a seat's lock key in `redis`, if any.
fn lock_of(redis: &OwnRedis, show_id: &str, label: &str) -> Option<String> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    redis::cmd("GET")
        .arg(format!("ticketing:seat:{{{show_id}}}/{label}"))
        .query(&mut conn)
        .unwrap()
}

fn report(what: &str, (p50, p99): (Duration, Duration)) {
    eprintln!("{what}: p50 {p50:?}, p99 {p99:?} over {CONTENDERS} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_without_redis() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let topology = topology(None).await;
    let show_id = topology.show(4).await;
    // The first round warms connections and caches; the second is timed.
    topology.thousand_buyers(&show_id, "A-1").await;
    report(
        "two gateways, no Redis",
        topology.thousand_buyers(&show_id, "A-2").await,
    );
    topology.overlapping().await;
    topology.purchases().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_with_redis_locks_and_redis_stopped_mid_test() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut redis = OwnRedis::on_free_port();
    let topology = topology(Some(&redis.url())).await;
    let show_id = topology.show(8).await;
    topology.thousand_buyers(&show_id, "A-1").await;
    report(
        "two gateways, Redis locks",
        topology.thousand_buyers(&show_id, "A-2").await,
    );
    assert_eq!(
        lock_of(&redis, &show_id, "A-2").as_deref(),
        Some("taken"),
        "the winner left its mark in Redis: the locks were used"
    );
    topology.overlapping().await;
    topology.purchases().await;

    // Redis goes away: one winner still, decided by the store alone.
    redis.stop();
    report(
        "two gateways, Redis stopped",
        topology.thousand_buyers(&show_id, "A-4").await,
    );

    // Redis is back (empty): the gateways use the locks again.
    let redis = OwnRedis::start(redis.port());
    let customer = topology.gateways[1].customer().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    for label in ["A-5", "A-6", "A-7", "A-8"] {
        let mut client = InventoryServiceClient::new(topology.gateways[1].channel.clone());
        let request = authed(
            &customer,
            ReserveSeatsRequest {
                show_id: show_id.clone(),
                seat_labels: vec![label.to_owned()],
            },
        );
        client.reserve_seats(request).await.expect("a free seat");
        if lock_of(&redis, &show_id, label).is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "locks never used again");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    panic!("no reservation used the locks after Redis came back");
}
