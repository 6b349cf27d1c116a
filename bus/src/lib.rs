//! The integration-event port (design.md §6, §9): what leaves the engine,
//! in which shape, and how workers consume it.
//!
//! * `envelope.rs` — topics, their schema versions, and the JSON envelope
//!   `{id, type, source, subject, time, data, schema_version}`.
//! * `data.rs` — each topic's self-contained `data` (documented with a
//!   JSON Schema in `docs/integration-events.md`).
//! * `mapping.rs` — [`integration_events`]: a feed batch to its envelopes,
//!   one function for the relay and the in-process consumers.
//! * `handler.rs` — the consuming port: a worker is a [`Handler`].
//! * `cluster.rs` — [`KafkaCluster`]: brokers, passed-through librdkafka
//!   options (TLS, SASL), and the shape of the topics the engine creates.
//! * `kafka.rs` — [`KafkaConsumer`], the Kafka adapter of that port (the
//!   in-process adapter is the relay crate's `Deliver`).
//! * `testing.rs` (feature `testing`) — the test broker, for every crate's
//!   tests.

mod cluster;
mod data;
mod envelope;
mod handler;
mod kafka;
mod mapping;
#[cfg(feature = "testing")]
pub mod testing;

pub use cluster::{
    parse_option as parse_kafka_option, KafkaCluster, DEFAULT_PARTITIONS, DEFAULT_REPLICATION,
    ENGINE_OWNED,
};
pub use data::{
    OrderPaidData, PaidItem, PaymentFailedData, PaymentSucceededData, ReservationData,
    TicketIssuedData,
};
pub use envelope::*;
pub use handler::{deliver, deliver_batch, Handler, HandlerError};
pub use kafka::{KafkaConsumer, KafkaConsumerConfig, KafkaConsumerError};
pub use mapping::{integration_events, integration_events_of, publishes};
