//! Changing how many projector shards keep the seat map: the first shard
//! of a model never run lays out every shard's checkpoint, a projector of
//! another count writes nothing, and the count changes only through a
//! rebuild (`reshard`), which fences the old shards out. On SQLite and
//! Postgres.

// Shared with the other projection tests; not every helper is used here.
#[allow(dead_code)]
mod support;

use support::shards::{projector, shard, Logs};
use support::{open_store, Log};
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url, settle_feed};
use ticketing_event_store::FeedPosition;
use ticketing_projections::*;

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
