//! [`Tail`]: the one reader of the global feed in a process. Projectors,
//! relays, workers and seat-map streams all follow the same feed; instead of
//! each reading it from the database after every wake-up, they read the
//! tail's window of recent events from memory.
//!
//! **Why the window is the feed.** The window holds every feed event after
//! its `base` up to its `head`, with nothing missing: it is only ever
//! extended by reading the database's feed after its own head, so its
//! events are exactly what [`Adapter::read_feed`] chained from `base` would
//! return, and the store's proof that the feed skips nothing carries over.
//! Eviction drops events from the front and moves `base` up to the last one
//! dropped, as many as keep the window within its count and its byte
//! budget; an event bigger than the whole budget is never kept: the window
//! restarts right after it. A read after a position at or past `base` is therefore
//! answered from the window; a read before it (a catch-up, a rebuild, an
//! old resume token) goes to the database, which is always right.
//!
//! **Freshness.** A window can lag the database. A fresh read
//! ([`FeedRead::Fresh`]) at the window's head refreshes it, but only with a
//! database read that *began after the call did*: one already under way
//! may have started before the caller's own commit. Concurrent fresh reads
//! share one such refresh. A follower ([`FeedRead::Follow`]) takes what the window
//! has and waits on the head ([`Tail::past`]); a task, started with the
//! first read, refreshes on every feed wake-up and on an idle timer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::store::Adapter;
use crate::{FeedEvent, FeedPosition, FeedRead, StoreError};

/// Events the window keeps: some seconds of a busy on-sale, so that every
/// follower in the process reads from memory unless it falls that far
/// behind (then it reads the database until it catches up).
const CAPACITY: usize = 8_192;

/// Events one database read of a refresh asks for.
const REFRESH_BATCH: usize = 1_024;

/// How often the reader task refreshes without a wake-up: wake-ups can be
/// missed, and a transaction that writes no events can hold the feed back
/// without announcing that it ended.
const IDLE_POLL: Duration = Duration::from_millis(250);

pub(crate) struct Tail {
    /// Events the window keeps ([`CAPACITY`] but in tests).
    capacity: usize,
    /// Bytes they may weigh ([`BUDGET_BYTES`] but in tests).
    budget: usize,
    window: Mutex<Window>,
    /// The window's head, for followers to wait on; `None` until the first
    /// refresh placed the window.
    head: watch::Sender<Option<FeedPosition>>,
    /// Held while the database is read, so refreshes run one at a time.
    refreshing: tokio::sync::Mutex<()>,
    /// Refreshes begun, and the number of the last one that succeeded.
    begun: AtomicU64,
    done: AtomicU64,
    reader: OnceLock<()>,
}

impl Default for Tail {
    fn default() -> Self {
        Tail::with_capacity(CAPACITY)
    }
}

impl Tail {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Tail {
            capacity: capacity.max(1),
            budget: BUDGET_BYTES,
            window: Mutex::new(Window::default()),
            head: watch::channel(None).0,
            refreshing: tokio::sync::Mutex::new(()),
            begun: AtomicU64::new(0),
            done: AtomicU64::new(0),
            reader: OnceLock::new(),
        }
    }
}

/// Events after `base` up to `head`, contiguous in feed order; `placed` is
/// false until the first refresh set `base` at the database's feed head.
/// `bytes` is the estimated size of the kept events ([`weight`]).
#[derive(Default)]
struct Window {
    placed: bool,
    base: FeedPosition,
    head: FeedPosition,
    events: VecDeque<(FeedEvent, usize)>,
    bytes: usize,
}

/// What the window can say about a read after some position.
enum Answer {
    Events(Vec<FeedEvent>),
    /// The position is before the window: only the database knows.
    Before,
    /// Not placed yet.
    Unplaced,
}

/// What the window knows of events of some types after a follower's
/// checkpoint and below a bound ([`Tail::seen_of`]).
pub(crate) enum Seen {
    /// One of them is in the window.
    Pending,
    /// None after the checkpoint up to this position (the window's head):
    /// the window holds every event up to it.
    Clear(FeedPosition),
    /// The checkpoint is before the window, or the window is not placed:
    /// only the database knows.
    Unknown,
}

impl Window {
    fn seen_of(&self, types: &[&str], after: FeedPosition, bound: FeedPosition) -> Seen {
        if !self.placed || after < self.base {
            return Seen::Unknown;
        }
        let start = self.events.partition_point(|(e, _)| e.position <= after);
        let pending = self
            .events
            .range(start..)
            .take_while(|(e, _)| e.position < bound)
            .any(|(e, _)| types.contains(&e.event.aggregate_type.as_str()));
        if pending {
            Seen::Pending
        } else {
            Seen::Clear(self.head)
        }
    }

