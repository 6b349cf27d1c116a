//! Projector shards (`--shard K/N`): two shards running at once fold the
//! same seat map as one projector fed the same log; a stopped shard holds
//! back only its own shows (their rows and read-your-writes); two runners
//! of one shard never apply a batch twice; and the count changes only
//! through a rebuild (`reshard`), which fences the old shards out. Each on
//! SQLite and Postgres.

// Shared with the other projection tests; not every helper is used here.
#[allow(dead_code)]
mod support;

use chrono::{Duration, Utc};
use support::{open_store, read_all, Log};
use ticketing_aggregates::*;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url, settle_feed};
use ticketing_event_store::{FeedPosition, Reached, Store};
use ticketing_projections::*;

const SEATS: usize = 6;

/// The same appends to one log per database, in the same order.
struct Logs(Vec<Log>);

impl Logs {
    async fn append(&mut self, kind: &str, id: &str, events: &[impl cqrs_es::DomainEvent]) {
        for log in &mut self.0 {
            log.append(kind, id, events).await;
        }
    }

    /// Shows scheduled until each of two shards owns two of them.
    async fn shows(&mut self) -> Vec<ShowId> {
        let mut shows: Vec<ShowId> = Vec::new();
        let owned =
            |shows: &[ShowId], k| shows.iter().filter(|s| owner(s.as_str(), 2) == k).count();
        while owned(&shows, 0) < 2 || owned(&shows, 1) < 2 {
            let seats = (0..SEATS).map(|i| (format!("A-{i}"), 1000 + i as i64));
            let details = ShowDetails {
                show_id: ShowId::generate(),
                organizer: UserRef::generate(),
                title: "T".into(),
                venue: "V".into(),
                starts_at: Utc::now() + Duration::days(1),
                time_zone: TimeZoneName::utc(),
                currency: Currency::parse("c", "EUR").unwrap(),
                plan: SeatingPlan::parse(&[RawSection {
                    name: "Stalls".into(),
                    rows: vec![RawRow {
                        name: "A".into(),
                        seats: seats.collect(),
                    }],
                }])
                .unwrap(),
                max_held_seats: None,
            };
            let id = details.show_id.clone();
            self.append("Show", id.as_str(), &[ShowEvent::ShowScheduled(details)])
                .await;
            shows.push(id);
        }
        shows
    }

    /// Round `round` on every show: a seat held, held and released, or
    /// held and sold, in turn.
    async fn round(&mut self, shows: &[ShowId], round: usize) {
        for (n, show) in shows.iter().enumerate() {
            let seat = format!("{show}/A-{}", (round + n) % SEATS);
            let reservation = ReservationId::generate();
            let mut events = vec![SeatEvent::SeatHeld {
                reservation: reservation.clone(),
                until: Utc::now() + Duration::hours(1),
            }];
            match (round + n) % 3 {
                0 => {}
                1 => events.push(SeatEvent::SeatReleased {
                    reservation,
                    reason: ReleaseReason::Released,
                }),
                _ => events.push(SeatEvent::SeatSold { reservation }),
            }
            self.append("Seat", &seat, &events).await;
        }
    }
}

fn projector(store: &Store, shard: Shard) -> Projector<SeatMapProjection> {
    Projector::new(
        store.clone(),
        SeatMapProjection(Target::live(store.backend())),
    )
    .with_shard(shard)
    .with_batch_size(7)
}

fn shard(k: u32, n: u32) -> Shard {
    Shard::new(k, n).unwrap()
}

/// Every seat-map row, every column, in key order.
async fn rows(store: &Store) -> Vec<String> {
    let table = match store.backend() {
        ticketing_event_store::Backend::Postgres => "bc_inventory.seat_map",
        ticketing_event_store::Backend::Sqlite => "seat_map",
    };
    let sql = format!(
        "SELECT show_id || '|' || label || '|' || section || '|' || row_name || '|' || \
         CAST(position AS TEXT) || '|' || CAST(price_minor AS TEXT) || '|' || status || '|' || \
         COALESCE(reservation_id, '-') || '|' || COALESCE(CAST(held_until AS TEXT), '-') || '|' || \
         CAST(global_seq AS TEXT) FROM {table} ORDER BY show_id, label"
    );
    sqlx::query_scalar(&sql)
        .fetch_all(store.read_pool())
        .await
        .unwrap()
}

