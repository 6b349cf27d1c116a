//! Checkpoints commit, or roll back, with the read-model transaction they
//! are saved in; a consumer that locks its checkpoint reads it only after
//! the previous holder's batch committed; a consumer split into shards
//! keeps one per shard and is followed by its slowest.

use std::time::Duration;

use ticketing_event_store::{
    delete_checkpoint, load_checkpoint, lock_checkpoint, lock_checkpoints, save_checkpoint,
    FeedPosition,
};

use crate::support::open;

pub async fn checkpoint_commits_with_its_transaction(url: String) {
    let store = open(&url).await;
    let backend = store.backend();
    let p1 = FeedPosition { tx: 1, seq: 5 };
    let p2 = FeedPosition { tx: 2, seq: 7 };

    let mut tx = store.begin_read_model().await.expect("begin");
    assert_eq!(
        load_checkpoint(&mut tx, backend, "seats", 0)
            .await
            .expect("load"),
        FeedPosition::START
    );
    save_checkpoint(&mut tx, backend, "seats", 0, p1)
        .await
        .expect("save");
    assert_eq!(
        load_checkpoint(&mut tx, backend, "seats", 0)
            .await
            .expect("load"),
        p1
    );
    save_checkpoint(&mut tx, backend, "seats", 0, p2)
        .await
        .expect("overwrite");
    assert_eq!(
        load_checkpoint(&mut tx, backend, "seats", 0)
            .await
            .expect("load"),
        p2
    );
    tx.rollback().await.expect("rollback");

    let mut conn = store.read_pool().acquire().await.expect("acquire");
    assert_eq!(
        load_checkpoint(&mut conn, backend, "seats", 0)
            .await
            .expect("load"),
        FeedPosition::START
    );
    drop(conn);

    let mut tx = store.begin_read_model().await.expect("begin");
    save_checkpoint(&mut tx, backend, "seats", 0, p2)
        .await
        .expect("save");
    save_checkpoint(&mut tx, backend, "seats", 1, p1)
        .await
        .expect("save other shard");
    tx.commit().await.expect("commit");

    let mut conn = store.read_pool().acquire().await.expect("acquire");
    assert_eq!(
        load_checkpoint(&mut conn, backend, "seats", 0)
            .await
            .expect("load"),
        p2
    );
    assert_eq!(
        load_checkpoint(&mut conn, backend, "seats", 1)
            .await
            .expect("load"),
        p1
    );
    assert_eq!(
        load_checkpoint(&mut conn, backend, "orders", 0)
            .await
            .expect("load"),
        FeedPosition::START
    );
    delete_checkpoint(&mut conn, backend, "seats", 0)
        .await
        .expect("delete");
    assert_eq!(
        load_checkpoint(&mut conn, backend, "seats", 0)
            .await
            .expect("load"),
        FeedPosition::START
    );
    assert_eq!(
        load_checkpoint(&mut conn, backend, "seats", 1)
            .await
            .expect("load"),
        p1
    );
}

