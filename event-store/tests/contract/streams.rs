//! Loading and appending streams: sequences, optimistic concurrency,
//! atomic multi-stream appends with idempotency records, and the cqrs-es
//! repository view of the store.

use cqrs_es::persist::{PersistedEventRepository, PersistenceError, SerializedEvent};
use serde_json::json;
use ticketing_event_store::{Backend, IdempotencyRecord, StoreError, StreamCondition};

use crate::support::{open, seat_append, Seat};

fn sequences(events: &[SerializedEvent]) -> Vec<usize> {
    events.iter().map(|e| e.sequence).collect()
}

fn payload_ns(events: &[SerializedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.payload["n"].as_u64().expect("n"))
        .collect()
}

fn record(key: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        scope: "u_1:ReserveSeats".into(),
        key: key.into(),
        request_hash: format!("hash-{key}"),
        response: json!({ "reservation": key }),
    }
}

pub async fn append_then_load_in_sequence_order(url: String) {
    let store = open(&url).await;
    assert!(store.load::<Seat>("a", 0).await.expect("load").is_empty());

    store
        .append(&[seat_append("a", 0, 1, 3)], None)
        .await
        .expect("first append");
    store
        .append(&[seat_append("a", 3, 4, 2)], None)
        .await
        .expect("second append");

    let all = store.load::<Seat>("a", 0).await.expect("load");
    assert_eq!(sequences(&all), [1, 2, 3, 4, 5]);
    assert_eq!(payload_ns(&all), [1, 2, 3, 4, 5]);
    assert!(all
        .iter()
        .all(|e| e.aggregate_type == "Seat" && e.aggregate_id == "a"));
    assert_eq!(all[0].event_type, "SeatHeld");
    assert_eq!(all[0].metadata, json!({ "test": true }));

    let tail = store.load::<Seat>("a", 3).await.expect("load tail");
    assert_eq!(sequences(&tail), [4, 5]);
    assert!(store
        .load::<Seat>("a", 5)
        .await
        .expect("load past end")
        .is_empty());
}

pub async fn stale_expected_sequence_conflicts_and_writes_nothing(url: String) {
    let store = open(&url).await;
    store
        .append(&[seat_append("a", 0, 1, 2)], None)
        .await
        .expect("append");

    for stale in [0, 1] {
        let err = store.append(&[seat_append("a", stale, 100, 3)], None).await;
        assert!(
            matches!(err, Err(StoreError::Conflict)),
            "expected {stale}: {err:?}"
        );
    }
    let all = store.load::<Seat>("a", 0).await.expect("load");
    assert_eq!(payload_ns(&all), [1, 2]);
}

pub async fn multi_stream_append_is_all_or_nothing(url: String) {
    let store = open(&url).await;
    let three = [
        seat_append("s1", 0, 1, 2),
        seat_append("s2", 0, 10, 1),
        seat_append("s3", 0, 20, 3),
    ];
    store
        .append(&three, Some(&record("k1")))
        .await
        .expect("three streams");
    for (id, n) in [("s1", 2), ("s2", 1), ("s3", 3)] {
        assert_eq!(
            store.load::<Seat>(id, 0).await.expect("load").len(),
            n,
            "{id}"
        );
    }
    assert_eq!(
        store
            .idempotency("u_1:ReserveSeats", "k1")
            .await
            .expect("lookup"),
        Some(record("k1"))
    );

    // Stream 1 is current, stream 2 is stale: neither is written, nor the record.
    let mixed = [seat_append("s1", 2, 3, 1), seat_append("s2", 0, 11, 1)];
    let err = store.append(&mixed, Some(&record("k2"))).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert_eq!(store.load::<Seat>("s1", 0).await.expect("load").len(), 2);
    assert_eq!(store.load::<Seat>("s2", 0).await.expect("load").len(), 1);
    assert_eq!(
        store
            .idempotency("u_1:ReserveSeats", "k2")
            .await
            .expect("lookup"),
        None
    );

    // A used key conflicts even when every stream is current.
    let err = store
        .append(&[seat_append("s4", 0, 1, 1)], Some(&record("k1")))
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert!(store.load::<Seat>("s4", 0).await.expect("load").is_empty());

    // Streams without events are ignored; the others still append.
    let with_empty = [seat_append("s5", 7, 1, 0), seat_append("s1", 2, 3, 1)];
    store
        .append(&with_empty, Some(&record("k3")))
        .await
        .expect("append");
    assert_eq!(
        sequences(&store.load::<Seat>("s1", 0).await.expect("load")),
        [1, 2, 3]
    );
    assert!(store.load::<Seat>("s5", 0).await.expect("load").is_empty());
    assert!(store
        .idempotency("u_1:ReserveSeats", "k3")
        .await
        .expect("lookup")
        .is_some());
}

