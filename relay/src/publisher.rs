//! The publisher port: where the relay sends a batch of integration events.
//!
//! The contract the relay's at-least-once guarantee rests on: `publish`
//! returns `Ok` only once the destination has accepted **every** event of the
//! batch (for Kafka: acknowledged by all in-sync replicas). Any error means
//! some of the batch may not be delivered; the relay then keeps its
//! checkpoint and publishes the whole batch again, so a consumer may see an
//! event twice — with the same envelope `id` — but never misses one.

use std::future::Future;
use std::sync::Arc;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use ticketing_bus::{IntegrationEvent, Topic, TOPICS};

pub trait Publisher: Send + Sync + 'static {
    /// Delivers `batch`, in order per key; resolves after the acknowledgement.
    fn publish(
        &self,
        batch: &[IntegrationEvent],
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// The topics this destination takes; the relay builds no envelope of
    /// any other. Every topic by default.
    fn topics(&self) -> &'static [Topic] {
        &TOPICS
    }
}

/// A shared publisher publishes like the one it shares.
impl<P: Publisher> Publisher for Arc<P> {
    fn publish(
        &self,
        batch: &[IntegrationEvent],
    ) -> impl Future<Output = Result<(), PublishError>> + Send {
        P::publish(self, batch)
    }

    fn topics(&self) -> &'static [Topic] {
        P::topics(self)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The Kafka client could not be created (bad configuration) or did
    /// not get an answer from the cluster.
    #[error("Kafka client: {0}")]
    Client(#[source] KafkaError),
    /// The broker did not acknowledge a message in time, or refused it.
    #[error("Kafka did not acknowledge a message to {topic}: {source}")]
    NotAcknowledged {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("cannot create Kafka topic {topic}: {code}")]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("cannot encode an envelope: {0}")]
    Encode(#[from] serde_json::Error),
    /// The process is shutting down before every event was handled.
    #[error("stopped before the batch was handled")]
    Stopped,
}
