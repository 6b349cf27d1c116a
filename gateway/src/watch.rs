//! `WatchSeatMap` streams: a show's seat map, then every change to one of its
//! seats, read from the global feed, each with a resume token (`tx.seq`).
//! Streams follow the process's one feed reader (`Store::follow_feed`), so
//! once caught up they read memory, not the database.
//!
//! Consistency. A new stream reads the seat-map projector's checkpoint P
//! (of the projector shard that keeps the show) *before* the read model,
//! and tails the feed after P. The projector commits
//! its rows with its checkpoint and checkpoints only move forward (a rebuild
//! swaps in a table folded at least as far), so the snapshot reflects every
//! event up to P, perhaps some after. Every Seat event after P is sent, so
//! none is missed; those the snapshot already shows arrive again, which is
//! harmless because a change carries the seat's new status, not a delta.
//! Starting from the feed head instead would lose the events between the
//! checkpoint and the head whenever the projector lags. A resumed stream
//! tails after the client's token, a position this stream handed out, so it
//! continues with the next change exactly once.
//!
//! Slow clients. Each stream has a task and a bounded channel with one slot
//! kept free for the last message. When the other slots are full, the task
//! waits up to [`SLOW_CLIENT_GRACE`] for the client to take some: a stream
//! reads the feed in batches of up to 256 events, and at thousands of
//! changes a second one batch can fill the buffer of a client that is
//! keeping up. A client that takes nothing for that long is too slow: the
//! task drops the change, queues `Resync` in the kept slot and ends. Only
//! the stream's own task ever waits, so neither the feed nor any other
//! stream waits on a client. The client reads what was buffered, then
//! `Resync`, and watches afresh.
//! A failed feed read or a server shutdown ends the stream the same way with
//! an UNAVAILABLE or INTERNAL status; the client resumes from its last token.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cqrs_es::Aggregate;
use ticketing_aggregates::{Seat, SeatEvent, ShowId};
use ticketing_event_store::{FeedEvent, FeedPosition, Store};
use ticketing_projections::{applied_through, ProjectionError, ReadModel, SeatMapStatus};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::seat_map_update::Kind;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::Instrument;

use crate::convert::seat_status;
use crate::quota::{WatchQuota, WatchSlot};
use crate::snapshots::Snapshots;
use crate::AppError;

/// The feed shard read (design.md §12: one shard today).
const SHARD: i32 = 0;
/// Feed events read per query.
const BATCH: usize = 256;
/// Messages buffered per client, the kept slot included.
const CAPACITY: usize = 256;
/// How long a stream whose buffer is full waits for its client to take a
/// change before it drops the stream with `Resync`.
const SLOW_CLIENT_GRACE: Duration = Duration::from_millis(250);
/// Open watches per process and per peer address, unless configured.
pub const DEFAULT_MAX_WATCHES: usize = 10_000;
pub const DEFAULT_WATCHES_PER_PEER: usize = 32;

type Update = Result<pb::SeatMapUpdate, Status>;

/// What `WatchSeatMap` answers with.
pub type UpdateStream = Pin<Box<dyn tokio_stream::Stream<Item = Update> + Send>>;

/// Starts seat-map streams on one store.
#[derive(Clone)]
pub struct Watcher {
    store: Store,
    /// Open watches, bounded per process and per peer.
    quota: Arc<WatchQuota>,
    /// Turns true when the server shuts down: every stream then ends, so
    /// the graceful shutdown, which waits for open calls, can finish.
    stopped: Option<watch::Receiver<bool>>,
    /// Recent snapshots, shared by the watches of a show (`snapshots.rs`).
    snapshots: Arc<Snapshots>,
}

