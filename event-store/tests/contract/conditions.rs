//! Conditional appends: a stream that a decision read but does not write
//! must still be where the decision saw it, also against a writer that is
//! committing at the same instant.

use std::time::{Duration, Instant};

use ticketing_event_store::{StoreError, StreamCondition};

use crate::support::{open, seat_append, Seat};

fn show_at(sequence: usize) -> StreamCondition {
    StreamCondition {
        aggregate_type: "Seat".into(),
        aggregate_id: "show".into(),
        sequence,
    }
}

pub async fn conditions_refuse_a_stream_that_moved(url: String) {
    let store = open(&url).await;
    // A condition on a stream with no events holds at 0.
    store
        .append_if(&[seat_append("a", 0, 1, 1)], &[show_at(0)], None)
        .await
        .expect("empty stream at 0");
    store
        .append(&[seat_append("show", 0, 1, 2)], None)
        .await
        .expect("show");
    store
        .append_if(&[seat_append("b", 0, 1, 1)], &[show_at(2)], None)
        .await
        .expect("show still at 2");
    for stale in [0, 1, 3] {
        let refused = store
            .append_if(&[seat_append("c", 0, 1, 1)], &[show_at(stale)], None)
            .await;
        assert!(
            matches!(refused, Err(StoreError::Conflict)),
            "condition at {stale}: {refused:?}"
        );
    }
    assert!(
        store.load::<Seat>("c", 0).await.expect("load").is_empty(),
        "a refused conditional append writes nothing"
    );
}

/// A writer that commits while a conditional append is in flight either
/// waits for it or makes it fail: the two never both commit on the same
/// view of the stream.
pub async fn a_condition_and_a_writer_never_overlap(url: String) {
    let store = open(&url).await;
    store
        .append(&[seat_append("show", 0, 1, 1)], None)
        .await
        .expect("show");

    // The conditional append holds its transaction open after its check;
    // the writer, started meanwhile, commits only after it.
    let held = Duration::from_millis(400);
    let conditional = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append_holding_open(&[seat_append("a", 0, 1, 1)], &[show_at(1)], held)
                .await
                .map(|()| Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let writer_started = Instant::now();
    store
        .append(&[seat_append("show", 1, 2, 1)], None)
        .await
        .expect("writer");
    let writer_done = Instant::now();
    let conditional_done = conditional.await.expect("task").expect("conditional");
    // The conditional's task may be polled after this one on a busy
    // machine, so having waited most of the hold also shows the wait.
    assert!(
        writer_done >= conditional_done
            || writer_done - writer_started >= held - Duration::from_millis(150),
        "the writer committed while a conditional append on its stream was in flight"
    );

    // The other way round: a writer in flight makes a conditional append
    // that read the stream before it fail, instead of committing beside it.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append_holding_open(&[seat_append("show", 2, 3, 1)], &[], held)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = store
        .append_if(&[seat_append("b", 0, 1, 1)], &[show_at(2)], None)
        .await;
    writer.await.expect("task").expect("writer");
    assert!(
        matches!(refused, Err(StoreError::Conflict)),
        "a conditional append committed beside a writer of its stream: {refused:?}"
    );
    assert!(store.load::<Seat>("b", 0).await.expect("load").is_empty());
}
