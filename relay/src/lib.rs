//! The integration-event relay (design.md §6): tails the durable global
//! feed from a checkpoint and hands each batch's integration events (built
//! by `ticketing-bus`) to a destination, at least once.
//!
//! * `publisher.rs` — the [`Publisher`] port: acknowledged or an error.
//! * `kafka.rs` — the Kafka adapter (rdkafka, `acks=all`, idempotent).
//! * `deliver.rs` — [`Deliver`], the in-process adapter of the consuming
//!   port: a worker's [`Handler`](ticketing_bus::Handler) as the
//!   destination, so a worker in the embedded deployment reads the feed
//!   from its own checkpoint, exactly like a projector.
//! * `relay.rs` — the [`Relay`] runner: checkpoint, publish, then advance.
//! * `health.rs` — [`RelayHealth`]: whether its batches keep failing.

mod deliver;
mod health;
mod kafka;
mod publisher;
mod relay;

pub use deliver::Deliver;
pub use health::RelayHealth;
pub use kafka::{KafkaConfig, KafkaPublisher, RESTART_AFTER};
pub use publisher::{PublishError, Publisher};
pub use relay::{Relay, RelayError, CHECKPOINT};
pub use ticketing_bus::{Envelope, IntegrationEvent, KafkaCluster, SOURCE, TOPICS};
