//! The relay against a real Kafka-protocol broker (`scripts/kafka.sh`
//! starts tansu; `TICKETING_TEST_KAFKA_BROKERS` points elsewhere): a real
//! purchase flow reaches the topics exactly, on Postgres and SQLite, an
//! in-process worker (`Deliver`) is handed the same envelopes, an
//! unacknowledged batch keeps the checkpoint, and a relay killed after
//! publishing re-publishes.

mod common;

use std::time::Duration;

use common::kafka::{consume, topic_prefix};
use common::{purchase_flow, store};
use ticketing_bus::testing::kafka_brokers as brokers;
use ticketing_bus::{Envelope, Handler, HandlerError, Topic, TOPICS};
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::FeedPosition;
use ticketing_relay::{
    Deliver, IntegrationEvent, KafkaCluster, KafkaConfig, KafkaPublisher, PublishError, Publisher,
    Relay,
};
use tokio::sync::Notify;

fn kafka(brokers: &str, prefix: &str) -> KafkaPublisher {
    let mut cluster = KafkaCluster::new(brokers);
    cluster.topic_prefix = prefix.to_owned();
    (cluster.partitions, cluster.replication) = (2, 1);
    let mut config = KafkaConfig::new(cluster);
    config.message_timeout = Duration::from_secs(20);
    KafkaPublisher::new(&config).expect("producer")
}

async fn the_flow_reaches_every_topic_once(url: String) {
    let brokers = brokers();
    let store = store(url).await;
    let expected = purchase_flow(&store).await;
    let prefix = topic_prefix();

    let relay = Relay::new(store.clone(), kafka(&brokers, &prefix)).with_batch_size(7);
    let head = store.feed_head(0).await.unwrap();
    assert_eq!(
        relay.catch_up().await.unwrap(),
        head,
        "drained to the head of the feed"
    );

    let received = consume(
        &brokers,
        &prefix,
        expected.by_id.len(),
        Duration::from_secs(3),
    )
    .await;
    expected.assert_delivered(&received, false);

    // An in-process worker of every topic, on its own checkpoint, is
    // handed the same envelopes.
    let worker = std::sync::Arc::new(AllTopics::default());
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    Relay::new(store.clone(), Deliver::new(worker.clone(), stopped))
        .with_checkpoint(Deliver::<AllTopics>::checkpoint("all-topics"))
        .catch_up()
        .await
        .unwrap();
    let mut handed: Vec<Envelope> = worker.handled.lock().unwrap().clone();
    handed.sort_by_key(|e| e.id);
    let mut from_kafka: Vec<Envelope> = received.into_iter().map(|(_, _, e)| e).collect();
    from_kafka.sort_by_key(|e| e.id);
    assert_eq!(handed, from_kafka, "the same envelopes in process");
}

/// A worker of every topic that keeps what it was handed.
#[derive(Default)]
struct AllTopics {
    handled: std::sync::Mutex<Vec<Envelope>>,
}

impl Handler for AllTopics {
    fn name(&self) -> &'static str {
        "all-topics"
    }

    fn topics(&self) -> &'static [Topic] {
        &TOPICS
    }

    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        self.handled.lock().unwrap().push(envelope.clone());
        Ok(())
    }
}

#[tokio::test]
async fn the_flow_reaches_every_topic_once_on_postgres() {
    the_flow_reaches_every_topic_once(fresh_postgres_url().await).await;
}

#[tokio::test]
async fn the_flow_reaches_every_topic_once_on_sqlite() {
    the_flow_reaches_every_topic_once(fresh_sqlite_url()).await;
}

/// Publishes through Kafka, then never returns: the relay is killed
/// between the broker's acknowledgement and its checkpoint.
struct StallsAfterAck {
    kafka: KafkaPublisher,
    acked: Notify,
}

impl Publisher for StallsAfterAck {
    async fn publish(&self, batch: &[IntegrationEvent]) -> Result<(), PublishError> {
        self.kafka.publish(batch).await?;
        self.acked.notify_one();
        std::future::pending().await
    }
}

async fn killed_after_the_ack_publishes_again(url: String) {
    let brokers = brokers();
    let store = store(url).await;
    let expected = purchase_flow(&store).await;
    let prefix = topic_prefix();

    let stalling = std::sync::Arc::new(StallsAfterAck {
        kafka: kafka(&brokers, &prefix),
        acked: Notify::new(),
    });
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let relay = Relay::new(store.clone(), stalling.clone()).with_batch_size(1000);
    let task = tokio::spawn(relay.run(stopped.clone()));
    tokio::time::timeout(Duration::from_secs(60), stalling.acked.notified())
        .await
        .expect("the broker acknowledged the batch");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    let restarted = Relay::new(store.clone(), kafka(&brokers, &prefix));
    assert_eq!(
        restarted.checkpoint().await.unwrap(),
        FeedPosition::START,
        "killed before its checkpoint"
    );
    restarted.catch_up().await.unwrap();

    let received = consume(
        &brokers,
        &prefix,
        2 * expected.by_id.len(),
        Duration::from_secs(3),
    )
    .await;
    expected.assert_delivered(&received, true);
    assert_eq!(
        received.len(),
        2 * expected.by_id.len(),
        "every event twice, same ids"
    );
}

#[tokio::test]
async fn killed_after_the_ack_publishes_again_on_postgres() {
    killed_after_the_ack_publishes_again(fresh_postgres_url().await).await;
}

#[tokio::test]
async fn killed_after_the_ack_publishes_again_on_sqlite() {
    killed_after_the_ack_publishes_again(fresh_sqlite_url()).await;
}

#[tokio::test]
async fn a_broker_that_never_answers_fails_the_batch_and_keeps_the_checkpoint() {
    let store = store(fresh_sqlite_url()).await;
    purchase_flow(&store).await;
    // Nothing listens on port 1: no acknowledgement can ever come.
    let mut config = KafkaConfig::new(KafkaCluster::new("127.0.0.1:1"));
    config.message_timeout = Duration::from_secs(2);
    config.create_topics = false;
    let relay = Relay::new(store.clone(), KafkaPublisher::new(&config).unwrap());
    let started = std::time::Instant::now();
    let error = relay
        .step()
        .await
        .expect_err("no broker, no acknowledgement");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded by the message timeout"
    );
    assert!(error.to_string().contains("Kafka"), "{error}");
    assert_eq!(relay.checkpoint().await.unwrap(), FeedPosition::START);
}
