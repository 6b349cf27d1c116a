//! A projector killed between batches and at random points inside them
//! loses nothing and applies nothing twice: after restarts, the seat map
//! and the reservations equal a fresh fold of the log, and a ledger
//! projection that inserts one row per event (a duplicate would violate its
//! key) holds every event once.

// Shared with the other projection tests; not every helper is used here.
#[allow(dead_code)]
mod support;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use sqlx::AnyConnection;
use std::collections::BTreeMap;
use support::{labels, one_row_show, open_store, read_all, Log};
use ticketing_aggregates::*;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::{FeedEvent, Store};
use ticketing_projections::*;

const SEATS: usize = 40;
const ROUNDS: usize = 300;

struct Ledger;

impl Projection for Ledger {
    fn name(&self) -> &'static str {
        "ledger"
    }

    async fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        events: &[FeedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            sqlx::query("INSERT INTO ledger (global_seq) VALUES ($1)")
                .bind(event.global_seq)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// Appends a show and a random walk of holds, extensions, releases,
/// expiries and sales; each seat event goes with its reservation's event in
/// one append, as the engine writes them.
async fn write_history(store: Store, seed: u64) -> ShowId {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut log = Log::new(store);
    let show_id = ShowId::generate();
    let customer = UserRef::generate();
    let seats = (0..SEATS)
        .map(|i| (format!("A-{i}"), 1000 + i as i64))
        .collect();
    let details = one_row_show(show_id.clone(), seats);
    let scheduled = ShowEvent::ShowScheduled(details);
    log.append("Show", show_id.as_str(), &[scheduled]).await;
    let mut seats: Vec<Seat> = (0..SEATS).map(|_| Seat::default()).collect();
    for _ in 0..ROUNDS {
        let i = rng.gen_range(0..SEATS);
        let label = format!("A-{i}");
        let until = Utc::now() + Duration::minutes(rng.gen_range(1..60));
        let released = |reservation, reason| SeatEvent::SeatReleased {
            reservation,
            reason,
        };
        let (reservation, seat_event, reservation_event) = match &seats[i].state {
            SeatState::Available => {
                let reservation = ReservationId::generate();
                let created = ReservationEvent::ReservationCreated {
                    reservation_id: reservation.clone(),
                    customer: customer.clone(),
                    show_id: show_id.clone(),
                    seats: labels(&[&label]),
                    until,
                };
                let held = SeatEvent::SeatHeld {
                    reservation: reservation.clone(),
                    until,
                };
                (reservation, held, created)
            }
            SeatState::Held { reservation, .. } => {
                let r = reservation.clone();
                let (seat_event, reservation_event) = match rng.gen_range(0..10) {
                    0..=1 => (
                        SeatEvent::SeatHoldExtended {
                            reservation: r.clone(),
                            until,
                        },
                        ReservationEvent::ReservationExtended { until },
                    ),
                    2..=4 => (
                        released(r.clone(), ReleaseReason::Released),
                        ReservationEvent::ReservationReleased {},
                    ),
                    5..=6 => (
                        released(r.clone(), ReleaseReason::Expired),
                        ReservationEvent::ReservationExpired {},
                    ),
                    _ => (
                        SeatEvent::SeatSold {
                            reservation: r.clone(),
                        },
                        ReservationEvent::ReservationConverted {
                            order_id: OrderId::generate(),
                        },
                    ),
                };
                (r, seat_event, reservation_event)
            }
            SeatState::Sold { .. } => continue,
        };
        let appends = [
            log.stream(
                "Seat",
                &format!("{show_id}/{label}"),
                std::slice::from_ref(&seat_event),
            ),
            log.stream("Reservation", reservation.as_str(), &[reservation_event]),
        ];
        log.commit(&appends).await;
        cqrs_es::Aggregate::apply(&mut seats[i], seat_event);
    }
    show_id
}

/// The seat map folded straight from the log, without the projection.
fn fold_seat_map(feed: &[FeedEvent]) -> BTreeMap<String, SeatMapStatus> {
    let mut seats = BTreeMap::new();
    for e in feed {
        match e.event.aggregate_type.as_str() {
            "Show" => {
                if let ShowEvent::ShowScheduled(d) =
                    serde_json::from_value(e.event.payload.clone()).unwrap()
                {
                    for (seat, _) in d.plan.seats() {
                        seats.insert(seat.label.to_string(), SeatMapStatus::Available);
                    }
                }
            }
            "Seat" => {
                let label = e.event.aggregate_id.split_once('/').unwrap().1.to_owned();
                let status = match serde_json::from_value(e.event.payload.clone()).unwrap() {
                    SeatEvent::SeatHeld { .. } | SeatEvent::SeatHoldExtended { .. } => {
                        SeatMapStatus::Held
                    }
                    SeatEvent::SeatReleased { .. } => SeatMapStatus::Available,
                    SeatEvent::SeatSold { .. } => SeatMapStatus::Sold,
                };
                seats.insert(label, status);
            }
            _ => {}
        }
    }
    seats
}

type Folded = BTreeMap<String, (ReservationStatus, DateTime<Utc>)>;

/// Each reservation's status and deadline (to the millisecond, as the read
/// model keeps it), folded straight from the log.
fn fold_reservations(feed: &[FeedEvent]) -> Folded {
    use ReservationStatus::*;
    let mut reservations = Folded::new();
    let millis =
        |at: DateTime<Utc>| DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap();
    for e in feed
        .iter()
        .filter(|e| e.event.aggregate_type == "Reservation")
    {
        let id = e.event.aggregate_id.clone();
        let before = reservations.get(&id).copied();
        let after = match serde_json::from_value(e.event.payload.clone()).unwrap() {
            ReservationEvent::ReservationCreated { until, .. } => (Active, millis(until)),
            ReservationEvent::ReservationExtended { until } => (before.unwrap().0, millis(until)),
            ReservationEvent::ReservationReleased {} => (Released, before.unwrap().1),
            ReservationEvent::ReservationExpired {} => (Expired, before.unwrap().1),
            ReservationEvent::ReservationConverted { .. } => (Converted, before.unwrap().1),
        };
        reservations.insert(id, after);
    }
    reservations
}

async fn killed_projectors_lose_and_repeat_nothing(url: String) {
    let store = open_store(&url).await;
    sqlx::query("CREATE TABLE ledger (global_seq BIGINT PRIMARY KEY)")
        .execute(store.read_pool())
        .await
        .unwrap();
    let backend = store.backend();
    let writer = tokio::spawn(write_history(store.clone(), 7));
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    // Kill the projectors at random instants while the history is written.
    while !writer.is_finished() {
        // Each incarnation has its own connections, closed after the kill as
        // a dead process's would be: its open transaction rolls back.
        let process = Store::connect(&url).await.unwrap();
        let seat_map = Projector::new(process.clone(), SeatMapProjection(Target::live(backend)))
            .with_batch_size(7);
        let reservations = Projector::new(
            process.clone(),
            ReservationsProjection(Target::live(backend)),
        )
        .with_batch_size(3);
        let ledger = Projector::new(process.clone(), Ledger).with_batch_size(5);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let runs = [
            tokio::spawn(seat_map.run(stopped.clone())),
            tokio::spawn(reservations.run(stopped.clone())),
            tokio::spawn(ledger.run(stopped)),
        ];
        tokio::time::sleep(std::time::Duration::from_micros(rng.gen_range(100..20_000))).await;
        for run in runs {
            run.abort();
            let _ = run.await;
        }
        process.read_pool().close().await;
    }
    let show_id = writer.await.unwrap();
    ticketing_event_store::testing::settle_feed(&store).await;
    Projector::new(store.clone(), SeatMapProjection(Target::live(backend)))
        .catch_up()
        .await
        .unwrap();
    Projector::new(store.clone(), ReservationsProjection(Target::live(backend)))
        .catch_up()
        .await
        .unwrap();
    Projector::new(store.clone(), Ledger)
        .catch_up()
        .await
        .unwrap();
    let feed = read_all(&store).await;
    let pool = store.read_pool().clone();

    let maps = SeatMaps {
        pool: pool.clone(),
        backend,
    };
    let actual: BTreeMap<String, SeatMapStatus> = maps
        .seat_map(show_id.as_str(), Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.label, row.status))
        .collect();
    assert_eq!(actual.len(), SEATS);
    assert_eq!(
        actual,
        fold_seat_map(&feed),
        "seat map differs from a fresh fold of the log"
    );

    let expected = fold_reservations(&feed);
    let reservations = Reservations { pool, backend };
    let mut actual = Folded::new();
    for id in expected.keys() {
        if let Some(row) = reservations.get(id).await.unwrap() {
            actual.insert(row.reservation_id, (row.status, row.until));
        }
    }
    assert_eq!(
        actual, expected,
        "reservations differ from a fresh fold of the log"
    );

    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger")
        .fetch_one(store.read_pool())
        .await
        .unwrap();
    assert_eq!(total, feed.len() as i64, "every event applied exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_projector_survives_kills() {
    killed_projectors_lose_and_repeat_nothing(fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_projector_survives_kills() {
    killed_projectors_lose_and_repeat_nothing(fresh_postgres_url().await).await;
}
