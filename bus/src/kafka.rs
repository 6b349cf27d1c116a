//! [`KafkaConsumer`]: the Kafka adapter of the consuming port. One
//! consumer group per worker (`<group prefix><handler name>`), so scaling
//! a worker out splits the topics' partitions among its processes.
//!
//! An offset is stored only after the handler returned (its effect is
//! durable), and librdkafka commits stored offsets every second and at
//! shutdown: a crash redelivers at most the envelopes handled since the
//! last commit, which the handler dedupes by envelope id. A partition's
//! messages are handled one after the other, so each key keeps its order.
//!
//! A consumer creates its missing topics first
//! ([`KafkaCluster::ensure_topics`]), as the relay does, because brokers
//! such as tansu, and many production clusters, do not create topics on
//! first use.

use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::watch;

use crate::cluster::KafkaCluster;
use crate::envelope::Envelope;
use crate::handler::{deliver, Handler};

/// Where and how a worker consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConsumerConfig {
    pub cluster: KafkaCluster,
    /// Put before the handler's name to make the consumer group.
    pub group_prefix: String,
}

impl KafkaConsumerConfig {
    pub fn new(cluster: KafkaCluster) -> Self {
        Self {
            cluster,
            group_prefix: "ticketing-".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaConsumerError {
    #[error("Kafka consumer: {0}")]
    Client(#[from] KafkaError),
    #[error("cannot create Kafka topic {topic}: {code}")]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
}

pub struct KafkaConsumer<H> {
    consumer: StreamConsumer,
    handler: H,
    prefix: String,
}

impl<H: Handler> KafkaConsumer<H> {
    /// Creates the handler's topics if missing and subscribes its group.
    pub async fn new(config: &KafkaConsumerConfig, handler: H) -> Result<Self, KafkaConsumerError> {
        let cluster = &config.cluster;
        let mut client = cluster.client(&format!("ticketing-{}", handler.name()));
        let admin: AdminClient<DefaultClientContext> = client.create()?;
        cluster
            .ensure_topics(&admin, Duration::from_secs(30))
            .await?;
        let consumer: StreamConsumer = client
            .set(
                "group.id",
                format!("{}{}", config.group_prefix, handler.name()),
            )
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("topic.metadata.refresh.interval.ms", "5000")
            .create()?;
        let topics: Vec<String> = handler
            .topics()
            .iter()
            .map(|topic| cluster.topic_name(topic.name))
            .collect();
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(Self {
            consumer,
            handler,
            prefix: cluster.topic_prefix.clone(),
        })
    }

    /// Handles messages until `stop` turns true, then commits what it
    /// handled. A broker that is down is waited for (librdkafka reconnects).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let name = self.handler.name();
        loop {
            let message = tokio::select! {
                message = self.consumer.recv() => message,
                _ = stop.wait_for(|stop| *stop) => break,
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(consumer = name, %error, "Kafka consumer error; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                        _ = stop.wait_for(|stop| *stop) => break,
                    }
                }
            };
            let decoded = message
                .payload()
                .map(serde_json::from_slice::<Envelope>)
                .transpose();
            match decoded {
                Ok(Some(envelope)) => {
                    if !deliver(&self.handler, &envelope, &mut stop).await {
                        break;
                    }
                }
                // Not an envelope: nothing any handler could do with it.
                Ok(None) | Err(_) => {
                    let topic = message.topic().trim_start_matches(self.prefix.as_str());
                    tracing::error!(
                        consumer = name,
                        topic,
                        offset = message.offset(),
                        "message is not an envelope; skipped"
                    );
                    metrics::counter!("ticketing_bus_rejected_total", "consumer" => name)
                        .increment(1);
                }
            }
            if let Err(error) = self.consumer.store_offset_from_message(&message) {
                tracing::warn!(consumer = name, %error, "cannot store the offset; the message may be handled again");
            }
        }
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing stored since the last commit is not an error worth a warning.
            if !matches!(
                error,
                KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)
            ) {
                tracing::warn!(consumer = name, %error, "final offset commit failed; some messages will be handled again");
            }
        }
    }
}
