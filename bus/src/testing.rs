//! Test support for crates whose tests need the test Kafka broker.

use std::time::Duration;

/// Brokers of the test Kafka (`TICKETING_TEST_KAFKA_BROKERS`, default
/// 127.0.0.1:9092), checked to accept connections: the tests fail, never
/// skip, without one.
pub fn kafka_brokers() -> String {
    let brokers =
        std::env::var("TICKETING_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&first)
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("TICKETING_TEST_KAFKA_BROKERS={brokers:?} is not host:port"));
    if let Err(e) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
        panic!(
            "no Kafka-protocol broker at {brokers} ({e}): start one with scripts/kafka.sh \
             (scripts/test does), or set TICKETING_TEST_KAFKA_BROKERS"
        );
    }
    brokers
}
