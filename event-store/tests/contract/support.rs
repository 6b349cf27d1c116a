//! Fixtures shared by the contract tests: a minimal aggregate type to load
//! by, event builders, and a connected, migrated store.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ticketing_event_store::{NewEvent, Store, StreamAppend};

/// Only its `TYPE` matters: the store never deserializes events.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Seat;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeatEvent {
    pub n: u64,
}

impl DomainEvent for SeatEvent {
    fn event_type(&self) -> String {
        "SeatHeld".into()
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("seat error")]
pub struct SeatError;

impl Aggregate for Seat {
    const TYPE: &'static str = "Seat";
    type Command = ();
    type Event = SeatEvent;
    type Error = SeatError;
    type Services = ();

    async fn handle(&mut self, _: (), _: &(), _: &EventSink<Self>) -> Result<(), SeatError> {
        Ok(())
    }

    fn apply(&mut self, _: SeatEvent) {}
}

pub async fn open(url: &str) -> Store {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// An event whose payload records `n`, so tests can tell events apart.
pub fn event(n: usize) -> NewEvent {
    NewEvent {
        event_type: "SeatHeld".into(),
        event_version: "1".into(),
        payload: json!({ "n": n }),
        metadata: json!({ "test": true }),
    }
}

/// `count` events for Seat stream `id`, numbered from `first_n`.
pub fn seat_append(
    id: &str,
    expected_sequence: usize,
    first_n: usize,
    count: usize,
) -> StreamAppend {
    StreamAppend {
        aggregate_type: Seat::TYPE.into(),
        aggregate_id: id.into(),
        expected_sequence,
        events: (first_n..first_n + count).map(event).collect(),
    }
}