    fn after(&self, after: FeedPosition, limit: usize) -> Answer {
        if !self.placed {
            return Answer::Unplaced;
        }
        if after < self.base {
            return Answer::Before;
        }
        let start = self.events.partition_point(|(e, _)| e.position <= after);
        Answer::Events(
            self.events
                .range(start..)
                .take(limit)
                .map(|(e, _)| e.clone())
                .collect(),
        )
    }

    /// Appends `events`, then drops the oldest until at most `capacity`
    /// events of at most `budget` bytes are kept.
    fn extend(&mut self, events: Vec<FeedEvent>, capacity: usize, budget: usize) {
        for event in events {
            debug_assert!(event.position > self.head, "the feed moves forward");
            self.head = event.position;
            let bytes = weight(&event.event.payload, budget).saturating_add(EVENT_BYTES);
            if bytes > budget {
                // Too big to keep at all. The window restarts after it, and
                // followers before it read the database, as they would for
                // any evicted event.
                self.events.clear();
                self.bytes = 0;
                self.base = event.position;
                continue;
            }
            self.bytes += bytes;
            self.events.push_back((event, bytes));
        }
        while self.events.len() > capacity || self.bytes > budget {
            if let Some((dropped, bytes)) = self.events.pop_front() {
                self.base = dropped.position;
                self.bytes -= bytes;
            }
        }
    }
}

/// What the kept events may weigh: a ShowScheduled of the largest plan
/// (100,000 seats) fits beside a full window of ordinary events, so the
/// followers of a process share one parsed copy of it instead of each
/// reading and parsing its own.
const BUDGET_BYTES: usize = 48 << 20;

/// An event's fixed part (ids, metadata, the feed position), estimated.
const EVENT_BYTES: usize = 512;

