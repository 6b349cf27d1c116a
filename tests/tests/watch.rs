//! WatchSeatMap over gRPC: a snapshot, then the show's seat changes; a client
//! that drops mid-stream and resumes from its last position sees every change
//! exactly once; a late watcher's snapshot plus changes is the seat map the
//! log says; bad input is refused before the stream starts.

use std::collections::HashMap;
use std::time::Duration;

use cqrs_es::Aggregate;
use ticketing_aggregates::Seat;
use ticketing_event_store::Store;
use ticketing_identity::Role;
use ticketing_tests::v1::seat_map_update::Kind;
use ticketing_tests::v1::*;
use ticketing_tests::*;
use tonic::{Code, Streaming};

/// (label, status, global position): what a change says and the log holds.
type Change = (String, i32, i64);

async fn watch(app: &TestApp, show_id: &str, resume_after: &str) -> Streaming<SeatMapUpdate> {
    app.inventory()
        .watch_seat_map(WatchSeatMapRequest {
            min_consistency_token: Default::default(),
            show_id: show_id.into(),
            resume_after: resume_after.into(),
        })
        .await
        .expect("watch")
        .into_inner()
}

async fn next_update(stream: &mut Streaming<SeatMapUpdate>) -> Kind {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an update within 10 s")
        .expect("the stream stays healthy")
        .expect("the stream stays open")
        .kind
        .expect("an update says what it is")
}

async fn next_change(stream: &mut Streaming<SeatMapUpdate>) -> SeatChange {
    match next_update(stream).await {
        Kind::Change(change) => change,
        other => panic!("expected a seat change, got {other:?}"),
    }
}

/// Changes up to and including the first one for `label`.
async fn changes_until(stream: &mut Streaming<SeatMapUpdate>, label: &str) -> Vec<SeatChange> {
    let mut changes = Vec::new();
    loop {
        let change = next_change(stream).await;
        let done = change.label == label;
        changes.push(change);
        if done {
            return changes;
        }
    }
}

fn triple(change: &SeatChange) -> Change {
    (change.label.clone(), change.status, change.global_position)
}

async fn reserve(app: &TestApp, customer: &str, show_id: &str, label: &str) -> String {
    let request = ReserveSeatsRequest {
        show_id: show_id.into(),
        seat_labels: vec![label.into()],
    };
    app.inventory()
        .reserve_seats(authed(customer, request))
        .await
        .expect("reserve")
        .into_inner()
        .reservation_id
}

async fn release(app: &TestApp, customer: &str, reservation_id: String) {
    app.inventory()
        .release_reservation(authed(
            customer,
            ReleaseReservationRequest { reservation_id },
        ))
        .await
        .expect("release");
}

/// Every Seat event of the show in the log, by global position. Read from
/// the table, not the feed, so it is what was written.
async fn logged_changes(store: &Store, show_id: &str) -> Vec<Change> {
    use sqlx::Row;
    let table = match store.backend() {
        ticketing_event_store::Backend::Postgres => "event_store.events",
        ticketing_event_store::Backend::Sqlite => "events",
    };
    let sql = format!(
        "SELECT aggregate_id, event_type, global_seq FROM {table} WHERE aggregate_type = $1 ORDER BY global_seq"
    );
    let prefix = format!("{show_id}/");
    sqlx::query(&sql)
        .bind(Seat::TYPE)
        .fetch_all(store.read_pool())
        .await
        .expect("read the log")
        .iter()
        .filter_map(|row| {
            let id: String = row.try_get("aggregate_id").expect("id");
            let label = id.strip_prefix(&prefix)?.to_owned();
            let status = match row
                .try_get::<String, _>("event_type")
                .expect("type")
                .as_str()
            {
                "SeatHeld" | "SeatHoldExtended" => SeatStatus::Held,
                "SeatReleased" => SeatStatus::Available,
                "SeatSold" => SeatStatus::Sold,
                other => panic!("unexpected seat event {other}"),
            };
            Some((
                label,
                status as i32,
                row.try_get("global_seq").expect("seq"),
            ))
        })
        .collect()
}

fn sorted_by_position(mut changes: Vec<Change>) -> Vec<Change> {
    changes.sort_by_key(|c| c.2);
    changes
}

