//! The global feed under concurrent writers: every event exactly once, each
//! stream in sequence order, stable across re-reads and resumable from a
//! checkpoint; and the waker that tells readers to look.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use ticketing_event_store::{
    Backend, FeedEvent, FeedPosition, Skip, Store, StoreError, StreamAppend,
};

use crate::support::{open, seat_append, Seat};

const WRITERS: usize = 8;
const BATCHES: usize = 50;
const STREAMS: usize = 12;

type Key = (String, String, usize);

fn key(e: &FeedEvent) -> Key {
    (
        e.event.aggregate_type.clone(),
        e.event.aggregate_id.clone(),
        e.event.sequence,
    )
}

/// Appends `BATCHES` batches of 1–3 shared streams, reloading and retrying
/// on conflict; some batches keep their transaction open a while so commits
/// land out of transaction-id order. Returns the keys it wrote.
async fn write(store: Store, writer: usize) -> Vec<Key> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(writer as u64);
    let mut known: HashMap<String, usize> = HashMap::new();
    let mut written = Vec::new();
    for batch in 0..BATCHES {
        let mut ids: Vec<String> = (0..rng.gen_range(1..=3))
            .map(|_| format!("seat-{}", rng.gen_range(0..STREAMS)))
            .collect();
        ids.sort();
        ids.dedup();
        let hold = writer.is_multiple_of(2) && batch.is_multiple_of(5);
        loop {
            let mut appends: Vec<StreamAppend> = Vec::new();
            for id in &ids {
                let seen = known.entry(id.clone()).or_default();
                *seen += store.load::<Seat>(id, *seen).await.expect("load").len();
                appends.push(seat_append(id, *seen, batch, rng.gen_range(1..=2)));
            }
            let result = if hold {
                store
                    .append_holding_open(&appends, &[], Duration::from_millis(50))
                    .await
            } else {
                store.append(&appends, None).await
            };
            match result {
                Ok(()) => {
                    for a in &appends {
                        for sequence in
                            a.expected_sequence + 1..=a.expected_sequence + a.events.len()
                        {
                            written.push((
                                a.aggregate_type.clone(),
                                a.aggregate_id.clone(),
                                sequence,
                            ));
                        }
                    }
                    break;
                }
                Err(StoreError::Conflict) => continue,
                Err(err) => panic!("writer {writer}: {err}"),
            }
        }
    }
    written
}

/// Reads everything after `from` in pages of `limit`.
async fn read_all(store: &Store, from: FeedPosition, limit: usize) -> Vec<FeedEvent> {
    let mut cursor = from;
    let mut all = Vec::new();
    loop {
        let page = store.read_feed(0, cursor, limit).await.expect("read feed");
        let Some(last) = page.last() else { return all };
        cursor = last.position;
        all.extend(page);
    }
}

pub async fn feed_delivers_every_event_once_in_commit_order(url: String) {
    let store = open(&url).await;
    let target = Arc::new(AtomicUsize::new(usize::MAX));
    let checkpoint: Arc<Mutex<Option<(FeedPosition, usize)>>> = Arc::default();

    // The tailing reader: pages of 7, woken by the feed waker or a timer,
    // until it has seen as many events as the writers wrote.
    let reader = {
        let (store, target, checkpoint) = (store.clone(), target.clone(), checkpoint.clone());
        tokio::spawn(async move {
            let mut waker = store.feed_waker();
            let mut cursor = FeedPosition::START;
            let mut seen: Vec<FeedEvent> = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while seen.len() < target.load(Ordering::SeqCst) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "feed stalled at {}",
                    seen.len()
                );
                let page = store.read_feed(0, cursor, 7).await.expect("read feed");
                match page.last() {
                    Some(last) => cursor = last.position,
                    None => {
                        let _ =
                            tokio::time::timeout(Duration::from_millis(20), waker.changed()).await;
                    }
                }
                seen.extend(page);
                let mut checkpoint = checkpoint.lock().expect("checkpoint");
                if checkpoint.is_none() && seen.len() >= 100 {
                    *checkpoint = Some((cursor, seen.len()));
                }
            }
            seen
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(write(store.clone(), w)))
        .collect();
    let mut written = Vec::new();
    for w in writers {
        written.extend(w.await.expect("writer"));
    }
    target.store(written.len(), Ordering::SeqCst);
    let seen = reader.await.expect("reader");

    let seen_keys: Vec<Key> = seen.iter().map(key).collect();
    let unique: HashSet<&Key> = seen_keys.iter().collect();
    assert_eq!(
        unique.len(),
        seen_keys.len(),
        "an event was delivered twice"
    );
    assert_eq!(
        unique,
        written.iter().collect::<HashSet<_>>(),
        "feed differs from what was written"
    );
    assert!(
        seen.windows(2).all(|w| w[0].position < w[1].position),
        "positions must rise"
    );

    let mut last_sequence: HashMap<&str, usize> = HashMap::new();
    for e in &seen {
        let last = last_sequence.entry(&e.event.aggregate_id).or_default();
        assert_eq!(
            e.event.sequence,
            *last + 1,
            "stream {} out of order",
            e.event.aggregate_id
        );
        *last = e.event.sequence;
    }

    let (from, index) = checkpoint
        .lock()
        .expect("checkpoint")
        .expect("checkpoint taken");
    let resumed: Vec<Key> = read_all(&store, from, 50).await.iter().map(key).collect();
    assert_eq!(
        resumed,
        seen_keys[index..],
        "resuming from a checkpoint must give the suffix"
    );

    let first = read_all(&store, FeedPosition::START, 100).await;
    let second = read_all(&store, FeedPosition::START, 33).await;
    assert_eq!(first, second, "re-reads must agree");
    assert_eq!(
        first.iter().map(key).collect::<Vec<_>>(),
        seen_keys,
        "tailing order is the final order"
    );
    let head = store.feed_head(0).await.expect("head");
    assert_eq!(Some(head), seen.last().map(|e| e.position));
}