/// The heap a parsed `payload` takes, estimated from serde_json's layout
/// (a `Value` is 32 bytes; an object is a B-tree of up to 11 entries per
/// node); stops counting past `cap`, so the estimate costs little whatever
/// the payload.
fn weight(payload: &serde_json::Value, cap: usize) -> usize {
    use serde_json::Value;
    const VALUE: usize = 32;
    const NODE: usize = 11 * (24 + VALUE) + 16;
    let mut pending = vec![payload];
    let mut total = 0usize;
    while let Some(value) = pending.pop() {
        total += VALUE;
        match value {
            Value::String(text) => total += text.len(),
            Value::Array(items) => pending.extend(items),
            Value::Object(fields) => {
                total += NODE * fields.len().div_ceil(11);
                total += fields.keys().map(String::len).sum::<usize>();
                pending.extend(fields.values());
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        if total > cap {
            return total;
        }
    }
    total
}

impl Tail {
    /// Whether the window holds every event after `after`, so a follower
    /// from there reads memory, not the database.
    pub(crate) fn keeps(&self, after: FeedPosition) -> bool {
        let window = self.window();
        window.placed && after >= window.base
    }

    pub(crate) async fn read(
        self: &Arc<Self>,
        adapter: &Adapter,
        after: FeedPosition,
        limit: usize,
        how: FeedRead,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        self.start_reader(adapter);
        // Taken before looking: a refresh numbered above it began after
        // this call did.
        let ticket = self.begun.load(Ordering::SeqCst);
        // Bound first: a guard in the match would live across its awaits.
        let answer = self.window().after(after, limit);
        match answer {
            Answer::Before if how == FeedRead::Memory => return Ok(Vec::new()),
            Answer::Before => return adapter.read_feed(after, limit, None).await,
            Answer::Events(events) if !events.is_empty() || how != FeedRead::Fresh => {
                return Ok(events)
            }
            Answer::Events(_) | Answer::Unplaced => {}
        }
        self.refresh_since(adapter, ticket).await?;
        let answer = self.window().after(after, limit);
        match answer {
            Answer::Events(events) => Ok(events),
            Answer::Before | Answer::Unplaced if how == FeedRead::Memory => Ok(Vec::new()),
            Answer::Before | Answer::Unplaced => adapter.read_feed(after, limit, None).await,
        }
    }

    /// Resolves once the window's head is past `after`.
    pub(crate) async fn past(self: &Arc<Self>, adapter: &Adapter, after: FeedPosition) {
        self.start_reader(adapter);
        let mut head = self.head.subscribe();
        // The sender lives in `self`, so the channel cannot close here.
        let _ = head.wait_for(|head| head.is_some_and(|h| h > after)).await;
    }

    /// Whether an event of `types` lies after `after` and below `bound`,
    /// as far as the window can tell: read-your-writes asks it before the
    /// database, so a read model whose checkpoint trails behind events it
    /// does not read (a [`crate::Skip`]) costs no scan of them. At most
    /// the window's [`CAPACITY`] events are looked at.
    pub(crate) fn seen_of(&self, types: &[&str], after: FeedPosition, bound: FeedPosition) -> Seen {
        self.window().seen_of(types, after, bound)
    }

    fn window(&self) -> MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes sure a refresh that began after `ticket` was taken has
    /// succeeded: waits for one under way to end, then runs one unless a
    /// later one already did.
    async fn refresh_since(&self, adapter: &Adapter, ticket: u64) -> Result<(), StoreError> {
        let _only = self.refreshing.lock().await;
        if self.done.load(Ordering::SeqCst) > ticket {
            return Ok(());
        }
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        self.refresh(adapter).await?;
        self.done.store(number, Ordering::SeqCst);
        Ok(())
    }

    /// Reads the database's feed after the window's head, up to the
    /// window's capacity. Runs under `refreshing`, so no other refresh
    /// extends the window meanwhile.
    async fn refresh(&self, adapter: &Adapter) -> Result<(), StoreError> {
        let placed = self.window().placed;
        if !placed {
            let head = adapter.feed_head().await?;
            let mut window = self.window();
            window.placed = true;
            window.base = head;
            window.head = head;
        }
        let mut read = 0;
        while read < self.capacity {
            let from = self.window().head;
            let batch = adapter.read_feed(from, REFRESH_BATCH, None).await?;
            let full = batch.len() == REFRESH_BATCH;
            read += batch.len();
            let head = {
                let mut window = self.window();
                window.extend(batch, self.capacity, self.budget);
                window.head
            };
            self.head.send_if_modified(|known| {
                let moved = *known != Some(head);
                *known = Some(head);
                moved
            });
            if !full {
                break;
            }
        }
        Ok(())
    }

    /// Starts, once, the task that refreshes on wake-ups and on a timer. It
    /// holds the tail weakly and ends within [`IDLE_POLL`] of the last store
    /// handle being dropped.
    fn start_reader(self: &Arc<Self>, adapter: &Adapter) {
        self.reader.get_or_init(|| {
            let tail = Arc::downgrade(self);
            tokio::spawn(follow(tail, adapter.clone()));
        });
    }
}

async fn follow(tail: Weak<Tail>, adapter: Adapter) {
    let mut waker = adapter.waker().subscribe();
    let mut backoff = IDLE_POLL;
    loop {
        let Some(strong) = tail.upgrade() else { return };
        // Seen before reading: a wake-up during the read reads again.
        waker.borrow_and_update();
        let ticket = strong.begun.load(Ordering::SeqCst);
        let pause = match strong.refresh_since(&adapter, ticket).await {
            Ok(()) => {
                backoff = IDLE_POLL;
                IDLE_POLL
            }
            Err(error) => {
                tracing::warn!(%error, "reading the event feed failed; retrying");
                backoff = (backoff * 2).min(Duration::from_secs(5));
                backoff
            }
        };
        drop(strong);
        tokio::select! {
            changed = waker.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SerializedEvent;
    use serde_json::json;

    fn event(seq: i64, payload: serde_json::Value) -> FeedEvent {
        FeedEvent {
            position: FeedPosition { tx: 0, seq },
            global_seq: seq,
            recorded_at: chrono::Utc::now(),
            event: Arc::new(SerializedEvent::new(
                format!("s{seq}"),
                1,
                "Seat".into(),
                "SeatHeld".into(),
                "1".into(),
                payload,
                json!({}),
            )),
        }
    }

    fn seqs(answer: Answer) -> Option<Vec<i64>> {
        match answer {
            Answer::Events(events) => Some(events.iter().map(|e| e.position.seq).collect()),
            Answer::Before | Answer::Unplaced => None,
        }
    }

    fn placed() -> Window {
        Window {
            placed: true,
            ..Window::default()
        }
    }

    /// Read-your-writes' look at the window: an event of the types below
    /// the bound is pending; none up to the head is clear that far; a
    /// checkpoint before the window is the database's to answer.
    #[test]
    fn the_window_tells_whether_events_of_some_types_lie_below_a_bound() {
        let at = |seq| FeedPosition { tx: 0, seq };
        let mut window = placed();
        window.base = at(10);
        let mut show = event(14, json!({}));
        Arc::make_mut(&mut show.event).aggregate_type = "Show".into();
        let events = (11..=13).map(|n| event(n, json!({})));
        let events = events
            .chain([show])
            .chain((15..=16).map(|n| event(n, json!({}))));
        window.extend(events.collect(), 100, BUDGET_BYTES);

        let shows = &["Show"][..];
        assert!(matches!(
            window.seen_of(shows, at(10), at(15)),
            Seen::Pending
        ));
        assert!(matches!(
            window.seen_of(shows, at(13), at(20)),
            Seen::Pending
        ));
        // The bound is exclusive, and the checkpoint is past what it applied.
        assert!(matches!(window.seen_of(shows, at(10), at(14)), Seen::Clear(h) if h == at(16)));
        assert!(matches!(window.seen_of(shows, at(14), at(20)), Seen::Clear(h) if h == at(16)));
        assert!(matches!(
            window.seen_of(&["Order"], at(10), at(20)),
            Seen::Clear(_)
        ));
        assert!(matches!(
            window.seen_of(shows, at(9), at(20)),
            Seen::Unknown
        ));
        assert!(matches!(
            Window::default().seen_of(shows, at(10), at(20)),
            Seen::Unknown
        ));
    }

    #[test]
    fn eviction_moves_the_base_so_older_reads_go_to_the_database() {
        let mut window = placed();
        window.extend(
            (1..=5).map(|n| event(n, json!({}))).collect(),
            3,
            BUDGET_BYTES,
        );
        assert_eq!(window.base, FeedPosition { tx: 0, seq: 2 });
        assert_eq!(
            seqs(window.after(FeedPosition { tx: 0, seq: 2 }, 10)),
            Some(vec![3, 4, 5])
        );
        assert_eq!(
            seqs(window.after(FeedPosition { tx: 0, seq: 3 }, 1)),
            Some(vec![4])
        );
        assert!(matches!(
            window.after(FeedPosition { tx: 0, seq: 1 }, 10),
            Answer::Before
        ));
    }

    /// A payload of `seats` objects shaped like a seating plan's seats.
    fn plan(seats: usize) -> serde_json::Value {
        let seats: Vec<_> = (0..seats)
            .map(|n| json!({ "label": format!("A{n}"), "price_minor": 5000 }))
            .collect();
        json!({ "ShowScheduled": { "plan": { "sections": [{ "name": "A", "rows": [{ "name": "1", "seats": seats }] }] } } })
    }

    #[test]
    fn an_event_over_the_whole_budget_is_not_kept_and_the_window_restarts_after_it() {
        let budget = weight(&plan(100), usize::MAX);
        let mut window = placed();
        window.extend(
            vec![
                event(1, json!({})),
                event(2, plan(100)),
                event(3, json!({})),
            ],
            10,
            budget,
        );
        assert_eq!(window.head, FeedPosition { tx: 0, seq: 3 });
        assert_eq!(
            seqs(window.after(FeedPosition { tx: 0, seq: 2 }, 10)),
            Some(vec![3])
        );
        assert!(matches!(
            window.after(FeedPosition { tx: 0, seq: 1 }, 10),
            Answer::Before
        ));
    }

    #[test]
    fn the_byte_budget_evicts_the_oldest_events_and_moves_the_base() {
        let each = weight(&plan(100), usize::MAX) + EVENT_BYTES;
        let mut window = placed();
        window.extend((1..=4).map(|n| event(n, plan(100))).collect(), 10, 2 * each);
        assert_eq!(window.bytes, 2 * each);
        assert_eq!(window.base, FeedPosition { tx: 0, seq: 2 });
        assert_eq!(
            seqs(window.after(FeedPosition { tx: 0, seq: 2 }, 10)),
            Some(vec![3, 4])
        );
    }

    #[test]
    fn the_weight_grows_with_the_payload_and_stops_counting_past_the_cap() {
        let small = weight(&plan(10), usize::MAX);
        let large = weight(&plan(1_000), usize::MAX);
        assert!(large > 50 * small, "{small} vs {large}");
        // Stops soon after the cap: one value past it at most.
        assert!(weight(&plan(1_000), 1_000) < 2_000);
    }
}