impl Watcher {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            quota: WatchQuota::new(DEFAULT_MAX_WATCHES, DEFAULT_WATCHES_PER_PEER),
            stopped: None,
            snapshots: Arc::default(),
        }
    }

    /// At most `max` watches open in this process, `per_peer` from one
    /// address.
    pub fn bounded(mut self, max: usize, per_peer: usize) -> Self {
        self.quota = WatchQuota::new(max, per_peer);
        self
    }

    /// A place for one more watch from `peer`, or RESOURCE_EXHAUSTED.
    pub fn slot(&self, peer: Option<IpAddr>) -> Result<WatchSlot, AppError> {
        self.quota.acquire(peer)
    }

    pub fn stop_on(mut self, stopped: watch::Receiver<bool>) -> Self {
        self.stopped = Some(stopped);
        self
    }

    /// A stream that opens with the seat map `snapshot` resolves to, which
    /// is awaited only after the checkpoint is read (see the module doc);
    /// or with the show's snapshot another watch took within the last
    /// second (`snapshots.rs`), in which case `snapshot` is not awaited.
    pub async fn with_snapshot(
        &self,
        slot: WatchSlot,
        show_id: ShowId,
        snapshot: impl Future<Output = Result<pb::SeatMap, AppError>>,
    ) -> Result<UpdateStream, AppError> {
        let (from, seat_map) = self
            .snapshots
            .get(&show_id, || async {
                let from = applied_through(&self.store, ReadModel::SeatMap, Some(show_id.as_str()))
                    .await?;
                Ok((from, Arc::new(snapshot.await?)))
            })
            .await?;
        let first = Kind::Snapshot(pb::SeatMapSnapshot {
            seat_map: Some(Arc::unwrap_or_clone(seat_map)),
            position: position_token(from),
        });
        Ok(self.spawn(slot, show_id, from, Some(first)))
    }

    /// A stream of the changes after `after`, with no snapshot.
    pub fn resume(&self, slot: WatchSlot, show_id: ShowId, after: FeedPosition) -> UpdateStream {
        self.spawn(slot, show_id, after, None)
    }

    /// [`Watcher::resume`] when the process still keeps the feed after
    /// `after` in memory; else a fresh snapshot, as for a new watch, so an
    /// old (or made-up) position cannot make the server re-read the log.
    pub async fn resume_or_snapshot(
        &self,
        slot: WatchSlot,
        show_id: ShowId,
        after: FeedPosition,
        snapshot: impl Future<Output = Result<pb::SeatMap, AppError>>,
    ) -> Result<UpdateStream, AppError> {
        if self.store.feed_keeps(after) {
            Ok(self.resume(slot, show_id, after))
        } else {
            self.with_snapshot(slot, show_id, snapshot).await
        }
    }

    fn spawn(
        &self,
        slot: WatchSlot,
        show_id: ShowId,
        from: FeedPosition,
        first: Option<Kind>,
    ) -> UpdateStream {
        let (outbox, updates) = mpsc::channel(CAPACITY);
        if let Some(first) = first {
            // The channel is new and empty, so this cannot fail for room.
            let _ = outbox.try_send(Ok(update(first)));
        }
        let span = tracing::info_span!("watch_seat_map", show_id = %show_id, ?from);
        let task = tail(
            self.store.clone(),
            show_id,
            from,
            outbox,
            self.stopped.clone(),
        );
        tokio::spawn(
            async move {
                // The place is given back when the stream ends.
                let _slot = slot;
                task.await;
            }
            .instrument(span),
        );
        Box::pin(ReceiverStream::new(updates))
    }
}

/// The resume token of a feed position.
fn position_token(position: FeedPosition) -> String {
    format!("{}.{}", position.tx, position.seq)
}

/// Parses a token made by [`position_token`]; `field` names it in the error.
pub fn parse_position(field: &str, raw: &str) -> Result<FeedPosition, AppError> {
    let number = |part: &str| part.parse::<i64>().ok().filter(|n| *n >= 0);
    raw.split_once('.')
        .and_then(|(tx, seq)| {
            Some(FeedPosition {
                tx: number(tx)?,
                seq: number(seq)?,
            })
        })
        .ok_or_else(|| AppError::invalid(field, "not a position this stream handed out"))
}

/// Sends the show's seat changes after `from` through `outbox` until the
/// client leaves or falls behind, a feed read fails or the server stops.
async fn tail(
    store: Store,
    show_id: ShowId,
    mut from: FeedPosition,
    outbox: mpsc::Sender<Update>,
    mut stopped: Option<watch::Receiver<bool>>,
) {
    let prefix = format!("{show_id}/");
    let last = 'stream: loop {
        let batch = match store.follow_feed(SHARD, from, BATCH).await {
            Ok(batch) => batch,
            Err(err) => break Err(AppError::from(ProjectionError::from(err)).into()),
        };
        for event in &batch {
            let change = match seat_change(&prefix, event) {
                Ok(Some(change)) => change,
                Ok(None) => continue,
                Err(err) => break 'stream Err(err.into()),
            };
            // Only this task sends, so room can only grow after the check.
            if outbox.capacity() <= 1 && !room_within(&outbox, SLOW_CLIENT_GRACE).await {
                tracing::info!("client too slow; dropping its stream");
                break 'stream Ok(update(Kind::Resync(pb::Resync {
                    reason: "client too slow".into(),
                })));
            }
            if outbox.try_send(Ok(update(Kind::Change(change)))).is_err() {
                return;
            }
        }
        if let Some(last) = batch.last() {
            from = last.position;
        }
        if batch.len() < BATCH {
            tokio::select! {
                _ = store.feed_past(from) => {}
                _ = outbox.closed() => return,
                _ = stopping(&mut stopped) => {
                    break Err(AppError::Unavailable(
                        "the server is shutting down; resume from the last position".into(),
                    )
                    .into());
                }
            }
        }
    };
    // The kept slot holds this; fails only if the client has left.
    let _ = outbox.try_send(last);
}

