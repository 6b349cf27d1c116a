//! A running projector passes over the events its projection does not
//! want without a batch for them, applies the next one it wants, and saves
//! its checkpoint past the skipped events once the feed goes idle; on both
//! backends.

#[allow(dead_code)]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::AnyConnection;
use support::{open_store, read_all, Log};
use ticketing_aggregates::*;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::{FeedEvent, MAX_SKIP_AGE};
use ticketing_projections::*;

/// Wants Show events only, and records every batch it is given.
#[derive(Clone, Default)]
struct ShowsOnly {
    batches: Arc<Mutex<Vec<Vec<String>>>>,
}

impl Projection for ShowsOnly {
    fn name(&self) -> &'static str {
        "shows-only"
    }

    async fn apply_batch(
        &self,
        _conn: &mut AnyConnection,
        events: &[FeedEvent],
    ) -> Result<(), ProjectionError> {
        let types = events
            .iter()
            .map(|e| e.event.aggregate_type.clone())
            .collect();
        self.batches.lock().unwrap().push(types);
        Ok(())
    }

    fn wants(&self, event: &FeedEvent) -> bool {
        event.event.aggregate_type == "Show"
    }
}

async fn unwanted_events_are_passed_over_without_batches(url: String) {
    const UNWANTED: usize = 20;
    let store = open_store(&url).await;
    let projection = ShowsOnly::default();
    let projector = Projector::new(store.clone(), projection.clone());
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(Projector::new(store.clone(), projection.clone()).run(stopped));
    let mut log = Log::new(store.clone());

    // One seat event at a time, each seen by the process's feed reader
    // before the next: without skipping, each would be a batch of its own.
    let seat = "s_01JZ00000000000000000000AA/A-1";
    let reservation = ReservationId::generate();
    let started = std::time::Instant::now();
    for n in 0..UNWANTED {
        let event = if n % 2 == 0 {
            SeatEvent::SeatHeld {
                reservation: reservation.clone(),
                until: chrono::Utc::now(),
            }
        } else {
            SeatEvent::SeatReleased {
                reservation: reservation.clone(),
                reason: ReleaseReason::Released,
            }
        };
        log.append("Seat", seat, &[event]).await;
        let head = read_all(&store).await.last().unwrap().position;
        tokio::time::timeout(Duration::from_secs(10), store.feed_past(before(head)))
            .await
            .expect("the feed reader reads the append");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let skipping = started.elapsed();
    log.append(
        "Show",
        "s_01JZ00000000000000000000AA",
        &[ShowEvent::ShowCancelled {}],
    )
    .await;
    let head = read_all(&store).await.last().unwrap().position;

    // The Show event is applied…
    wait_for(|| {
        projection
            .batches
            .lock()
            .unwrap()
            .iter()
            .any(|batch| batch.iter().any(|t| t == "Show"))
    })
    .await;
    // …and the skipped events cost no batch but those the skip's age
    // limit forces: one per MAX_SKIP_AGE of skipping, and one more.
    let unwanted_batches = projection
        .batches
        .lock()
        .unwrap()
        .iter()
        .filter(|batch| !batch.iter().any(|t| t == "Show"))
        .count();
    let forced = 1 + (skipping.as_millis() / MAX_SKIP_AGE.as_millis()) as usize;
    assert!(
        unwanted_batches <= forced,
        "{unwanted_batches} batches held only unwanted events: {:?}",
        projection.batches.lock().unwrap()
    );
    // The checkpoint ends at the head: nothing is read twice after a restart.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while projector.checkpoint().await.unwrap() != head {
        assert!(tokio::time::Instant::now() < deadline, "checkpoint stuck");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.abort();
}

/// The position just before `head`, so `feed_past` waits for `head` itself.
fn before(head: ticketing_event_store::FeedPosition) -> ticketing_event_store::FeedPosition {
    ticketing_event_store::FeedPosition {
        tx: head.tx,
        seq: head.seq - 1,
    }
}

async fn wait_for(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwanted_events_are_passed_over_without_batches_on_postgres() {
    unwanted_events_are_passed_over_without_batches(fresh_postgres_url().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwanted_events_are_passed_over_without_batches_on_sqlite() {
    unwanted_events_are_passed_over_without_batches(fresh_sqlite_url()).await;
}