async fn resume_after_disconnect(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 10).await;
    let customer = app.customer().await;

    let mut stream = watch(&app, &show_id, "").await;
    let Kind::Snapshot(snapshot) = next_update(&mut stream).await else {
        panic!("a stream without resume_after opens with a snapshot");
    };
    let map = snapshot.seat_map.expect("seat map");
    assert_eq!(map.seats.len(), 10);
    assert!(map
        .seats
        .iter()
        .all(|s| s.status == SeatStatus::Available as i32));
    assert!(!snapshot.position.is_empty());

    let first = reserve(&app, &customer, &show_id, "A-1").await;
    reserve(&app, &customer, &show_id, "A-2").await;
    release(&app, &customer, first).await;
    let mut received = vec![
        next_change(&mut stream).await,
        next_change(&mut stream).await,
    ];
    let seen: Vec<(&str, i32)> = received
        .iter()
        .map(|c| (c.label.as_str(), c.status))
        .collect();
    let held = SeatStatus::Held as i32;
    assert_eq!(seen, [("A-1", held), ("A-2", held)]);
    // Gone mid-stream: A-1's release is sent or buffered but never read.
    drop(stream);

    reserve(&app, &customer, &show_id, "A-3").await;
    reserve(&app, &customer, &show_id, "A-4").await;
    let last = received.last().expect("a change").position.clone();
    let mut resumed = watch(&app, &show_id, &last).await;
    // Anything sent twice or out of place would show before this one.
    reserve(&app, &customer, &show_id, "A-5").await;
    received.extend(changes_until(&mut resumed, "A-5").await);

    let received: Vec<Change> = received.iter().map(triple).collect();
    let labels: Vec<&str> = received.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(labels, ["A-1", "A-2", "A-1", "A-3", "A-4", "A-5"]);
    // The show's seats had no events before the snapshot: every one of
    // them in the log is a change the client must see, once.
    assert_eq!(
        sorted_by_position(received),
        sorted_by_position(logged_changes(&app.store, &show_id).await)
    );

    // A watcher arriving now: its snapshot plus the changes after it is
    // the seat map the log says, whatever the projector had applied.
    let mut late = watch(&app, &show_id, "").await;
    let Kind::Snapshot(snapshot) = next_update(&mut late).await else {
        panic!("a fresh watch opens with a snapshot");
    };
    let mut folded: HashMap<String, i32> = snapshot
        .seat_map
        .expect("seat map")
        .seats
        .into_iter()
        .map(|s| (s.label, s.status))
        .collect();
    reserve(&app, &customer, &show_id, "A-6").await;
    for change in changes_until(&mut late, "A-6").await {
        folded.insert(change.label, change.status);
    }
    let mut expected: HashMap<String, i32> = (1..=10)
        .map(|i| (format!("A-{i}"), SeatStatus::Available as i32))
        .collect();
    for (label, status, _) in sorted_by_position(logged_changes(&app.store, &show_id).await) {
        expected.insert(label, status);
    }
    assert_eq!(folded, expected);
}

async fn refusals(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 2).await;
    let mut inventory = app.inventory();

    for bad in ["x", "1.two", "-1.5", "1.2.3", " 1.2"] {
        let err = inventory
            .watch_seat_map(WatchSeatMapRequest {
                min_consistency_token: Default::default(),
                show_id: show_id.clone(),
                resume_after: bad.into(),
            })
            .await
            .expect_err("a bad resume token is refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}");
        assert_eq!(violated_fields(&err), ["resume_after"], "{bad:?}");
    }

    let err = inventory
        .watch_seat_map(WatchSeatMapRequest {
            min_consistency_token: Default::default(),
            show_id: "not-a-show".into(),
            resume_after: String::new(),
        })
        .await
        .expect_err("a malformed show id is refused");
    assert_eq!(violated_fields(&err), ["show_id"]);

    let unknown = "s_01J00000000000000000000000";
    for resume_after in ["", "0.1"] {
        let err = inventory
            .watch_seat_map(WatchSeatMapRequest {
                min_consistency_token: Default::default(),
                show_id: unknown.into(),
                resume_after: resume_after.into(),
            })
            .await
            .expect_err("an unknown show is refused");
        assert_eq!(err.code(), Code::NotFound, "{resume_after:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_a_disconnect_exactly_once_sqlite() {
    resume_after_disconnect(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_a_disconnect_exactly_once_postgres() {
    resume_after_disconnect(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_refuses_bad_input_sqlite() {
    refusals(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_refuses_bad_input_postgres() {
    refusals(Backend::Postgres).await;
}

/// Shutdown does not wait forever on an open watch: the stream ends with
/// UNAVAILABLE (reconnect and resume) and the engine stops.
async fn shutdown_ends_open_watches(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 2).await;
    let mut stream = watch(&app, &show_id, "").await;
    assert!(matches!(next_update(&mut stream).await, Kind::Snapshot(_)));
    tokio::time::timeout(std::time::Duration::from_secs(10), app.stop())
        .await
        .expect("graceful shutdown with a watch open");
    let end = stream.message().await;
    assert!(
        matches!(&end, Err(status) if status.code() == tonic::Code::Unavailable)
            || matches!(end, Ok(None)),
        "{end:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_watches_sqlite() {
    shutdown_ends_open_watches(Backend::Sqlite).await;
}