/// An append larger than one insert statement (1,200 events; SQLite
/// inserts 500 rows per statement) lands whole, in order; one whose
/// conflict is found in its last statement lands nothing, its record
/// neither.
pub async fn a_large_append_is_all_or_nothing(url: String) {
    let store = open(&url).await;
    let large = [
        seat_append("l1", 0, 1, 700),
        seat_append("l2", 0, 1, 300),
        seat_append("l3", 0, 1, 200),
    ];
    store
        .append(&large, Some(&record("large")))
        .await
        .expect("a large append");
    for (id, n) in [("l1", 700), ("l2", 300), ("l3", 200)] {
        let events = store.load::<Seat>(id, 0).await.expect("load");
        assert_eq!(sequences(&events), (1..=n).collect::<Vec<_>>(), "{id}");
        assert_eq!(payload_ns(&events), (1..=n as u64).collect::<Vec<_>>());
    }

    // l4's 900 events come first, the stale l3 last.
    let late_conflict = [seat_append("l4", 0, 1, 900), seat_append("l3", 0, 1, 1)];
    let err = store.append(&late_conflict, Some(&record("late"))).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert!(store.load::<Seat>("l4", 0).await.expect("load").is_empty());
    assert_eq!(store.load::<Seat>("l3", 0).await.expect("load").len(), 200);
    assert_eq!(
        store
            .idempotency("u_1:ReserveSeats", "late")
            .await
            .expect("lookup"),
        None
    );
}

pub async fn cqrs_repository_round_trip(url: String) {
    let store = open(&url).await;
    let serialized = |sequence: usize| {
        SerializedEvent::new(
            "r1".into(),
            sequence,
            "Seat".into(),
            "SeatHeld".into(),
            "1".into(),
            json!({ "n": sequence }),
            json!({}),
        )
    };
    store
        .persist::<Seat>(&[serialized(1), serialized(2)], None)
        .await
        .expect("persist");
    let err = store.persist::<Seat>(&[serialized(2)], None).await;
    assert!(
        matches!(err, Err(PersistenceError::OptimisticLockError)),
        "{err:?}"
    );
    let err = store
        .persist::<Seat>(&[serialized(3)], Some(("r1".into(), json!({}), 1)))
        .await;
    assert!(err.is_err(), "snapshot updates are refused");

    assert_eq!(
        sequences(&store.get_events::<Seat>("r1").await.expect("get")),
        [1, 2]
    );
    assert_eq!(
        sequences(&store.get_last_events::<Seat>("r1", 1).await.expect("get")),
        [2]
    );
    assert!(store
        .get_snapshot::<Seat>("r1")
        .await
        .expect("snapshot")
        .is_none());
    let mut replay = store.stream_all_events::<Seat>().await.expect("stream");
    let mut replayed = 0;
    while let Some(event) = replay.next::<Seat>(&[]).await {
        event.expect("replayed event");
        replayed += 1;
    }
    assert_eq!(replayed, 2);
}

#[tokio::test]
async fn sqlite_in_memory_url_shares_one_database() {
    let store = open("sqlite::memory:").await;
    assert_eq!(store.backend(), Backend::Sqlite);
    store
        .append(&[seat_append("m", 0, 1, 2)], None)
        .await
        .expect("append");
    assert_eq!(store.load::<Seat>("m", 0).await.expect("load").len(), 2);
    let feed = store
        .read_feed(0, ticketing_event_store::FeedPosition::START, 10)
        .await
        .expect("feed");
    assert_eq!(feed.len(), 2);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(store.read_pool())
        .await
        .expect("read pool sees the events");
    assert_eq!(count, 2);
}

pub async fn concurrent_migrations_succeed(url: String) {
    let migrations: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { open(&url).await })
        })
        .collect();
    for migration in migrations {
        let store = migration.await.expect("migration task");
        store.migrate().await.expect("migrating again is a no-op");
    }
}

