//! The Kafka adapter of the [`Publisher`] port, on rdkafka's
//! `FutureProducer` (librdkafka).
//!
//! `acks=all` and `enable.idempotence=true`: a message counts as delivered
//! only when every in-sync replica has it, and librdkafka's own retries
//! within `message.timeout.ms` neither duplicate nor reorder messages of a
//! partition. A batch is enqueued in order, then every delivery report is
//! awaited; the first failure fails the batch.
//!
//! An idempotent producer can end in a fatal state (e.g. a sequence gap
//! after messages timed out) where every later message fails; the publisher
//! then replaces it with a fresh producer, and the relay's retry goes on.
//!
//! Before its first batch the publisher creates those of its topics that do
//! not exist ([`ticketing_bus::ensure_topics`]), unless told not to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::publisher::{PublishError, Publisher};
use ticketing_bus::{IntegrationEvent, KafkaConsumerError, TOPICS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Put before every topic name (a test's own namespace, or
    /// `staging.`); empty in production.
    pub topic_prefix: String,
    /// How long the brokers have to acknowledge a message before its batch
    /// fails and is published again.
    pub message_timeout: Duration,
    /// Whether to create missing topics before the first batch (off where
    /// operators manage topics and the relay may not create them).
    pub create_topics: bool,
    /// Partitions and replication factor of a topic the relay creates.
    pub partitions: i32,
    pub replication: i32,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            topic_prefix: String::new(),
            message_timeout: Duration::from_secs(30),
            create_topics: true,
            partitions: 3,
            replication: 1,
        }
    }
}

pub struct KafkaPublisher {
    /// The producer's settings, to replace it after a fatal error.
    settings: ClientConfig,
    producer: Mutex<FutureProducer>,
    admin: AdminClient<DefaultClientContext>,
    config: KafkaConfig,
    topics_ready: AtomicBool,
}

impl KafkaPublisher {
    /// Creates the producer; it connects lazily, so an unreachable broker
    /// shows up as failed batches, not here.
    pub fn new(config: &KafkaConfig) -> Result<Self, PublishError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("client.id", "ticketing-relay");
        let admin = client.create().map_err(PublishError::Client)?;
        let timeout_ms = config.message_timeout.as_millis().max(1).to_string();
        client
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", &timeout_ms);
        let producer = client.create().map_err(PublishError::Client)?;
        Ok(KafkaPublisher {
            settings: client,
            producer: Mutex::new(producer),
            admin,
            config: config.clone(),
            topics_ready: AtomicBool::new(!config.create_topics),
        })
    }

    /// The broker-side name of `topic`.
    pub fn topic_name(&self, topic: &str) -> String {
        format!("{}{topic}", self.config.topic_prefix)
    }

    /// Creates the topics of [`TOPICS`] that do not exist yet.
    pub async fn ensure_topics(&self) -> Result<(), PublishError> {
        let names: Vec<String> = TOPICS.iter().map(|t| self.topic_name(t.name)).collect();
        ticketing_bus::ensure_topics(
            &self.admin,
            &names,
            self.config.partitions,
            self.config.replication,
            self.config.message_timeout,
        )
        .await
        .map_err(|error| match error {
            KafkaConsumerError::Client(source) => PublishError::Client(source),
            KafkaConsumerError::CreateTopic { topic, code } => {
                PublishError::CreateTopic { topic, code }
            }
        })?;
        self.topics_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn producer(&self) -> FutureProducer {
        let producer = self.producer.lock().unwrap_or_else(PoisonError::into_inner);
        producer.clone()
    }

    /// Swaps in a fresh producer if `failed` can no longer send.
    fn replace_if_fatal(&self, failed: &FutureProducer) {
        let Some((code, reason)) = failed.client().fatal_error() else {
            return;
        };
        tracing::warn!(%code, %reason, "Kafka producer failed fatally; replacing it");
        match self.settings.create() {
            Ok(fresh) => *self.producer.lock().unwrap_or_else(PoisonError::into_inner) = fresh,
            Err(error) => tracing::error!(%error, "cannot create a new Kafka producer"),
        }
    }

    /// Enqueues `batch` in order (so each key keeps its order), then awaits
    /// every delivery report.
    async fn send(
        &self,
        producer: &FutureProducer,
        batch: &[IntegrationEvent],
    ) -> Result<(), PublishError> {
        let mut deliveries = Vec::with_capacity(batch.len());
        for event in batch {
            let topic = self.topic_name(event.topic);
            let payload = serde_json::to_vec(&event.envelope)?;
            let record = FutureRecord::to(&topic).key(&event.key).payload(&payload);
            match producer.send_result(record) {
                Ok(delivery) => deliveries.push((topic, delivery)),
                Err((source, _)) => return Err(PublishError::NotAcknowledged { topic, source }),
            }
        }
        for (topic, delivery) in deliveries {
            let source = match delivery.await {
                Ok(Ok(_)) => continue,
                Ok(Err((source, _))) => source,
                Err(_) => KafkaError::Canceled,
            };
            return Err(PublishError::NotAcknowledged { topic, source });
        }
        Ok(())
    }
}

impl Publisher for KafkaPublisher {
    async fn publish(&self, batch: &[IntegrationEvent]) -> Result<(), PublishError> {
        if !self.topics_ready.load(Ordering::Relaxed) {
            self.ensure_topics().await?;
        }
        let producer = self.producer();
        let sent = self.send(&producer, batch).await;
        if sent.is_err() {
            self.replace_if_fatal(&producer);
        }
        sent
    }
}
