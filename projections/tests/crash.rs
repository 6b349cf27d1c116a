//! A projector killed between batches and at random points inside them
//! loses nothing and applies nothing twice: after restarts, the seat map
//! equals a fresh fold of the log, and a ledger projection that inserts one
//! row per event (a duplicate would violate its key) holds every event once.

use chrono::{Duration, Utc};
use rand::{Rng, SeedableRng};
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::BTreeMap;
use ticketing_aggregates::*;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::{FeedEvent, FeedPosition, NewEvent, Store, StreamAppend};
use ticketing_projections::*;

const SEATS: usize = 40;
const ROUNDS: usize = 300;

struct Ledger;

impl Projection for Ledger {
    fn name(&self) -> &'static str {
        "ledger"
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        event: &FeedEvent,
    ) -> Result<(), ProjectionError> {
        sqlx::query("INSERT INTO ledger (global_seq) VALUES ($1)")
            .bind(event.global_seq)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

fn new_event<E: cqrs_es::DomainEvent>(event: &E) -> NewEvent {
    NewEvent {
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload: serde_json::to_value(event).unwrap(),
        metadata: json!({}),
    }
}

fn plan() -> SeatingPlan {
    let seats = (0..SEATS)
        .map(|i| (format!("A-{i}"), 1000 + i as i64))
        .collect();
    SeatingPlan::parse(&[RawSection {
        name: "Stalls".into(),
        rows: vec![RawRow {
            name: "A".into(),
            seats,
        }],
    }])
    .unwrap()
}

/// Appends a show and a random walk of holds, releases and sales.
async fn write_history(store: &Store, seed: u64) -> ShowId {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let show_id = ShowId::generate();
    let details = ShowDetails {
        show_id: show_id.clone(),
        organizer: UserRef::generate(),
        title: "T".into(),
        venue: "V".into(),
        starts_at: Utc::now() + Duration::days(1),
        currency: Currency::parse("c", "EUR").unwrap(),
        plan: plan(),
    };
    let scheduled = StreamAppend {
        aggregate_type: "Show".into(),
        aggregate_id: show_id.to_string(),
        expected_sequence: 0,
        events: vec![new_event(&ShowEvent::ShowScheduled(details))],
    };
    store.append(&[scheduled], None).await.unwrap();
    let mut seats: Vec<(Seat, usize)> = (0..SEATS).map(|_| (Seat::default(), 0)).collect();
    for _ in 0..ROUNDS {
        let i = rng.gen_range(0..SEATS);
        let (seat, sequence) = &mut seats[i];
        let reservation = ReservationId::generate();
        let event = match &seat.state {
            SeatState::Available => SeatEvent::SeatHeld {
                reservation,
                until: Utc::now() + Duration::minutes(30),
            },
            SeatState::Held { reservation, .. } if rng.gen_bool(0.7) => SeatEvent::SeatReleased {
                reservation: reservation.clone(),
                reason: ReleaseReason::Released,
            },
            SeatState::Held { reservation, .. } => SeatEvent::SeatSold {
                reservation: reservation.clone(),
            },
            SeatState::Sold { .. } => continue,
        };
        let append = StreamAppend {
            aggregate_type: "Seat".into(),
            aggregate_id: format!("{show_id}/A-{i}"),
            expected_sequence: *sequence,
            events: vec![new_event(&event)],
        };
        store.append(&[append], None).await.unwrap();
        cqrs_es::Aggregate::apply(seat, event);
        *sequence += 1;
    }
    show_id
}

/// The seat map folded straight from the log, without the projection.
async fn fold(store: &Store) -> BTreeMap<String, SeatMapStatus> {
    let mut seats = BTreeMap::new();
    let mut after = FeedPosition::START;
    loop {
        let batch = store.read_feed(0, after, 1000).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        for e in &batch {
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
    }
    seats
}

async fn killed_projectors_lose_and_repeat_nothing(url: String) {
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    migrate(store.read_pool(), store.backend()).await.unwrap();
    sqlx::query("CREATE TABLE ledger (global_seq BIGINT PRIMARY KEY)")
        .execute(store.read_pool())
        .await
        .unwrap();
    let backend = store.backend();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { write_history(&store, 7).await })
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    // Kill both projectors at random instants while the history is written.
    while !writer.is_finished() {
        // Each incarnation has its own connections, closed after the kill as
        // a dead process's would be: its open transaction rolls back.
        let process = Store::connect(&url).await.unwrap();
        let seat_map =
            Projector::new(process.clone(), SeatMapProjection { backend }).with_batch_size(7);
        let ledger = Projector::new(process.clone(), Ledger).with_batch_size(5);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let a = tokio::spawn(seat_map.run(stopped.clone()));
        let b = tokio::spawn(ledger.run(stopped));
        tokio::time::sleep(std::time::Duration::from_micros(rng.gen_range(100..20_000))).await;
        a.abort();
        b.abort();
        let _ = a.await;
        let _ = b.await;
        process.read_pool().close().await;
    }
    let show_id = writer.await.unwrap();
    let seat_map = Projector::new(store.clone(), SeatMapProjection { backend });
    seat_map.catch_up().await.unwrap();
    Projector::new(store.clone(), Ledger)
        .catch_up()
        .await
        .unwrap();

    let expected = fold(&store).await;
    let maps = SeatMaps {
        pool: store.read_pool().clone(),
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
        actual, expected,
        "seat map differs from a fresh fold of the log"
    );

    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger")
        .fetch_one(store.read_pool())
        .await
        .unwrap();
    let mut events = 0;
    let mut after = FeedPosition::START;
    loop {
        let batch = store.read_feed(0, after, 1000).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        events += batch.len() as i64;
    }
    assert_eq!(total, events, "every event applied exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_projector_survives_kills() {
    killed_projectors_lose_and_repeat_nothing(fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_projector_survives_kills() {
    killed_projectors_lose_and_repeat_nothing(fresh_postgres_url().await).await;
}