/// Waits up to `grace` for room for a change beside the kept slot; false
/// if none came or the client has left.
async fn room_within(outbox: &mpsc::Sender<Update>, grace: Duration) -> bool {
    // The permits are given back unused when dropped: this only waits.
    matches!(
        tokio::time::timeout(grace, outbox.reserve_many(2)).await,
        Ok(Ok(_))
    )
}

/// Resolves when the server starts shutting down (or its signal is gone,
/// which happens only after shutdown); never without a signal.
async fn stopping(stopped: &mut Option<watch::Receiver<bool>>) {
    match stopped {
        Some(stopped) => {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
        None => std::future::pending().await,
    }
}

/// The change `event` makes to a seat of the show whose seat ids start with
/// `prefix`, or `None` for any other event.
fn seat_change(prefix: &str, event: &FeedEvent) -> Result<Option<pb::SeatChange>, AppError> {
    let stored = &event.event;
    if stored.aggregate_type != Seat::TYPE {
        return Ok(None);
    }
    let Some(label) = stored.aggregate_id.strip_prefix(prefix) else {
        return Ok(None);
    };
    let seat_event: SeatEvent =
        serde_json::from_value(stored.payload.clone()).map_err(|source| {
            AppError::internal(ProjectionError::Payload {
                global_seq: event.global_seq,
                event_type: stored.event_type.clone(),
                source,
            })
        })?;
    let status = match seat_event {
        SeatEvent::SeatHeld { .. } | SeatEvent::SeatHoldExtended { .. } => SeatMapStatus::Held,
        SeatEvent::SeatReleased { .. } => SeatMapStatus::Available,
        SeatEvent::SeatSold { .. } => SeatMapStatus::Sold,
    };
    Ok(Some(pb::SeatChange {
        label: label.to_owned(),
        status: seat_status(status) as i32,
        global_position: event.global_seq,
        position: position_token(event.position),
    }))
}

fn update(kind: Kind) -> pb::SeatMapUpdate {
    pb::SeatMapUpdate { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::DomainEvent;
    use ticketing_aggregates::{seat_id, ReservationId, SeatLabel};
    use ticketing_event_store::{testing::fresh_sqlite_url, NewEvent, StreamAppend};
    use tokio_stream::StreamExt;

    /// A store whose log holds a SeatHeld for seats `A-1..=A-{seats}` of
    /// `show`, then one for a seat of another show.
    async fn store_with_holds(show: &ShowId, seats: usize) -> Store {
        let store = Store::connect(&fresh_sqlite_url()).await.expect("store");
        store.migrate().await.expect("migrate");
        let seat = |show, i| seat_id(show, &SeatLabel::parse("l", &format!("A-{i}")).unwrap());
        let ids = (1..=seats).map(|i| seat(show, i));
        for id in ids.chain([seat(&ShowId::generate(), 1)]) {
            let held = SeatEvent::SeatHeld {
                reservation: ReservationId::generate(),
                until: chrono::Utc::now(),
            };
            let events = vec![NewEvent {
                event_type: held.event_type(),
                event_version: held.event_version(),
                payload: serde_json::to_value(&held).expect("json"),
                metadata: serde_json::json!({}),
            }];
            let append = StreamAppend {
                aggregate_type: Seat::TYPE.into(),
                aggregate_id: id,
                expected_sequence: 0,
                events,
            };
            store.append(&[append], None).await.expect("append");
        }
        store
    }

    /// The next `n` updates, which must be changes.
    async fn changes(stream: &mut UpdateStream, n: usize) -> Vec<pb::SeatChange> {
        let mut changes = Vec::new();
        for _ in 0..n {
            match stream.next().await.map(|u| u.expect("ok").kind) {
                Some(Some(Kind::Change(change))) => changes.push(change),
                other => panic!("expected a change, got {other:?}"),
            }
        }
        changes
    }

    fn labels(changes: &[pb::SeatChange]) -> Vec<&str> {
        changes.iter().map(|c| c.label.as_str()).collect()
    }

    /// A client that takes its changes a little slower than a burst
    /// comes gets every one of them: the stream waits for room.
    #[tokio::test]
    async fn a_client_slower_than_a_burst_but_within_the_grace_misses_nothing() {
        let show = ShowId::generate();
        let store = store_with_holds(&show, 10).await;
        let (outbox, updates) = mpsc::channel(4);
        let producer = tokio::spawn(tail(store, show, FeedPosition::START, outbox, None));
        let mut updates: UpdateStream = Box::pin(ReceiverStream::new(updates));
        let mut labels_seen = Vec::new();
        for _ in 0..10 {
            tokio::time::sleep(SLOW_CLIENT_GRACE / 10).await;
            match updates.next().await.map(|u| u.expect("ok").kind) {
                Some(Some(Kind::Change(change))) => labels_seen.push(change.label),
                other => panic!("expected a change, got {other:?}"),
            }
        }
        let expected: Vec<String> = (1..=10).map(|n| format!("A-{n}")).collect();
        assert_eq!(labels_seen, expected);
        producer.abort();
    }

    #[tokio::test]
    async fn a_client_that_never_reads_gets_resync_after_the_grace() {
        let show = ShowId::generate();
        let store = store_with_holds(&show, 10).await;
        let (outbox, updates) = mpsc::channel(4);
        let producer = tail(store, show, FeedPosition::START, outbox, None);
        tokio::time::timeout(Duration::from_secs(5), producer)
            .await
            .expect("the producer ends without the client reading, after the grace");

        let mut updates: UpdateStream = Box::pin(ReceiverStream::new(updates));
        assert_eq!(
            labels(&changes(&mut updates, 3).await),
            ["A-1", "A-2", "A-3"]
        );
        match updates.next().await.map(|u| u.expect("ok").kind) {
            Some(Some(Kind::Resync(resync))) => assert_eq!(resync.reason, "client too slow"),
            other => panic!("expected a resync, got {other:?}"),
        }
        assert!(
            updates.next().await.is_none(),
            "the stream ends after Resync"
        );
    }

    #[tokio::test]
    async fn a_stream_sends_its_shows_seats_resumes_after_a_token_and_ends_on_shutdown() {
        let show = ShowId::generate();
        let (stop, stopped) = watch::channel(false);
        let watcher = Watcher::new(store_with_holds(&show, 3).await).stop_on(stopped);

        let mut first = watcher.resume(
            watcher.slot(None).unwrap(),
            show.clone(),
            FeedPosition::START,
        );
        let sent = changes(&mut first, 3).await;
        assert_eq!(labels(&sent), ["A-1", "A-2", "A-3"]);
        assert!(sent.iter().all(|c| c.status == pb::SeatStatus::Held as i32));
        let after = parse_position("resume_after", &sent[0].position).expect("token");
        let mut resumed = watcher.resume(watcher.slot(None).unwrap(), show, after);
        assert_eq!(labels(&changes(&mut resumed, 2).await), ["A-2", "A-3"]);

        stop.send(true).expect("streams listen");
        for stream in [&mut first, &mut resumed] {
            let status = stream.next().await.expect("a last message").unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unavailable);
            assert!(stream.next().await.is_none());
        }
    }

    #[tokio::test]
    async fn a_position_the_process_no_longer_keeps_gets_a_fresh_snapshot() {
        let show = ShowId::generate();
        let store = store_with_holds(&show, 6).await.with_feed_window(4);
        let watcher = Watcher::new(store.clone());
        let snapshot = || async {
            Ok(pb::SeatMap {
                show_id: "fresh".into(),
                ..Default::default()
            })
        };
        // Before the window is placed nothing is kept; placed, it starts
        // at the log's head, after every hold above.
        assert!(!store.feed_keeps(FeedPosition::START));
        store
            .follow_feed(SHARD, FeedPosition::START, 100)
            .await
            .unwrap();
        let mut old = watcher
            .resume_or_snapshot(
                watcher.slot(None).unwrap(),
                show.clone(),
                FeedPosition::START,
                snapshot(),
            )
            .await
            .unwrap();
        match old.next().await.map(|u| u.expect("ok").kind) {
            Some(Some(Kind::Snapshot(s))) => {
                assert_eq!(s.seat_map.unwrap().show_id, "fresh");
            }
            other => panic!("expected a snapshot, got {other:?}"),
        }
    }
}
