//! Projector shards (`--shard K/N`): two shards running at once fold the
//! same seat map as one projector fed the same log; a stopped shard holds
//! back only its own shows (their rows and read-your-writes); two runners
//! of one shard never apply a batch twice. Each on SQLite and Postgres.

// Shared with the other projection tests; not every helper is used here.
#[allow(dead_code)]
mod support;

use chrono::Utc;
use support::shards::{projector, rows, shard, until_caught_up, Logs, SEATS};
use support::{open_store, read_all, Log};
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url, settle_feed};
use ticketing_event_store::{Reached, Store};
use ticketing_projections::*;

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