pub async fn feed_waker_changes_after_append(url: String) {
    let store = open(&url).await;
    assert_eq!(store.feed_head(0).await.expect("head"), FeedPosition::START);
    let mut waker = store.feed_waker();
    waker.borrow_and_update();
    store
        .append(&[seat_append("w", 0, 1, 1)], None)
        .await
        .expect("append");
    tokio::time::timeout(Duration::from_secs(5), waker.changed())
        .await
        .expect("waker changes after a local append")
        .expect("waker open");

    if store.backend() == Backend::Postgres {
        let other = open(&url).await;
        waker.borrow_and_update();
        other
            .append(&[seat_append("w", 1, 2, 1)], None)
            .await
            .expect("append");
        tokio::time::timeout(Duration::from_secs(5), waker.changed())
            .await
            .expect("waker changes after another handle's append (NOTIFY)")
            .expect("waker open");
    }
}

/// Followers of the process's feed reader (`follow_feed` + `feed_past`)
/// through a window of 16 events, so they keep falling behind it and
/// reading the database, while writers commit out of transaction-id order:
/// each sees exactly the feed a plain reader sees afterwards.
pub async fn followers_see_the_whole_feed_through_a_small_window(url: String) {
    const FOLLOWERS: usize = 3;
    let store = open(&url).await.with_feed_window(16);
    let target = Arc::new(AtomicUsize::new(usize::MAX));
    let followers: Vec<_> = (0..FOLLOWERS)
        .map(|f| {
            let (store, target) = (store.clone(), target.clone());
            tokio::spawn(async move {
                let mut cursor = FeedPosition::START;
                let mut seen: Vec<FeedEvent> = Vec::new();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                while seen.len() < target.load(Ordering::SeqCst) {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "follower {f} stalled at {}",
                        seen.len()
                    );
                    let page = store
                        .follow_feed(0, cursor, 3 + f * 4)
                        .await
                        .expect("follow");
                    match page.last() {
                        Some(last) => cursor = last.position,
                        None => {
                            let _ = tokio::time::timeout(
                                Duration::from_millis(500),
                                store.feed_past(cursor),
                            )
                            .await;
                        }
                    }
                    seen.extend(page);
                }
                seen
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(write(store.clone(), w)))
        .collect();
    let mut written = 0;
    for w in writers {
        written += w.await.expect("writer").len();
    }
    target.store(written, Ordering::SeqCst);

    // A handle of its own reads the log from the database, once the feed
    // shows every committed event: a transaction still open elsewhere in
    // the cluster (another test's) holds back the feed's horizon for a
    // moment.
    let plain = open(&url).await;
    ticketing_event_store::testing::settle_feed(&plain).await;
    let feed: Vec<Key> = read_all(&plain, FeedPosition::START, 100)
        .await
        .iter()
        .map(key)
        .collect();
    assert_eq!(feed.len(), written);
    for follower in followers {
        let seen: Vec<Key> = follower.await.expect("follower").iter().map(key).collect();
        assert_eq!(seen, feed, "a follower saw a different feed");
    }
}

/// `skip_unwanted` passes over the events a follower refuses, from memory,
/// and stops before the first one it wants; with nothing new it returns
/// after the idle wait, keeping what it passed.
pub async fn skip_passes_over_unwanted_events_and_stops_at_a_wanted_one(url: String) {
    let store = open(&url).await;
    store
        .append(&[seat_append("seat-0", 0, 0, 1)], None)
        .await
        .expect("first");
    ticketing_event_store::testing::settle_feed(&store).await;
    let start = read_all(&store, FeedPosition::START, 10).await[0].position;
    for n in 1..=5 {
        store
            .append(&[seat_append("seat-1", n - 1, n, 1)], None)
            .await
            .expect("unwanted");
    }
    ticketing_event_store::testing::settle_feed(&store).await;
    let feed = read_all(&store, start, 10).await;
    assert_eq!(feed.len(), 5);
    let wanted = |e: &FeedEvent| e.event.aggregate_id == "seat-2";

    let mut skip = Skip::at(start);
    let idle = Duration::from_millis(200);
    let waited = tokio::time::Instant::now();
    store.skip_unwanted(&mut skip, 2, idle, wanted).await;
    assert!(waited.elapsed() >= idle, "returned before going idle");
    assert_eq!(skip.position(), feed[4].position, "all five passed over");
    assert_eq!(skip.resume(start), feed[4].position);

    store
        .append(
            &[
                seat_append("seat-1", 5, 6, 1),
                seat_append("seat-2", 0, 7, 1),
            ],
            None,
        )
        .await
        .expect("wanted");
    let passed = skip.position();
    tokio::time::timeout(
        Duration::from_secs(10),
        store.skip_unwanted(&mut skip, 10, Duration::from_secs(60), wanted),
    )
    .await
    .expect("returns as soon as a wanted event is there");
    assert_eq!(
        skip.position(),
        passed,
        "a batch holding a wanted event is left for the step to read"
    );
    ticketing_event_store::testing::settle_feed(&store).await;
    let next = read_all(&store, skip.position(), 10).await;
    assert!(next.iter().any(wanted), "{next:?}");
}

/// `read_feed_of` under concurrent writers, some holding their transaction
/// open: read in small pages while they write, it delivers every event of
/// the asked types exactly once, in feed order, and none of the others;
/// and once it answers nothing, the head taken before that read is past
/// every event of the log.
pub async fn a_feed_of_some_types_delivers_each_of_them_once(url: String) {
    let store = open(&url).await;
    let other = |mut append: StreamAppend| {
        append.aggregate_type = "Other".into();
        append
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..20 {
                    let seat = seat_append(&format!("seat-{w}"), n, n, 1);
                    let mine = other(seat_append(&format!("other-{w}"), n, n, 1));
                    let both = [seat, mine];
                    let appended = if (w + n) % 5 == 0 {
                        let held = Duration::from_millis(30);
                        store.append_holding_open(&both, &[], held).await
                    } else {
                        store
                            .append(&both[n % 2..n % 2 + 1], None)
                            .await
                            .and(store.append(&both[1 - n % 2..2 - n % 2], None).await)
                    };
                    appended.expect("append");
                }
            })
        })
        .collect();
    let mut read = Vec::new();
    let mut after = FeedPosition::START;
    let mut drained = false;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let head = store.feed_head(0).await.expect("head");
        let page = store
            .read_feed_of(&["Other"], after, 3)
            .await
            .expect("read");
        match page.last() {
            Some(last) => {
                after = last.position;
                read.extend(page);
            }
            // Finished writers leave nothing in flight once settled.
            None if done && drained => {
                let all = read_all(&store, FeedPosition::START, 100).await;
                assert!(all.iter().all(|e| e.position <= head), "head is last");
                break;
            }
            None if done => {
                ticketing_event_store::testing::settle_feed(&store).await;
                drained = true;
            }
            None => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    assert!(read.iter().all(|e| e.event.aggregate_type == "Other"));
    let keys: Vec<Key> = read.iter().map(key).collect();
    let unique: HashSet<&Key> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "an event read twice");
    assert_eq!(keys.len(), 4 * 20, "every event of the type, once");
    let positions: Vec<FeedPosition> = read.iter().map(|e| e.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "feed order");
    let all = read_all(&store, FeedPosition::START, 100).await;
    let expected: Vec<Key> = all
        .iter()
        .filter(|e| e.event.aggregate_type == "Other")
        .map(key)
        .collect();
    assert_eq!(
        keys, expected,
        "the same events in the same order as the feed"
    );
}
