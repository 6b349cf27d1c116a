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
//! after messages timed out) where every later message fails, or keep
//! failing without librdkafka calling it fatal (a broker that lost its
//! state answers `UnknownProducerId`); the publisher then replaces it with a
//! fresh producer (a new producer id), at once for a fatal error and after
//! [`RESTART_AFTER`] failed batches in a row otherwise, and the relay's
//! retry goes on.
//!
//! Before its first batch, and after each such restart, the publisher
//! creates those of its topics that do not exist
//! ([`KafkaCluster::ensure_topics`]), unless told not to.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::publisher::{PublishError, Publisher};
use ticketing_bus::{IntegrationEvent, KafkaCluster, KafkaConsumerError};

/// Consecutive failed batches after which the publisher starts over with a
/// fresh producer (a new producer id) and creates missing topics again.
pub const RESTART_AFTER: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    pub cluster: KafkaCluster,
    /// How long the brokers have to acknowledge a message before its batch
    /// fails and is published again.
    pub message_timeout: Duration,
    /// Whether to create missing topics before the first batch (off where
    /// operators manage topics and the relay may not create them).
    pub create_topics: bool,
}

impl KafkaConfig {
    pub fn new(cluster: KafkaCluster) -> Self {
        KafkaConfig {
            cluster,
            message_timeout: Duration::from_secs(30),
            create_topics: true,
        }
    }
}

pub struct KafkaPublisher {
    /// The producer's settings, to replace it.
    settings: ClientConfig,
    producer: Mutex<FutureProducer>,
    admin: AdminClient<DefaultClientContext>,
    config: KafkaConfig,
    topics_ready: AtomicBool,
    /// Batches failed in a row since the last success or restart.
    failures: AtomicU32,
}

impl KafkaPublisher {
    /// Creates the producer; it connects lazily, so an unreachable broker
    /// shows up as failed batches, not here. A setting librdkafka does not
    /// know, or a feature it was built without, fails here.
    pub fn new(config: &KafkaConfig) -> Result<Self, PublishError> {
        let mut client = config.cluster.client("ticketing-relay");
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
            failures: AtomicU32::new(0),
        })
    }

    /// The broker-side name of `topic`.
    pub fn topic_name(&self, topic: &str) -> String {
        self.config.cluster.topic_name(topic)
    }

    /// Creates the topics of [`TOPICS`](ticketing_bus::TOPICS) that do not
    /// exist yet.
    pub async fn ensure_topics(&self) -> Result<(), PublishError> {
        self.config
            .cluster
            .ensure_topics(&self.admin, self.config.message_timeout)
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

    /// After a failed batch: swaps in a fresh producer if `failed` can no
    /// longer send (a fatal error), or if batches keep failing
    /// ([`RESTART_AFTER`] in a row) for a reason librdkafka does not call
    /// fatal, such as a broker that came back empty and answers
    /// `UnknownProducerId` to the old producer id until its messages time
    /// out. Starting over also creates missing topics again.
    fn after_failure(&self, failed: &FutureProducer) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let reason = match failed.client().fatal_error() {
            Some((code, reason)) => format!("fatal error {code}: {reason}"),
            None if failures >= RESTART_AFTER => format!("{failures} batches failed in a row"),
            None => return,
        };
        tracing::warn!(%reason, "replacing the Kafka producer and checking the topics");
        metrics::counter!("ticketing_relay_producer_restarts_total").increment(1);
        match self.settings.create() {
            Ok(fresh) => {
                *self.producer.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
                self.failures.store(0, Ordering::Relaxed);
                if self.config.create_topics {
                    self.topics_ready.store(false, Ordering::Relaxed);
                }
            }
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
            if let Err(error) = self.ensure_topics().await {
                self.after_failure(&self.producer());
                return Err(error);
            }
        }
        let producer = self.producer();
        let sent = self.send(&producer, batch).await;
        match sent {
            Ok(()) => self.failures.store(0, Ordering::Relaxed),
            Err(_) => self.after_failure(&producer),
        }
        sent
    }
}