/// Two consumers of one checkpoint, each as a batch runs (write turn,
/// read-model transaction, lock and read): the second reads only once the
/// first committed, and then reads what the first saved, so one batch is
/// never applied twice.
pub async fn a_locked_checkpoint_waits_for_its_holder(url: String) {
    let store = open(&url).await;
    let backend = store.backend();
    let saved = FeedPosition { tx: 3, seq: 9 };

    let turn = store.write_turn().await;
    let mut first = store.begin_read_model().await.expect("begin");
    let at = lock_checkpoint(&mut first, backend, "projector:seats:0", "seats", 0)
        .await
        .expect("lock");
    assert_eq!(at, FeedPosition::START, "never saved: the start");
    save_checkpoint(&mut first, backend, "seats", 0, saved)
        .await
        .expect("save");

    let second = tokio::spawn({
        let store = store.clone();
        async move {
            let _turn = store.write_turn().await;
            let mut tx = store.begin_read_model().await.expect("begin");
            let at = lock_checkpoint(&mut tx, backend, "projector:seats:0", "seats", 0)
                .await
                .expect("lock");
            tx.commit().await.expect("commit");
            at
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second waits for the first");
    first.commit().await.expect("commit");
    drop(turn);
    let read = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the second goes on once the first committed")
        .expect("task");
    assert_eq!(read, saved, "and reads what the first saved");
}

/// A projector shard's batch locks its shard and reads every shard's
/// checkpoint of its model in one call: in shard order, and only once the
/// shard's previous holder committed, so it reads what that one saved.
pub async fn locked_checkpoints_wait_for_their_holder(url: String) {
    let store = open(&url).await;
    let backend = store.backend();
    let p0 = FeedPosition { tx: 4, seq: 11 };
    let p1 = FeedPosition { tx: 2, seq: 6 };

    let turn = store.write_turn().await;
    let mut first = store.begin_read_model().await.expect("begin");
    let rows = lock_checkpoints(&mut first, backend, "projector:seat_map:1", "seat_map")
        .await
        .expect("lock");
    assert!(rows.is_empty(), "never saved: no rows");
    save_checkpoint(&mut first, backend, "seat_map", 1, p1)
        .await
        .expect("save 1");
    save_checkpoint(&mut first, backend, "seat_map", 0, p0)
        .await
        .expect("save 0");
    save_checkpoint(&mut first, backend, "orders", 0, p1)
        .await
        .expect("another model");

    let second = tokio::spawn({
        let store = store.clone();
        async move {
            let _turn = store.write_turn().await;
            let mut tx = store.begin_read_model().await.expect("begin");
            let rows = lock_checkpoints(&mut tx, backend, "projector:seat_map:1", "seat_map")
                .await
                .expect("lock");
            tx.commit().await.expect("commit");
            rows
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second waits for the first");
    first.commit().await.expect("commit");
    drop(turn);
    let read = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the second goes on once the first committed")
        .expect("task");
    assert_eq!(
        read,
        [(0, p0), (1, p1)],
        "every shard of the model, in order"
    );
}

/// Appends `events` seat events to stream `s-1`, takes the write bound
/// after it, and returns the bound and the feed (settled) so far.
async fn seat_held_with_bound(
    store: &ticketing_event_store::Store,
    events: usize,
) -> (FeedPosition, Vec<ticketing_event_store::FeedEvent>) {
    store
        .append(&[crate::support::seat_append("s-1", 0, 1, events)], None)
        .await
        .expect("append");
    let bound = store.write_bound().await.expect("bound");
    ticketing_event_store::testing::settle_feed(store).await;
    let feed = store
        .read_feed(0, FeedPosition::START, 10)
        .await
        .expect("feed");
    (bound, feed)
}

/// Read-your-writes: a bound taken after an append lies past it; a
/// follower reaches the bound once its checkpoint passes the append, or at
/// once when nothing below the bound is of a type it folds; a bound past
/// the log's end is told apart.
pub async fn a_follower_reaches_a_write_bound_once_past_the_write(url: String) {
    use ticketing_event_store::Reached;
    let store = open(&url).await;
    let (bound, feed) = seat_held_with_bound(&store, 2).await;
    let last = feed.last().expect("the append").position;
    assert!(last < bound, "{last:?} lies below {bound:?}");

    let seats = ["Seat"];
    let reached = store
        .reached("seats", &seats, bound)
        .await
        .expect("reached");
    assert_eq!(reached, Reached::NotYet, "nothing applied yet");
    let others = ["Show"];
    let reached = store
        .reached("shows", &others, bound)
        .await
        .expect("reached");
    assert_eq!(
        reached,
        Reached::Yes,
        "a follower of other types need not wait"
    );

    save(&store, feed[0].position).await;
    let reached = store
        .reached("seats", &seats, bound)
        .await
        .expect("reached");
    assert_eq!(reached, Reached::NotYet, "one of two applied");
    save(&store, last).await;
    let reached = store
        .reached("seats", &seats, bound)
        .await
        .expect("reached");
    assert_eq!(reached, Reached::Yes);

    let ahead = FeedPosition {
        tx: bound.tx + 1_000_000,
        seq: bound.seq + 1_000_000,
    };
    let reached = store
        .reached("seats", &seats, ahead)
        .await
        .expect("reached");
    assert_eq!(reached, Reached::Ahead);
    // With no append since, the bound is read once for everyone.
    assert_eq!(store.write_bound().await.expect("bound"), bound);
}

/// Read-your-writes asks this process's feed reader before the database:
/// a follower whose checkpoint trails behind events the reader's window
/// holds is answered from memory, without a scan of the log. Shown by
/// giving the database's copy of the pending events another type: the
/// window still holds them as they were.
pub async fn read_your_writes_asks_the_feed_window_first(url: String) {
    use ticketing_event_store::Reached;
    let store = open(&url).await;
    // Places the window before the append, so it holds all of it.
    ticketing_event_store::testing::settle_feed(&store).await;
    let (bound, feed) = seat_held_with_bound(&store, 3).await;
    assert_eq!(feed.len(), 3);
    save(&store, feed[0].position).await;
    let seats = ["Seat"];
    let reached = store.reached("seats", &seats, bound).await;
    assert_eq!(reached.expect("reached"), Reached::NotYet);

    let table = match store.backend() {
        ticketing_event_store::Backend::Postgres => "event_store.events",
        ticketing_event_store::Backend::Sqlite => "events",
    };
    let mut tx = store.begin_read_model().await.expect("begin");
    sqlx::query(&format!(
        "UPDATE {table} SET aggregate_type = 'Gone' WHERE sequence > 1"
    ))
    .execute(&mut *tx)
    .await
    .expect("retype");
    tx.commit().await.expect("commit");
    let reached = store.reached("seats", &seats, bound).await;
    assert_eq!(
        reached.expect("reached"),
        Reached::NotYet,
        "answered from the window, which still holds the two pending events"
    );
    save(&store, feed[2].position).await;
    let reached = store.reached("seats", &seats, bound).await;
    assert_eq!(reached.expect("reached"), Reached::Yes);
}

/// A follower kept by two shards: a claim lays out a shard's checkpoint
/// only where none is saved, every shard's is read at once, and the bound
/// is reached once every shard passed it (or for the one shard the caller
/// follows, [`Store::reached_from`]).
///
/// [`Store::reached_from`]: ticketing_event_store::Store::reached_from
pub async fn a_sharded_follower_reaches_a_bound_once_every_shard_has(url: String) {
    use ticketing_event_store::{claim_checkpoint, load_checkpoints, Reached};
    let store = open(&url).await;
    let backend = store.backend();
    let (bound, feed) = seat_held_with_bound(&store, 1).await;
    let last = feed.last().expect("the append").position;

    let mut tx = store.begin_read_model().await.expect("begin");
    for (shard, at) in [
        (0, FeedPosition::START),
        (1, FeedPosition::START),
        (1, last),
    ] {
        claim_checkpoint(&mut tx, backend, "seats", shard, at)
            .await
            .expect("claim");
    }
    save_checkpoint(&mut tx, backend, "seats", 0, last)
        .await
        .expect("save");
    tx.commit().await.expect("commit");
    let mut conn = store.read_pool().acquire().await.expect("acquire");
    let shards = load_checkpoints(&mut conn, backend, "seats")
        .await
        .expect("load");
    assert_eq!(
        shards,
        [(0, last), (1, FeedPosition::START)],
        "a claim never overwrites"
    );
    drop(conn);
    let seats = ["Seat"];
    let reached = store
        .reached("seats", &seats, bound)
        .await
        .expect("reached");
    assert_eq!(reached, Reached::NotYet, "shard 1 has not applied it");
    let reached = store
        .reached_from(last, &seats, bound)
        .await
        .expect("reached");
    assert_eq!(reached, Reached::Yes, "shard 0 has");

    let mut tx = store.begin_read_model().await.expect("begin");
    save_checkpoint(&mut tx, backend, "seats", 1, last)
        .await
        .expect("save");
    tx.commit().await.expect("commit");
    let reached = store
        .reached("seats", &seats, bound)
        .await
        .expect("reached");
    assert_eq!(reached, Reached::Yes);
}

/// Saves checkpoint `seats` at `at` in a read-model transaction of its own.
async fn save(store: &ticketing_event_store::Store, at: FeedPosition) {
    let mut tx = store.begin_read_model().await.expect("begin");
    save_checkpoint(&mut tx, store.backend(), "seats", 0, at)
        .await
        .expect("save");
    tx.commit().await.expect("commit");
}
