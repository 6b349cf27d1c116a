//! Rebuilding the seat map while a writer keeps holding and releasing seats
//! and a reader keeps reading: the reader never sees an empty or partial
//! map, and the rebuilt model equals a fresh fold of the log (a drift check
//! finds nothing). A drift check finds a row corrupted by hand.

// Shared with the other projection tests; not every helper is used here.
#[allow(dead_code)]
mod support;

use chrono::{Duration, Utc};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use support::{one_row_show, open_store, read_all, Log};
use ticketing_aggregates::*;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::Store;
use ticketing_projections::*;

const SEATS: usize = 30;

async fn show(log: &mut Log) -> ShowId {
    let show_id = ShowId::generate();
    let seats = (0..SEATS).map(|i| (format!("A-{i}"), 1000)).collect();
    let details = one_row_show(show_id.clone(), seats);
    log.append(
        "Show",
        show_id.as_str(),
        &[ShowEvent::ShowScheduled(details)],
    )
    .await;
    show_id
}

/// Holds and releases seats in turn until told to stop.
async fn keep_writing(mut log: Log, show_id: ShowId, stop: Arc<AtomicBool>) -> usize {
    let mut held: Vec<Option<ReservationId>> = vec![None; SEATS];
    let mut writes = 0;
    while !stop.load(Ordering::SeqCst) {
        let i = writes % SEATS;
        let seat = format!("{show_id}/A-{i}");
        let event = match held[i].take() {
            None => {
                let reservation = ReservationId::generate();
                held[i] = Some(reservation.clone());
                SeatEvent::SeatHeld {
                    reservation,
                    until: Utc::now() + Duration::hours(1),
                }
            }
            Some(reservation) => SeatEvent::SeatReleased {
                reservation,
                reason: ReleaseReason::Released,
            },
        };
        log.append("Seat", &seat, &[event]).await;
        writes += 1;
    }
    writes
}

fn fresh_fold(
    feed: &[ticketing_event_store::FeedEvent],
    show_id: &ShowId,
) -> Vec<(String, SeatMapStatus)> {
    let mut seats: std::collections::BTreeMap<String, SeatMapStatus> = (0..SEATS)
        .map(|i| (format!("A-{i}"), SeatMapStatus::Available))
        .collect();
    for e in feed.iter().filter(|e| {
        e.event.aggregate_type == "Seat" && e.event.aggregate_id.starts_with(show_id.as_str())
    }) {
        let label = e.event.aggregate_id.split_once('/').unwrap().1.to_owned();
        let status = match serde_json::from_value(e.event.payload.clone()).unwrap() {
            SeatEvent::SeatReleased { .. } => SeatMapStatus::Available,
            SeatEvent::SeatSold { .. } => SeatMapStatus::Sold,
            _ => SeatMapStatus::Held,
        };
        seats.insert(label, status);
    }
    seats.into_iter().collect()
}

async fn live_map(store: &Store, show_id: &ShowId) -> Vec<(String, SeatMapStatus)> {
    let maps = SeatMaps {
        pool: store.read_pool().clone(),
        backend: store.backend(),
    };
    let mut rows: Vec<_> = maps
        .seat_map(show_id.as_str(), Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.label, r.status))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

