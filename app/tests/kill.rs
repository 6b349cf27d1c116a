//! kill -9 of the real `ticketing` process: a burst of reservations cut off
//! at a random instant leaves every reservation whole (all its seats held) or
//! absent, and a hold whose deadline passed while the engine was down never
//! blocks the next buyer. Runs on SQLite and Postgres.

use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use ticketing_aggregates::{ReservationEvent, SeatEvent};
use ticketing_event_store::{FeedPosition, Store};
use ticketing_proto::v1::catalog_service_client::CatalogServiceClient;
use ticketing_proto::v1::identity_service_client::IdentityServiceClient;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use ticketing_proto::v1::*;
use ticketing_tests::{authed, database_url, log, schedule_request, Backend, JWT_SECRET};
use tonic::transport::Channel;

const SEATS: usize = 400;
const CALLS: usize = 400;

struct Server {
    child: Child,
    channel: Channel,
}

fn free_addr() -> String {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").to_string()
}

fn ticketing(url: &str, dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ticketing"));
    command
        .args(args)
        .args(["--database-url", url, "--data-dir"])
        .arg(dir)
        .env(
            "TICKETING_JWT_SECRET",
            std::str::from_utf8(JWT_SECRET).expect("utf8"),
        )
        .env("TICKETING_LOG", "warn");
    command
}

async fn start(url: &str, dir: &std::path::Path, hold_ttl: &str) -> Server {
    let addr = free_addr();
    let child = ticketing(
        url,
        dir,
        &[
            "serve",
            "--log-format",
            "text",
            "--grpc-addr",
            &addr,
            "--hold-ttl",
            hold_ttl,
        ],
    )
    .stdout(Stdio::null())
    .spawn()
    .expect("spawn ticketing serve");
    for _ in 0..400 {
        if let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
        {
            let mut catalog = CatalogServiceClient::new(channel.clone());
            if catalog
                .list_shows(ListShowsRequest::default())
                .await
                .is_ok()
            {
                return Server { child, channel };
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        child,
        channel: Channel::from_static("http://0.0.0.0:1").connect_lazy(),
    }
    .kill();
    panic!("ticketing serve did not come up on {addr}");
}

impl Server {
    /// SIGKILL: no shutdown hook, no flush, no rollback but the database's.
    fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    async fn login(&self, email: &str) -> String {
        let mut identity = IdentityServiceClient::new(self.channel.clone());
        let login = LoginRequest {
            email: email.into(),
            password: "correct horse".into(),
        };
        identity
            .login(login)
            .await
            .expect("login")
            .into_inner()
            .access_token
    }

    async fn customer(&self) -> String {
        let email = format!(
            "{}@example.com",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let mut identity = IdentityServiceClient::new(self.channel.clone());
        let register = RegisterRequest {
            email: email.clone(),
            password: "correct horse".into(),
            display_name: "C".into(),
        };
        identity.register(register).await.expect("register");
        self.login(&email).await
    }

    async fn published_show(&self, url: &str, dir: &std::path::Path, seats: usize) -> String {
        let email = format!(
            "{}@example.com",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let added = ticketing(
            url,
            dir,
            &[
                "users",
                "add",
                "--role",
                "organizer",
                "--email",
                &email,
                "--password",
                "correct horse",
            ],
        )
        .output()
        .expect("users add");
        assert!(
            added.status.success(),
            "users add: {}",
            String::from_utf8_lossy(&added.stderr)
        );
        let organizer = self.login(&email).await;
        let mut catalog = CatalogServiceClient::new(self.channel.clone());
        let show = catalog
            .schedule_show(authed(&organizer, schedule_request(seats)))
            .await
            .expect("schedule")
            .into_inner();
        let publish = PublishShowRequest {
            show_id: show.show_id.clone(),
        };
        catalog
            .publish_show(authed(&organizer, publish))
            .await
            .expect("publish");
        show.show_id
    }
}

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
