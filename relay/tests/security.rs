//! Kafka for managed clusters: TLS and SASL settings pass through
//! `KafkaCluster::options` to librdkafka, which is built to use them; and
//! against a broker of the test's own that requires SASL, a relay without
//! credentials publishes nothing while one with SASL/PLAIN credentials
//! publishes, and a SASL consumer reads it.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::kafka::{consume_ids, consumer, topic_prefix};
use common::{purchase_flow, store};
use ticketing_bus::testing::{free_port, OwnBroker};
use ticketing_event_store::testing::fresh_sqlite_url;
use ticketing_relay::{KafkaCluster, KafkaConfig, KafkaPublisher, PublishError, Relay};

fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn config(brokers: &str, prefix: &str, pairs: &[(&str, &str)]) -> KafkaConfig {
    let mut cluster = KafkaCluster::new(brokers);
    cluster.topic_prefix = prefix.to_owned();
    cluster.options = options(pairs);
    (cluster.partitions, cluster.replication) = (1, 1);
    let mut config = KafkaConfig::new(cluster);
    config.message_timeout = Duration::from_secs(3);
    config
}

#[test]
fn tls_and_sasl_scram_settings_make_a_client() {
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        let config = config(
            "broker.example:9093",
            "",
            &[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", mechanism),
                ("sasl.username", "ticketing"),
                ("sasl.password", "secret"),
                ("ssl.endpoint.identification.algorithm", "https"),
            ],
        );
        if let Err(error) = KafkaPublisher::new(&config) {
            panic!("{mechanism} over TLS: {error}");
        }
    }
}

#[test]
fn an_unknown_setting_is_refused_when_the_client_is_made() {
    let config = config("broker.example:9093", "", &[("no.such.setting", "1")]);
    let error = KafkaPublisher::new(&config).err().expect("refused");
    assert!(matches!(error, PublishError::Client(_)), "{error}");
    assert!(error.to_string().contains("no.such.setting"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_requires_sasl_gets_events_only_with_credentials() {
    let port = free_port();
    let broker = OwnBroker::start(port, port, true);
    let store = store(fresh_sqlite_url()).await;
    let expected = purchase_flow(&store).await;
    let prefix = topic_prefix();
    let sasl = [
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "ticketing"),
        ("sasl.password", "secret"),
    ];

    let mut anonymous = config(&broker.brokers(), &prefix, &[]);
    anonymous.create_topics = false;
    let relay = Relay::new(store.clone(), KafkaPublisher::new(&anonymous).unwrap());
    relay
        .step()
        .await
        .expect_err("no credentials, no acknowledgement");

    let relay = Relay::new(
        store.clone(),
        KafkaPublisher::new(&config(&broker.brokers(), &prefix, &sasl)).unwrap(),
    );
    relay.catch_up().await.expect("published with credentials");
    let want: BTreeSet<i64> = expected.by_id.keys().copied().collect();
    let reader = consumer(&broker.brokers(), &prefix, &sasl);
    let seen = consume_ids(
        &reader,
        &want,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(seen.len(), want.len(), "each event once");
}