/// Waits until `shard`'s checkpoint has passed the end of the log.
async fn until_caught_up(store: &Store, shard: Shard) {
    settle_feed(store).await;
    let head = store.feed_head(0).await.unwrap();
    let checker = projector(store, shard);
    for _ in 0..600 {
        if checker.checkpoint().await.unwrap() >= head {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("shard {shard} never reached {head:?}");
}

async fn two_shards_fold_what_one_projector_folds(sharded_url: String, whole_url: String) {
    let (sharded, whole) = (open_store(&sharded_url).await, open_store(&whole_url).await);
    let mut logs = Logs(vec![Log::new(sharded.clone()), Log::new(whole.clone())]);
    let shows = logs.shows().await;
    logs.round(&shows, 0).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Each shard with connections of its own, as two processes.
    let mut runs = Vec::new();
    for k in 0..2 {
        let process = Store::connect(&sharded_url).await.unwrap();
        runs.push(tokio::spawn(
            projector(&process, shard(k, 2)).run(stopped.clone()),
        ));
    }
    runs.push(tokio::spawn(projector(&whole, Shard::WHOLE).run(stopped)));
    for round in 1..12 {
        logs.round(&shows, round).await;
    }
    for k in 0..2 {
        until_caught_up(&sharded, shard(k, 2)).await;
    }
    until_caught_up(&whole, Shard::WHOLE).await;
    stop.send(true).unwrap();
    for run in runs {
        run.await.unwrap();
    }
    let folded = rows(&whole).await;
    assert_eq!(folded.len(), shows.len() * SEATS);
    assert_eq!(rows(&sharded).await, folded, "the same rows, every column");
    let clean = drift(&sharded, ReadModel::SeatMap, &mut |_| {})
        .await
        .unwrap();
    assert!(clean.is_clean(), "{clean:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_fold_what_one_projector_folds_sqlite() {
    two_shards_fold_what_one_projector_folds(fresh_sqlite_url(), fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_fold_what_one_projector_folds_postgres() {
    two_shards_fold_what_one_projector_folds(
        fresh_postgres_url().await,
        fresh_postgres_url().await,
    )
    .await;
}

/// Shard 1 stopped: shard 0's shows are current and read their writes,
/// shard 1's are not (and a query of the whole model waits); once shard 1
/// runs again it catches up with nothing lost.
async fn a_stopped_shard_holds_back_only_its_shows(url: String) {
    let store = open_store(&url).await;
    let mut logs = Logs(vec![Log::new(store.clone())]);
    let shows = logs.shows().await;
    for round in 0..4 {
        logs.round(&shows, round).await;
    }
    let bound = store.write_bound().await.unwrap();
    settle_feed(&store).await;
    projector(&store, shard(0, 2)).catch_up().await.unwrap();
    let maps = SeatMaps {
        pool: store.read_pool().clone(),
        backend: store.backend(),
    };
    for show in &shows {
        let mine = owner(show.as_str(), 2) == 0;
        let map = maps.seat_map(show.as_str(), Utc::now()).await.unwrap();
        assert_eq!(map.len(), if mine { SEATS } else { 0 }, "{show}");
        let reached = reached(&store, ReadModel::SeatMap, Some(show.as_str()), bound)
            .await
            .unwrap();
        let expected = if mine { Reached::Yes } else { Reached::NotYet };
        assert_eq!(reached, expected, "{show}");
    }
    let whole = reached(&store, ReadModel::SeatMap, None, bound)
        .await
        .unwrap();
    assert_eq!(whole, Reached::NotYet, "the whole model waits for shard 1");
    assert_eq!(
        store
            .reached("seat_map", ReadModel::SeatMap.reads(), bound)
            .await
            .unwrap(),
        Reached::NotYet,
        "the store's own check follows the lowest shard"
    );

    projector(&store, shard(1, 2)).catch_up().await.unwrap();
    for show in &shows {
        let reached = reached(&store, ReadModel::SeatMap, Some(show.as_str()), bound)
            .await
            .unwrap();
        assert_eq!(reached, Reached::Yes, "{show}");
    }
    let clean = drift(&store, ReadModel::SeatMap, &mut |_| {})
        .await
        .unwrap();
    assert!(clean.is_clean(), "{clean:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_shard_holds_back_only_its_shows_sqlite() {
    a_stopped_shard_holds_back_only_its_shows(fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_shard_holds_back_only_its_shows_postgres() {
    a_stopped_shard_holds_back_only_its_shows(fresh_postgres_url().await).await;
}

/// Two processes run as the same shard: between them they read each
/// event of the log exactly once (a batch applied twice would count twice).
async fn one_shard_twice_applies_each_batch_once(url: String) {
    let store = open_store(&url).await;
    let mut logs = Logs(vec![Log::new(store.clone())]);
    let shows = logs.shows().await;
    for round in 0..10 {
        logs.round(&shows, round).await;
    }
    settle_feed(&store).await;
    let drain = |process: Store| async move {
        let projector = projector(&process, shard(1, 2));
        let mut applied = 0;
        loop {
            match projector.step().await.unwrap() {
                0 => return applied,
                n => applied += n,
            }
        }
    };
    let (a, b) = (
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    );
    let (a, b) = tokio::join!(tokio::spawn(drain(a)), tokio::spawn(drain(b)));
    assert_eq!(a.unwrap() + b.unwrap(), read_all(&store).await.len());
    projector(&store, shard(0, 2)).catch_up().await.unwrap();
    let clean = drift(&store, ReadModel::SeatMap, &mut |_| {})
        .await
        .unwrap();
    assert!(clean.is_clean(), "{clean:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shard_twice_applies_each_batch_once_sqlite() {
    one_shard_twice_applies_each_batch_once(fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shard_twice_applies_each_batch_once_postgres() {
    one_shard_twice_applies_each_batch_once(fresh_postgres_url().await).await;
}

fn refused(result: Result<usize, ProjectionError>) -> Vec<i32> {
    match result {
        Err(ProjectionError::ShardLayout { found, .. }) => found,
        other => panic!("expected a shard-layout refusal, got {other:?}"),
    }
}

/// The first shard of a model never run lays out every shard's checkpoint;
/// a projector of another count writes nothing; `reshard` changes the
/// count with every shard's checkpoint at the position it swapped in, and
/// the shards of the new count keep the model right from there.
async fn the_count_changes_only_by_a_rebuild(url: String) {
    let store = open_store(&url).await;
    let mut logs = Logs(vec![Log::new(store.clone())]);
    let shows = logs.shows().await;
    logs.round(&shows, 0).await;
    settle_feed(&store).await;
    projector(&store, shard(1, 2)).step().await.unwrap();
    let layout = model_shards(&store, ReadModel::SeatMap).await.unwrap();
    let laid: Vec<String> = layout.iter().map(|(s, _)| s.to_string()).collect();
    assert_eq!(laid, ["0/2", "1/2"], "the first shard laid out both");
    assert_eq!(
        layout[0].1,
        FeedPosition::START,
        "shard 0 starts at the start"
    );
    assert_eq!(
        refused(projector(&store, Shard::WHOLE).step().await),
        [0, 1]
    );
    assert_eq!(refused(projector(&store, shard(2, 3)).step().await), [0, 1]);
    assert!(check_shard(&store, ReadModel::SeatMap, shard(0, 3))
        .await
        .is_err());
    check_shard(&store, ReadModel::SeatMap, shard(0, 2))
        .await
        .unwrap();
    check_shard(&store, ReadModel::Shows, Shard::WHOLE)
        .await
        .unwrap();

    for count in [3, 1, 2] {
        logs.round(&shows, count as usize).await;
        settle_feed(&store).await;
        let report = reshard(&store, ReadModel::SeatMap, count, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(report.shards, count);
        let layout = model_shards(&store, ReadModel::SeatMap).await.unwrap();
        assert_eq!(layout.len(), count as usize);
        assert!(layout
            .iter()
            .all(|(s, at)| s.count() == count && *at == report.position));
        // A projector of the old count is fenced out.
        let old = if count == 3 { shard(0, 2) } else { shard(0, 3) };
        assert_eq!(
            refused(projector(&store, old).step().await).len(),
            count as usize
        );
        logs.round(&shows, 7).await;
        settle_feed(&store).await;
        for k in 0..count {
            projector(&store, shard(k, count)).catch_up().await.unwrap();
        }
        let clean = drift(&store, ReadModel::SeatMap, &mut |_| {})
            .await
            .unwrap();
        assert!(clean.is_clean(), "{count} shards: {clean:?}");
    }
    let whole = reshard(&store, ReadModel::Shows, 2, &mut |_| {}).await;
    assert!(
        matches!(whole, Err(ProjectionError::NotSharded("shows"))),
        "{whole:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_changes_only_by_a_rebuild_sqlite() {
    the_count_changes_only_by_a_rebuild(fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_changes_only_by_a_rebuild_postgres() {
    the_count_changes_only_by_a_rebuild(fresh_postgres_url().await).await;
}
