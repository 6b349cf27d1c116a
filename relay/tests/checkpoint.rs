//! The checkpoint moves only after the publisher acknowledged: a publisher
//! that fails leaves it where it was and the backlog gauge counts what is
//! waiting; a working publisher that takes over delivers everything, and
//! the gauge drops to 0. On Postgres and SQLite, without a broker (a
//! recording publisher is the working one).

mod common;

use common::{purchase_flow, store, Recorder};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::FeedPosition;
use ticketing_relay::{IntegrationEvent, PublishError, Publisher, Relay};

/// Refuses every batch, as a broker that is down would.
#[derive(Default)]
struct Down {
    attempts: AtomicUsize,
}

impl Publisher for Down {
    async fn publish(&self, _: &[IntegrationEvent]) -> Result<(), PublishError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Err(PublishError::NotAcknowledged {
            topic: "reservation-created".into(),
            source: rdkafka::error::KafkaError::Canceled,
        })
    }
}

/// Every metric recorded since the last read (reading resets them), as
/// (name, topic label, value).
fn read(snapshotter: &Snapshotter) -> Vec<(String, Option<String>, DebugValue)> {
    let snapshot = snapshotter.snapshot().into_vec();
    snapshot
        .into_iter()
        .map(|(key, .., value)| {
            let key = key.key();
            let topic = key.labels().find(|l| l.key() == "topic");
            let topic = topic.map(|l| l.value().to_owned());
            (key.name().to_owned(), topic, value)
        })
        .collect()
}

fn value<'a>(
    metrics: &'a [(String, Option<String>, DebugValue)],
    name: &str,
) -> Vec<&'a DebugValue> {
    metrics
        .iter()
        .filter(|(n, ..)| n == name)
        .map(|(.., v)| v)
        .collect()
}

async fn a_failed_publish_keeps_the_checkpoint(url: String) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The relay's steps run on this test's thread (current-thread runtime).
    let _guard = metrics::set_default_local_recorder(&recorder);

    let store = store(url).await;
    let expected = purchase_flow(&store).await;
    let head = store.feed_head(0).await.unwrap();

    let down = std::sync::Arc::new(Down::default());
    let failing = Relay::new(store.clone(), down.clone());
    for _ in 0..3 {
        failing.step().await.expect_err("the publisher is down");
    }
    assert_eq!(
        down.attempts.load(Ordering::SeqCst),
        3,
        "the same batch, again"
    );
    assert_eq!(failing.checkpoint().await.unwrap(), FeedPosition::START);
    let metrics = read(&snapshotter);
    assert_eq!(
        value(&metrics, "ticketing_relay_backlog_events"),
        [&DebugValue::Gauge((head.seq as f64).into())],
        "the whole log waits"
    );
    let failures = value(&metrics, "ticketing_relay_failures_total");
    assert_eq!(failures, [&DebugValue::Counter(3)]);
    assert!(value(&metrics, "ticketing_relay_published_total").is_empty());

    let recorder = Arc::new(Recorder::default());
    let working = Relay::new(store.clone(), recorder.clone()).with_batch_size(5);
    assert_eq!(working.catch_up().await.unwrap(), head);
    expected.assert_delivered(&recorder.taken(), false);
    let metrics = read(&snapshotter);
    assert_eq!(
        value(&metrics, "ticketing_relay_backlog_events"),
        [&DebugValue::Gauge(0.0.into())],
        "drained"
    );
    let mut published: Vec<(&str, &DebugValue)> = metrics
        .iter()
        .filter(|(name, ..)| name == "ticketing_relay_published_total")
        .map(|(_, topic, v)| (topic.as_deref().unwrap_or_default(), v))
        .collect();
    published.sort_by_key(|(topic, _)| *topic);
    let counts = [
        ("order-paid", 1),
        ("payment-failed", 1),
        ("payment-succeeded", 1),
        ("reservation-created", 3),
        ("reservation-expired", 1),
        ("reservation-released", 1),
    ]
    .map(|(topic, n)| (topic, DebugValue::Counter(n)));
    let counts: Vec<(&str, &DebugValue)> = counts.iter().map(|(t, v)| (*t, v)).collect();
    assert_eq!(published, counts, "published per topic");
}

#[tokio::test]
async fn a_failed_publish_keeps_the_checkpoint_on_postgres() {
    a_failed_publish_keeps_the_checkpoint(fresh_postgres_url().await).await;
}

#[tokio::test]
async fn a_failed_publish_keeps_the_checkpoint_on_sqlite() {
    a_failed_publish_keeps_the_checkpoint(fresh_sqlite_url()).await;
}

#[tokio::test]
async fn two_relays_on_postgres_never_publish_one_batch_twice() {
    let store = store(fresh_postgres_url().await).await;
    let expected = purchase_flow(&store).await;
    let recorder = Arc::new(Recorder::default());
    let one = Relay::new(store.clone(), recorder.clone()).with_batch_size(2);
    let two = Relay::new(store.clone(), recorder.clone()).with_batch_size(2);
    let (a, b) = tokio::join!(one.catch_up(), two.catch_up());
    assert_eq!(a.unwrap(), b.unwrap());
    expected.assert_delivered(&recorder.taken(), false);
}
