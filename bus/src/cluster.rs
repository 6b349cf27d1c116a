//! [`KafkaCluster`]: where the cluster is and how to talk to it, shared by
//! the relay's producer and the workers' consumers.
//!
//! * `--kafka-brokers` bootstrap the clients; `--kafka-option key=value`
//!   (repeatable) passes any other librdkafka setting through: TLS
//!   (`security.protocol=SSL`, `ssl.ca.location=…`), SASL
//!   (`security.protocol=SASL_SSL`, `sasl.mechanism=SCRAM-SHA-512` or
//!   `PLAIN`, `sasl.username`, `sasl.password`), timeouts, buffers. The
//!   settings the delivery guarantee rests on are the engine's and cannot
//!   be overridden ([`ENGINE_OWNED`]).
//! * Topics the engine creates get `--kafka-partitions` partitions and
//!   `--kafka-replication-factor` replicas, with `min.insync.replicas` one
//!   below the replication factor (at most 2): the defaults (6 and 3) fit a
//!   3-broker cluster that keeps accepting writes with one broker down and
//!   never acknowledges a message only one broker has.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

use crate::envelope::TOPICS;
use crate::kafka::KafkaConsumerError;

/// Partitions of a topic the engine creates, unless told otherwise.
pub const DEFAULT_PARTITIONS: i32 = 6;
/// Replicas of a topic the engine creates, unless told otherwise.
pub const DEFAULT_REPLICATION: i32 = 3;

/// librdkafka settings the engine sets itself: `acks=all` and idempotence
/// are the relay's delivery guarantee, the consumer's offsets are stored
/// only after a handler's effect is durable, and the brokers and group come
/// from their own flags.
pub const ENGINE_OWNED: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
];

/// Where the cluster is, how to connect, and the shape of created topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaCluster {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Put before every topic name (a test's own namespace, or
    /// `staging.`); empty in production.
    pub topic_prefix: String,
    /// librdkafka settings passed through, in the order given.
    pub options: Vec<(String, String)>,
    /// Partitions and replication factor of a topic the engine creates.
    pub partitions: i32,
    pub replication: i32,
}

impl KafkaCluster {
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaCluster {
            brokers: brokers.into(),
            topic_prefix: String::new(),
            options: Vec::new(),
            partitions: DEFAULT_PARTITIONS,
            replication: DEFAULT_REPLICATION,
        }
    }

    /// A client configuration with the brokers and the passed-through
    /// options; callers add their own (engine-owned) settings after.
    pub fn client(&self, client_id: &str) -> ClientConfig {
        let mut client = ClientConfig::new();
        client.set("client.id", client_id);
        for (key, value) in &self.options {
            client.set(key, value);
        }
        client.set("bootstrap.servers", &self.brokers);
        client
    }

    /// The broker-side name of `topic`.
    pub fn topic_name(&self, topic: &str) -> String {
        format!("{}{topic}", self.topic_prefix)
    }

    /// Creates those of the engine's topics that do not exist yet; topics
    /// that operators made already answer `TopicAlreadyExists`, which is
    /// fine.
    pub async fn ensure_topics(
        &self,
        admin: &AdminClient<DefaultClientContext>,
        timeout: Duration,
    ) -> Result<(), KafkaConsumerError> {
        let names: Vec<String> = TOPICS.iter().map(|t| self.topic_name(t.name)).collect();
        let min_insync = (self.replication - 1).clamp(1, 2).to_string();
        let topics: Vec<NewTopic> = names
            .iter()
            .map(|name| {
                let topic = NewTopic::new(
                    name,
                    self.partitions,
                    TopicReplication::Fixed(self.replication),
                );
                if self.replication > 1 {
                    topic.set("min.insync.replicas", &min_insync)
                } else {
                    topic
                }
            })
            .collect();
        let options = AdminOptions::new().request_timeout(Some(timeout));
        for result in admin.create_topics(&topics, &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(KafkaConsumerError::CreateTopic { topic, code }),
            }
        }
        Ok(())
    }
}

/// Parses one `--kafka-option`: `key=value`, the key not one of
/// [`ENGINE_OWNED`].
pub fn parse_option(option: &str) -> Result<(String, String), String> {
    let Some((key, value)) = option.split_once('=') else {
        return Err(format!("expected key=value, got {option:?}"));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("expected key=value, got {option:?}"));
    }
    if ENGINE_OWNED.contains(&key) {
        return Err(format!(
            "{key} is set by the engine and cannot be passed through"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_key_value_pairs_the_engine_does_not_own() {
        assert_eq!(
            parse_option("sasl.password=a=b").unwrap(),
            ("sasl.password".to_owned(), "a=b".to_owned())
        );
        assert!(parse_option("security.protocol").is_err());
        assert!(parse_option("=x").is_err());
        assert!(parse_option("acks=1")
            .unwrap_err()
            .contains("set by the engine"));
        assert!(parse_option("enable.idempotence=false").is_err());
    }

    #[test]
    fn passed_options_reach_the_client_but_never_the_brokers() {
        let mut cluster = KafkaCluster::new("a:9092,b:9092");
        cluster.options = vec![
            ("security.protocol".into(), "SASL_SSL".into()),
            ("sasl.mechanism".into(), "SCRAM-SHA-512".into()),
        ];
        let client = cluster.client("ticketing-test");
        assert_eq!(client.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(client.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(client.get("bootstrap.servers"), Some("a:9092,b:9092"));
        assert_eq!(client.get("client.id"), Some("ticketing-test"));
    }

    #[test]
    fn defaults_fit_a_three_broker_cluster() {
        let cluster = KafkaCluster::new("k:9092");
        assert_eq!((cluster.partitions, cluster.replication), (6, 3));
    }
}