pub async fn load_streams_reads_many_streams_at_once(url: String) {
    let store = open(&url).await;
    store
        .append(
            &[seat_append("a", 0, 1, 3), seat_append("b", 0, 10, 2)],
            None,
        )
        .await
        .expect("append");
    let stream = |id, after| ticketing_event_store::StreamRef {
        aggregate_type: "Seat",
        aggregate_id: id,
        after_sequence: after,
    };
    let loaded = store
        .load_streams(&[
            stream("b", 0),
            stream("missing", 0),
            stream("a", 1),
            stream("b", 2),
        ])
        .await
        .expect("load streams");
    let shape: Vec<Vec<usize>> = loaded.iter().map(|events| sequences(events)).collect();
    assert_eq!(
        shape,
        [vec![1, 2], vec![], vec![2, 3], vec![]],
        "one list per request, in order"
    );
    assert_eq!(payload_ns(&loaded[0]), [10, 11]);
    assert_eq!(payload_ns(&loaded[2]), [2, 3]);
    assert!(loaded[2].iter().all(|e| e.aggregate_id == "a"));
    assert!(store.load_streams(&[]).await.expect("nothing").is_empty());
}

/// A batch (SQLite commits concurrent appends as one): a stale append, a
/// second append to a stream an earlier one of the batch wrote, and a taken
/// idempotency key each fail alone while their neighbours commit whole.
pub async fn a_conflict_in_a_batch_fails_alone(url: String) {
    let store = open(&url).await;
    store
        .append(&[seat_append("seat-a", 0, 0, 2)], Some(&record("taken")))
        .await
        .expect("seed");
    let show_at = |sequence| StreamCondition {
        aggregate_type: <Seat as cqrs_es::Aggregate>::TYPE.into(),
        aggregate_id: "show".into(),
        sequence,
    };
    let batch = vec![
        (
            vec![seat_append("seat-b", 0, 10, 2)],
            vec![],
            Some(record("b")),
        ),
        // Stale: seat-a is at 2.
        (
            vec![
                seat_append("seat-c", 0, 20, 1),
                seat_append("seat-a", 1, 21, 1),
            ],
            vec![],
            None,
        ),
        // Its condition holds: "show" has no events.
        (
            vec![seat_append("seat-d", 0, 30, 1)],
            vec![show_at(0)],
            None,
        ),
        // seat-b moved past 0 earlier in this very batch.
        (vec![seat_append("seat-b", 0, 40, 1)], vec![], None),
        (
            vec![seat_append("seat-e", 0, 50, 1)],
            vec![],
            Some(record("taken")),
        ),
        (
            vec![seat_append("seat-a", 2, 60, 1)],
            vec![],
            Some(record("a")),
        ),
        // "show" is written in this batch, then a condition on it fails.
        (vec![seat_append("show", 0, 70, 1)], vec![], None),
        (
            vec![seat_append("seat-f", 0, 80, 1)],
            vec![show_at(0)],
            None,
        ),
        // A key shared by three jobs: the first is stale, so the second
        // takes the key, and the third finds it taken within the batch.
        (
            vec![seat_append("seat-a", 1, 90, 1)],
            vec![],
            Some(record("dup")),
        ),
        (
            vec![seat_append("seat-g", 0, 91, 1)],
            vec![],
            Some(record("dup")),
        ),
        (
            vec![seat_append("seat-h", 0, 92, 1)],
            vec![],
            Some(record("dup")),
        ),
    ];
    let outcomes = store
        .append_as_one_batch(&batch)
        .await
        .expect("the batch commits");
    let conflicts: Vec<bool> = outcomes
        .iter()
        .map(|o| matches!(o, Err(StoreError::Conflict)))
        .collect();
    assert_eq!(
        conflicts,
        [false, true, false, true, true, false, false, true, true, false, true],
        "{outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .zip(&conflicts)
        .all(|(o, c)| o.is_ok() != *c));
    let ns = |id: &'static str| {
        let store = store.clone();
        async move { payload_ns(&store.load::<Seat>(id, 0).await.expect("load")) }
    };
    assert_eq!(
        ns("seat-a").await,
        [0, 1, 60],
        "the stale one wrote nothing"
    );
    assert_eq!(ns("seat-b").await, [10, 11]);
    assert!(
        ns("seat-c").await.is_empty(),
        "all or nothing: not half of it"
    );
    assert_eq!(ns("seat-d").await, [30]);
    assert!(ns("seat-e").await.is_empty(), "the taken key wrote nothing");
    assert!(
        ns("seat-f").await.is_empty(),
        "the failed condition wrote nothing"
    );
    assert_eq!(ns("show").await, [70]);
    assert_eq!(
        ns("seat-g").await,
        [91],
        "the key went to the job that committed"
    );
    assert!(ns("seat-h").await.is_empty(), "a key taken in the batch");
    let scope = record("a").scope;
    for key in ["a", "b", "dup"] {
        let stored = store.idempotency(&scope, key).await.expect("read");
        assert_eq!(stored, Some(record(key)), "{key}");
    }
}