async fn rebuild_under_live_load(url: String) {
    let store = open_store(&url).await;
    let backend = store.backend();
    let mut log = Log::new(store.clone());
    let show_id = show(&mut log).await;
    let (stop_live, stopped) = tokio::sync::watch::channel(false);
    let live = tokio::spawn(
        Projector::new(store.clone(), SeatMapProjection(Target::live(backend))).run(stopped),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(keep_writing(log, show_id.clone(), stop.clone()));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (store, show_id, stop, reads) =
            (store.clone(), show_id.clone(), stop.clone(), reads.clone());
        tokio::spawn(async move {
            let maps = SeatMaps {
                pool: store.read_pool().clone(),
                backend: store.backend(),
            };
            while !stop.load(Ordering::SeqCst) {
                // Before the live projector has seeded the show, the map is
                // legitimately empty; from the first full read on it must stay full.
                let seen = maps
                    .seat_map(show_id.as_str(), Utc::now())
                    .await
                    .unwrap()
                    .len();
                let before = reads.load(Ordering::SeqCst);
                assert!(
                    seen == SEATS || (seen == 0 && before == 0),
                    "a reader saw {seen} of {SEATS} seats"
                );
                if seen == SEATS {
                    reads.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut seen_progress = 0;
    let report = rebuild(&store, ReadModel::SeatMap, &mut |n| seen_progress = n)
        .await
        .unwrap();
    assert!(report.events > 0 && seen_progress == report.events);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let writes = writer.await.unwrap();
    reader.await.unwrap();
    assert!(
        writes > 10 && reads.load(Ordering::SeqCst) > 10,
        "writes {writes}, reads {reads:?}"
    );

    // The live projector goes on from the swapped-in model's checkpoint.
    ticketing_event_store::testing::settle_feed(&store).await;
    let head = store.feed_head(0).await.unwrap();
    let checker = Projector::new(store.clone(), SeatMapProjection(Target::live(backend)));
    for _ in 0..200 {
        if checker.checkpoint().await.unwrap() >= head {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        live_map(&store, &show_id).await,
        fresh_fold(&read_all(&store).await, &show_id)
    );
    let clean = drift(&store, ReadModel::SeatMap, &mut |_| {})
        .await
        .unwrap();
    assert!(clean.is_clean(), "{clean:?}");

    // Again in steps of 3 events with the seat fold written every 4 rows:
    // folds that span and flush across batches give the same map.
    let tiny = Steps {
        batch: 3,
        fold_rows: 4,
    };
    rebuild_in_steps(&store, ReadModel::SeatMap, tiny, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        live_map(&store, &show_id).await,
        fresh_fold(&read_all(&store).await, &show_id)
    );

    // Corrupt one row by hand: the drift check names it on both sides.
    let table = if backend == ticketing_event_store::Backend::Postgres {
        "bc_inventory.seat_map"
    } else {
        "seat_map"
    };
    stop_live.send(true).unwrap();
    live.await.unwrap();
    sqlx::query(&format!(
        "UPDATE {table} SET price_minor = 1 WHERE label = 'A-3'"
    ))
    .execute(store.read_pool())
    .await
    .unwrap();
    let found = drift(&store, ReadModel::SeatMap, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        (found.only_live_count, found.only_fresh_count),
        (1, 1),
        "{found:?}"
    );
    assert!(found.only_live[0].contains("A-3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_rebuild_under_live_load() {
    rebuild_under_live_load(fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_rebuild_under_live_load() {
    rebuild_under_live_load(fresh_postgres_url().await).await;
}

/// A rebuild reads only the events of its model's aggregate types, yet
/// leaves the live checkpoint at the head of the whole log: the events of
/// other types after its last one are passed over, not read again later.
async fn a_rebuild_reads_only_its_types_and_ends_at_the_head(url: String) {
    let store = open_store(&url).await;
    let mut log = Log::new(store.clone());
    let show_id = show(&mut log).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(keep_writing(log, show_id.clone(), stop.clone()));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let seat_events = writer.await.unwrap();
    ticketing_event_store::testing::settle_feed(&store).await;
    let head = store.feed_head(0).await.unwrap();

    let report = rebuild(&store, ReadModel::Shows, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(report.events, 1, "only ShowScheduled is read");
    assert!(seat_events > 10, "{seat_events} seat events after it");
    assert_eq!(report.position, head);
    let live = Projector::new(
        store.clone(),
        ShowsProjection(Target::live(store.backend())),
    );
    assert_eq!(live.checkpoint().await.unwrap(), head);
    let shows = Shows {
        pool: store.read_pool().clone(),
        backend: store.backend(),
    };
    assert!(shows.get(show_id.as_str()).await.unwrap().is_some());

    let report = rebuild(&store, ReadModel::SeatMap, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(report.events, 1 + seat_events);
    assert_eq!(report.position, head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_rebuild_reads_only_its_types() {
    a_rebuild_reads_only_its_types_and_ends_at_the_head(fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_rebuild_reads_only_its_types() {
    a_rebuild_reads_only_its_types_and_ends_at_the_head(fresh_postgres_url().await).await;
}

/// One rebuild or drift check of a model at a time, across processes: while
/// another store (another process) holds the model's shadow, a rebuild and
/// a drift check of it are refused at once; another model rebuilds; once
/// the holder releases it, so is the refusal; rebuilds one after another
/// each get the lock (a finished rebuild frees it before it returns).
async fn a_second_rebuild_of_a_model_is_refused(url: String) {
    let store = open_store(&url).await;
    let mut log = Log::new(store.clone());
    show(&mut log).await;
    ticketing_event_store::testing::settle_feed(&store).await;
    let other = open_store(&url).await;
    let held = other
        .try_exclusive(&shadow_lock(ReadModel::Shows))
        .await
        .unwrap()
        .expect("free at first");

    let refused = rebuild(&store, ReadModel::Shows, &mut |_| {}).await;
    assert!(
        matches!(refused, Err(ProjectionError::AlreadyRunning("shows"))),
        "{refused:?}"
    );
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("already running"), "{message}");
    let refused = drift(&store, ReadModel::Shows, &mut |_| {}).await;
    assert!(
        matches!(refused, Err(ProjectionError::AlreadyRunning("shows"))),
        "{refused:?}"
    );
    rebuild(&store, ReadModel::SeatMap, &mut |_| {})
        .await
        .expect("another model rebuilds");

    held.release().await;
    let report = rebuild(&store, ReadModel::Shows, &mut |_| {})
        .await
        .expect("free again");
    assert_eq!(report.events, 1);
    for _ in 0..5 {
        rebuild(&store, ReadModel::Shows, &mut |_| {})
            .await
            .expect("one after another");
        drift(&store, ReadModel::Shows, &mut |_| {})
            .await
            .expect("a check after a rebuild");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_second_rebuild_of_a_model_is_refused() {
    a_second_rebuild_of_a_model_is_refused(fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_second_rebuild_of_a_model_is_refused() {
    a_second_rebuild_of_a_model_is_refused(fresh_postgres_url().await).await;
}
