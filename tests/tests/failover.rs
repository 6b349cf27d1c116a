//! Database restarts are routine (#11 part 6): Postgres — a cluster of the
//! test's own, never the machine's shared server — is restarted with
//! `pg_ctl restart -m fast` while four buyers reserve distinct seats, each
//! call with an idempotency key, and a reader asks for the seat map (gRPC
//! and HTTP) and logs in. Every answer is OK or UNAVAILABLE with RetryInfo
//! (HTTP: 503 with Retry-After), never INTERNAL or UNKNOWN; every OK hold
//! is in the log; a retry of each UNAVAILABLE call with its key succeeds
//! and no seat is held twice; every path serves again right after the
//! restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor};
use ticketing_aggregates::{Reservation as ReservationStream, Seat};
use ticketing_commands::EngineConfig;
use ticketing_identity::Role;
use ticketing_tests::cluster::PgCluster;
use ticketing_tests::outage::{is_retry, Answer, Calls};
use ticketing_tests::v1::inventory_service_client::InventoryServiceClient;
use ticketing_tests::v1::{
    GetSeatMapRequest, LoginRequest, RegisterRequest, Reservation, ReserveSeatsRequest, SeatStatus,
};
use ticketing_tests::*;
use tonic::transport::Channel;
use tonic_types::StatusExt;

const BUYERS: usize = 4;
/// More seats than the buyers reserve in the test's time: each call takes
/// a seat of its own.
const SEATS: usize = 400;
/// Holds acknowledged before the restart.
const BEFORE_RESTART: usize = 12;
/// How soon after `pg_ctl restart` returns every path is served again.
const SERVES_AGAIN_WITHIN: Duration = Duration::from_secs(5);
/// What the reader calls, each round.
const READS: [&str; 3] = ["GetSeatMap", "Login", "GET /shows/{id}/seatmap"];

/// A buyer's ReserveSeats call: what to send again, and what it held.
struct Reserve {
    token: String,
    key: String,
    seat: String,
    held: Option<Reservation>,
}

/// Every call; a buyer's keeps its [`Reserve`].
type Recorded = Calls<Option<Reserve>>;

fn request(show_id: &str, seat: &str) -> ReserveSeatsRequest {
    ReserveSeatsRequest {
        show_id: show_id.to_owned(),
        seat_labels: vec![seat.to_owned()],
    }
}

/// What a buyer's calls are recorded as.
fn reserver(buyer: usize) -> String {
    format!("ReserveSeats by buyer {buyer}")
}

/// Every kind of call: each buyer's, and each of the reader's.
fn callers() -> impl Iterator<Item = String> {
    (0..BUYERS).map(reserver).chain(READS.map(str::to_owned))
}

/// Buyer `buyer` reserves its seats (`A-{buyer+1}`, then every
/// [`BUYERS`]th), one call after another, until told to stop.
async fn buy(
    buyer: usize,
    app: Arc<TestApp>,
    show_id: String,
    stop: Arc<AtomicBool>,
    calls: Recorded,
) {
    let token = app.customer().await;
    let mut client = InventoryServiceClient::new(app.new_channel().await);
    let seats = (buyer..SEATS)
        .step_by(BUYERS)
        .map(|i| format!("A-{}", i + 1));
    for seat in seats {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let key = format!("buyer-{buyer}-{seat}");
        let started = Instant::now();
        let result = client
            .reserve_seats(keyed(&token, &key, request(&show_id, &seat)))
            .await
            .map(tonic::Response::into_inner);
        let answer = Answer::of_grpc(&result);
        let token = token.clone();
        let held = result.ok();
        let reserve = Reserve {
            token,
            key,
            seat,
            held,
        };
        calls.push(reserver(buyer), started, answer, Some(reserve));
    }
}

/// Reads while the buyers buy, round after round until told to stop: the
/// seat map over gRPC and over HTTP, and a Login.
async fn read(app: Arc<TestApp>, show_id: String, stop: Arc<AtomicBool>, calls: Recorded) {
    let email = format!(
        "reader-{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let password = "correct horse".to_owned();
    let register = RegisterRequest {
        email: email.clone(),
        password: password.clone(),
        display_name: "Reader".into(),
    };
    app.identity().register(register).await.expect("register");
    let http = app.http();
    let seat_map = format!("/shows/{show_id}/seatmap");
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let map = GetSeatMapRequest {
            show_id: show_id.clone(),
            ..Default::default()
        };
        let answer = Answer::of_grpc(&app.inventory().get_seat_map(map).await);
        calls.push(READS[0], started, answer, None);

        let started = Instant::now();
        let login = LoginRequest {
            email: email.clone(),
            password: password.clone(),
        };
        let answer = Answer::of_grpc(&app.identity().login(login).await);
        calls.push(READS[1], started, answer, None);

        let started = Instant::now();
        let answer = Answer::of_http(&http.get(&seat_map, None).await);
        calls.push(READS[2], started, answer, None);
    }
}

