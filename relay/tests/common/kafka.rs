//! Topics of a test's own on the test broker
//! (`ticketing_bus::testing::kafka_brokers`), and a consumer that reads them
//! from the start.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use std::time::Duration;
use ticketing_relay::{Envelope, TOPICS};

/// A consumer of every topic under `prefix` from the start, in a group of
/// its own, with `options` (librdkafka settings, e.g. SASL) added.
pub fn consumer(brokers: &str, prefix: &str, options: &[(&str, &str)]) -> StreamConsumer {
    let mut config = ClientConfig::new();
    for (key, value) in options {
        config.set(*key, *value);
    }
    let consumer: StreamConsumer = config
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{prefix}test"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("consumer");
    let topics: Vec<String> = TOPICS
        .iter()
        .map(|t| format!("{prefix}{}", t.name))
        .collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).expect("subscribe");
    consumer
}

/// Reads until every id of `want` arrived, then until `quiet` passes
/// without a message; returns each arrived envelope id (repeats
/// included). Panics with the missing ids after `patience`.
pub async fn consume_ids(
    consumer: &StreamConsumer,
    want: &std::collections::BTreeSet<i64>,
    quiet: Duration,
    patience: Duration,
) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut seen = Vec::new();
    let mut missing = want.clone();
    loop {
        let wait = if missing.is_empty() {
            quiet
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, consumer.recv()).await {
            Err(_) if missing.is_empty() => return seen,
            Err(_) => panic!("{} ids never arrived: {missing:?}", missing.len()),
            Ok(Err(error)) => {
                // A broker that is coming back: librdkafka reconnects.
                eprintln!("consume: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(Ok(message)) => {
                let envelope: Envelope =
                    serde_json::from_slice(message.payload().expect("payload")).expect("envelope");
                missing.remove(&envelope.id);
                seen.push(envelope.id);
            }
        }
    }
}

/// A topic namespace of this test's own, so tests never see each other's messages.
pub fn topic_prefix() -> String {
    format!("t{}.", ulid::Ulid::new().to_string().to_lowercase())
}

/// Reads every topic under `prefix` from the start, with a group of its
/// own, until `want` messages arrived and then `quiet` passed without any
/// (so extra messages show up too); panics after 60 s.
pub async fn consume(
    brokers: &str,
    prefix: &str,
    want: usize,
    quiet: Duration,
) -> Vec<(String, String, Envelope)> {
    let consumer = consumer(brokers, prefix, &[]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut received = Vec::new();
    loop {
        let wait = if received.len() >= want {
            quiet
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        let message = match tokio::time::timeout(wait, consumer.recv()).await {
            Err(_) if received.len() >= want => return received,
            Err(_) => panic!(
                "only {} of {want} messages arrived: {received:?}",
                received.len()
            ),
            Ok(message) => message.expect("consume"),
        };
        let topic = message
            .topic()
            .strip_prefix(prefix)
            .expect("prefixed topic")
            .to_owned();
        let key = String::from_utf8(message.key().expect("key").to_vec()).expect("utf-8 key");
        let envelope: Envelope =
            serde_json::from_slice(message.payload().expect("payload")).expect("envelope JSON");
        received.push((topic, key, envelope));
    }
}
