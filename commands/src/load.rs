//! Folding a stream into its aggregate and turning decided events into an
//! append, the way cqrs-es' own event store does for one stream.

use std::collections::VecDeque;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::{json, Value};
use ticketing_event_store::{NewEvent, SerializedEvent, Store, StreamAppend, StreamRef};

use crate::CommandError;

/// An aggregate as of its last event.
pub struct Loaded<A> {
    pub id: String,
    pub aggregate: A,
    pub sequence: usize,
}

pub async fn load<A: Aggregate>(store: &Store, id: &str) -> Result<Loaded<A>, CommandError> {
    fold(id, store.load::<A>(id, 0).await?)
}

/// Streams read together, one round trip for all, taken back in the order
/// they were asked for ([`Batch::next`]).
pub struct Batch(VecDeque<(String, Vec<SerializedEvent>)>);

/// Reads every stream of `streams` in one round trip.
pub async fn load_batch(store: &Store, streams: &[StreamRef<'_>]) -> Result<Batch, CommandError> {
    let loaded = if streams.is_empty() {
        Vec::new()
    } else {
        store.load_streams(streams).await?
    };
    Ok(Batch(
        streams
            .iter()
            .map(|s| s.aggregate_id.to_owned())
            .zip(loaded)
            .collect(),
    ))
}

/// The whole stream of aggregate `A` with id `id`, for [`load_batch`].
pub fn whole<A: Aggregate>(id: &str) -> StreamRef<'_> {
    StreamRef {
        aggregate_type: A::TYPE,
        aggregate_id: id,
        after_sequence: 0,
    }
}

impl Batch {
    /// The next stream's events as read.
    pub fn next_events(&mut self) -> Result<Vec<SerializedEvent>, CommandError> {
        let (_, events) = self
            .0
            .pop_front()
            .ok_or_else(|| CommandError::internal(BatchExhausted))?;
        Ok(events)
    }

    /// The next stream, folded into its aggregate; the caller asks in the
    /// order it listed the streams.
    pub fn next<A: Aggregate>(&mut self) -> Result<Loaded<A>, CommandError> {
        let (id, events) = self
            .0
            .pop_front()
            .ok_or_else(|| CommandError::internal(BatchExhausted))?;
        fold(&id, events)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a batch of streams was read past its end")]
struct BatchExhausted;

/// The aggregate `id` as of `events`, its whole stream in sequence order.
pub fn fold<A: Aggregate>(
    id: &str,
    events: Vec<SerializedEvent>,
) -> Result<Loaded<A>, CommandError> {
    let mut aggregate = A::default();
    let mut sequence = 0;
    for stored in events {
        aggregate.apply(serde_json::from_value(stored.payload)?);
        sequence = stored.sequence;
    }
    Ok(Loaded {
        id: id.to_owned(),
        aggregate,
        sequence,
    })
}

/// Runs a command against the aggregate (which applies the events it
/// decides, so it is current afterwards) and returns the events.
pub async fn decide<A: Aggregate>(
    aggregate: &mut A,
    command: A::Command,
    services: &A::Services,
) -> Result<Vec<A::Event>, A::Error> {
    let sink = EventSink::default();
    aggregate.handle(command, services, &sink).await?;
    Ok(sink.collect().await)
}

impl<A: Aggregate> Loaded<A> {
    pub async fn decide(
        &mut self,
        command: A::Command,
        services: &A::Services,
    ) -> Result<Vec<A::Event>, A::Error> {
        decide(&mut self.aggregate, command, services).await
    }

    /// After `events` (decided on this aggregate) were appended: the
    /// aggregate is at their last sequence.
    pub fn committed(&mut self, events: &[A::Event]) {
        self.sequence += events.len();
    }

    /// The append of `events` after the sequence this aggregate was loaded at.
    pub fn append(
        &self,
        events: &[A::Event],
        metadata: &Value,
    ) -> Result<StreamAppend, CommandError> {
        append::<A>(&self.id, self.sequence, events, metadata)
    }
}

pub fn append<A: Aggregate>(
    id: &str,
    expected_sequence: usize,
    events: &[A::Event],
    metadata: &Value,
) -> Result<StreamAppend, CommandError> {
    let events = events
        .iter()
        .map(|event| {
            Ok(NewEvent {
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload: serde_json::to_value(event)?,
                metadata: metadata.clone(),
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    Ok(StreamAppend {
        aggregate_type: A::TYPE.to_owned(),
        aggregate_id: id.to_owned(),
        expected_sequence,
        events,
    })
}

/// Who did it and through which command: kept with every event for audit.
pub fn metadata(command: &str, actor: &str) -> Value {
    json!({ "command": command, "actor": actor })
}