/// Holds every append back at the database until the restart ends the
/// holder's session, and returns once one is waiting: so the restart
/// surely catches a buyer's call in the middle of its append, as it would
/// by chance under heavier load.
async fn hold_appends(url: &str) -> sqlx::PgConnection {
    let mut holder = sqlx::PgConnection::connect(url).await.expect("connect");
    holder
        .execute("BEGIN; LOCK TABLE event_store.events IN SHARE ROW EXCLUSIVE MODE")
        .await
        .expect("lock the log");
    // Another session: one transaction sees pg_stat_activity as it first
    // looked.
    let mut watcher = sqlx::PgConnection::connect(url).await.expect("connect");
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'";
    for _ in 0..500 {
        let count: i64 = sqlx::query_scalar(waiting)
            .fetch_one(&mut watcher)
            .await
            .expect("count");
        if count > 0 {
            return holder;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no append waited for the log within 10 s")
}

/// Sends a ReserveSeats again with its key, waiting as RetryInfo says while
/// it answers UNAVAILABLE.
async fn retry(
    client: &mut InventoryServiceClient<Channel>,
    show_id: &str,
    call: &Reserve,
) -> Reservation {
    for _ in 0..10 {
        let again = keyed(&call.token, &call.key, request(show_id, &call.seat));
        match client.reserve_seats(again).await {
            Ok(reservation) => return reservation.into_inner(),
            Err(status) if is_retry(&status) => {
                let delay = status.get_details_retry_info().and_then(|i| i.retry_delay);
                tokio::time::sleep(delay.unwrap_or(Duration::from_secs(1))).await;
            }
            Err(status) => panic!("retry of {}: {status:?}", call.key),
        }
    }
    panic!("{} still UNAVAILABLE after 10 retries", call.key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_load_loses_no_hold_and_answers_only_ok_or_unavailable() {
    // Declared first, dropped last: the server outlives the engine, and is
    // stopped and deleted even when an assertion below panics.
    let cluster = PgCluster::start();
    let url = cluster.url();
    ticketing::migrate_store(&url).await.expect("migrate");
    let app = Arc::new(spawn_app_with(url.clone(), EngineConfig::default()).await);
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.unlimited_show(&organizer, SEATS).await;

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Recorded::default();
    let mut tasks = Vec::new();
    for buyer in 0..BUYERS {
        let buying = buy(
            buyer,
            app.clone(),
            show_id.clone(),
            stop.clone(),
            calls.clone(),
        );
        tasks.push(tokio::spawn(buying));
    }
    tasks.push(tokio::spawn(read(
        app.clone(),
        show_id.clone(),
        stop.clone(),
        calls.clone(),
    )));
    let began = Instant::now();
    calls
        .until(
            Duration::from_secs(60),
            "holds and reads before the restart",
            |calls| {
                calls.ok("ReserveSeats") >= BEFORE_RESTART
                    && callers().all(|what| calls.served(&what, began))
            },
        )
        .await;
    let holder = hold_appends(&url).await;
    tokio::task::block_in_place(|| cluster.restart_fast());
    drop(holder);
    let restarted = Instant::now();
    calls
        .until(
            SERVES_AGAIN_WITHIN,
            "every path served after the restart",
            |calls| callers().all(|what| calls.served(&what, restarted)),
        )
        .await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("buyer or reader");
    }
    let calls = calls.take();

    let wrong: Vec<_> = calls
        .iter()
        .filter(|c| matches!(c.answer, Answer::Wrong(_)))
        .map(|c| format!("{}: {:?}", c.what, c.answer))
        .collect();
    assert!(
        wrong.is_empty(),
        "neither OK nor UNAVAILABLE with RetryInfo: {wrong:?}"
    );
    let caught: Vec<_> = calls
        .iter()
        .filter(|c| c.answer == Answer::Retry)
        .map(|c| &c.what)
        .collect();
    assert!(
        caught.iter().any(|what| what.starts_with("ReserveSeats")),
        "the append waiting at the restart was answered: {caught:?}"
    );
    eprintln!("{} calls; UNAVAILABLE: {caught:?}", calls.len());

    // Every key ends with one reservation: its first answer, or its retry's.
    let mut client = InventoryServiceClient::new(app.new_channel().await);
    let mut held = Vec::new();
    for call in calls.iter().filter_map(|c| c.kept.as_ref()) {
        let reservation = match &call.held {
            Some(reservation) => reservation.clone(),
            None => retry(&mut client, &show_id, call).await,
        };
        assert_eq!(
            reservation.seat_labels,
            [call.seat.as_str()],
            "{}",
            call.key
        );
        held.push((call.seat.clone(), reservation.reservation_id));
    }

    // Each acknowledged hold is in the log once, under the answered id, and
    // nothing else was held: no retry held a seat a second time.
    for (seat, reservation_id) in &held {
        let seat_id = format!("{show_id}/{seat}");
        let seat_held = count_events::<Seat>(&app.store, &seat_id, "SeatHeld").await;
        assert_eq!(seat_held, 1, "{seat}");
        let created =
            count_events::<ReservationStream>(&app.store, reservation_id, "ReservationCreated");
        assert_eq!(created.await, 1, "{seat}: {reservation_id}");
    }
    let log = log(&app.store).await;
    let count = |event: &str| log.iter().filter(|(_, _, e)| e == event).count();
    assert_eq!(count("SeatHeld"), held.len());
    assert_eq!(count("ReservationCreated"), held.len());

    // The read side recovered too: its projector applies every hold.
    app.wait_for_seat_map(&show_id, |map| {
        let held_now = map
            .seats
            .iter()
            .filter(|s| s.status == SeatStatus::Held as i32);
        held_now.count() == held.len()
    })
    .await;
    Arc::into_inner(app)
        .expect("no task holds the app")
        .stop()
        .await;
}
