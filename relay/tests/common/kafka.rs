//! Topics of a test's own on the test broker
//! (`ticketing_bus::testing::kafka_brokers`), and a consumer that reads them
//! from the start.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use std::time::Duration;
use ticketing_relay::{Envelope, TOPICS};

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
    let consumer: StreamConsumer = ClientConfig::new()
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
