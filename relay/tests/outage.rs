//! The relay through broker outages, against a broker process of the
//! test's own (never the shared test broker):
//!
//! * the network goes away while commands keep coming (a proxy cuts every
//!   connection; the broker keeps its data): the relay says it is stuck,
//!   and once the network is back every event id reaches its topic, with
//!   no more repeats than one unacknowledged batch;
//! * the broker dies and comes back **empty** (in-memory storage): it knows
//!   neither the topics nor the relay's producer id. The relay replaces its
//!   producer and creates the topics again after a bounded number of failed
//!   batches, and every event not acknowledged before the crash arrives.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::kafka::{consume_ids, consumer, topic_prefix};
use common::proxy::Proxy;
use common::{purchase_flow, store};
use ticketing_bus::testing::{free_port, OwnBroker};
use ticketing_event_store::testing::fresh_postgres_url;
use ticketing_relay::{KafkaCluster, KafkaConfig, KafkaPublisher, Relay, RelayHealth};
use tokio::sync::watch;

const BATCH: usize = 16;

struct Stack {
    broker: OwnBroker,
    proxy: Proxy,
    prefix: String,
    store: ticketing_event_store::Store,
    health: RelayHealth,
    _stop: watch::Sender<bool>,
}

/// A broker behind a proxy, a Postgres store, and a relay running on them
/// with a short message timeout.
async fn stack() -> Stack {
    let port = free_port();
    let proxy = Proxy::start(port).await;
    let broker = OwnBroker::start(port, proxy.port(), false);
    let store = store(fresh_postgres_url().await).await;
    let prefix = topic_prefix();
    let mut cluster = KafkaCluster::new(broker.brokers());
    cluster.topic_prefix = prefix.clone();
    (cluster.partitions, cluster.replication) = (2, 1);
    let mut config = KafkaConfig::new(cluster);
    config.message_timeout = Duration::from_secs(3);
    let relay =
        Relay::new(store.clone(), KafkaPublisher::new(&config).unwrap()).with_batch_size(BATCH);
    let health = relay.health();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(relay.run(stopped));
    Stack {
        broker,
        proxy,
        prefix,
        store,
        health,
        _stop: stop,
    }
}

/// Envelope ids of `flows` purchase flows run now.
async fn flows(store: &ticketing_event_store::Store, flows: usize) -> BTreeSet<i64> {
    let mut ids = BTreeSet::new();
    for _ in 0..flows {
        ids.extend(purchase_flow(store).await.by_id.into_keys());
    }
    ids
}

/// Waits until the relay has said it is stuck for a while.
async fn until_stuck(health: &RelayHealth) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let (Some(said), Some(for_)) = (health.describe(), health.failing_for()) {
            if for_ > Duration::from_secs(4) {
                return said;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never said it was stuck"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every id of `want` in `seen`, and no more repeats than one batch.
fn assert_delivered(want: &BTreeSet<i64>, seen: &[i64]) {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for id in seen {
        *counts.entry(*id).or_default() += 1;
    }
    let missing: Vec<_> = want.iter().filter(|id| !counts.contains_key(id)).collect();
    assert!(missing.is_empty(), "never published: {missing:?}");
    let repeats: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        repeats <= BATCH,
        "{repeats} repeats: more than one unacknowledged batch ({BATCH})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_outage_delays_events_and_loses_none() {
    let stack = stack().await;
    let before = flows(&stack.store, 1).await;
    let reader = consumer(&stack.broker.brokers(), &stack.prefix, &[]);
    let seen = consume_ids(&reader, &before, Duration::ZERO, Duration::from_secs(60)).await;
    assert_delivered(&before, &seen);

    stack.proxy.cut();
    // Commands go on while the broker cannot be reached.
    let during = flows(&stack.store, 3).await;
    let said = until_stuck(&stack.health).await;
    assert!(said.contains("failed in a row"), "{said}");

    stack.proxy.restore();
    let seen = consume_ids(
        &reader,
        &during,
        Duration::from_secs(3),
        Duration::from_secs(90),
    )
    .await;
    assert_delivered(&during, &seen);
    assert_eq!(stack.health.describe(), None, "no longer stuck");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_comes_back_empty_gets_every_unacknowledged_event() {
    let mut stack = stack().await;
    let before = flows(&stack.store, 1).await;
    let reader = consumer(&stack.broker.brokers(), &stack.prefix, &[]);
    consume_ids(&reader, &before, Duration::ZERO, Duration::from_secs(60)).await;
    drop(reader);

    stack.broker.kill();
    let during = flows(&stack.store, 3).await;
    until_stuck(&stack.health).await;
    // Back, with neither the topics nor the relay's producer id.
    stack.broker.restart();

    let reader = consumer(&stack.broker.brokers(), &stack.prefix, &[]);
    let seen = consume_ids(
        &reader,
        &during,
        Duration::from_secs(3),
        Duration::from_secs(120),
    )
    .await;
    assert_delivered(&during, &seen);
    assert_eq!(stack.health.describe(), None, "no longer stuck");
}
