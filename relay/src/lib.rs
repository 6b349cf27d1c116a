//! The integration-event relay (design.md §6): publishes chosen domain
//! events from the durable global feed, at least once, keyed by aggregate id.
//!
//! * `envelope.rs` — which events are published, on which topic, in which
//!   JSON envelope (`{id, type, source, subject, time, data, schema_version}`).
//! * `publisher.rs` — the [`Publisher`] port: acknowledged or an error.
//! * `kafka.rs` — the Kafka adapter (rdkafka, `acks=all`, idempotent).
//! * `memory.rs` — the in-process bus of the embedded deployment.
//! * `relay.rs` — the [`Relay`] runner: checkpoint, publish, then advance.

mod envelope;
mod kafka;
mod memory;
mod publisher;
mod relay;

pub use envelope::{integration_event, Envelope, EnvelopeError, IntegrationEvent, SOURCE, TOPICS};
pub use kafka::{KafkaConfig, KafkaPublisher};
pub use memory::MemoryBus;
pub use publisher::{PublishError, Publisher};
pub use relay::{Relay, RelayError, CHECKPOINT, MEMORY_CHECKPOINT};
