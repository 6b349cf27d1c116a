//! From a batch of the global feed to its integration events. The relay and
//! the in-process consumers call this one function, so both hand out the
//! same envelopes.
//!
//! Most domain events hold only what changed (ReservationExpired is empty),
//! but an envelope must be self-contained: each published event's stream is
//! read and folded up to that event, and the data taken from the aggregate
//! as it stood then. The result depends only on the log, so a redelivery
//! carries the same data. All streams of a batch are read in one round
//! trip.

use std::collections::HashMap;

use cqrs_es::Aggregate;
use serde::de::DeserializeOwned;
use serde_json::Value;
use ticketing_aggregates::{
    Order, OrderId, Payment, PaymentId, Reservation, Show, ShowId, Ticket, TicketDetails,
};
use ticketing_event_store::{FeedEvent, SerializedEvent, Store, StreamRef};

use crate::data::{
    OrderPaidData, PaidItem, PaymentFailedData, PaymentSucceededData, ReservationData,
};
use crate::envelope::*;

/// (aggregate type, domain event type) → topic.
fn route(event: &SerializedEvent) -> Option<Topic> {
    let topic = match (event.aggregate_type.as_str(), event.event_type.as_str()) {
        (Reservation::TYPE, "ReservationCreated") => RESERVATION_CREATED,
        (Reservation::TYPE, "ReservationExpired") => RESERVATION_EXPIRED,
        (Reservation::TYPE, "ReservationReleased") => RESERVATION_RELEASED,
        (Order::TYPE, "OrderPaid") => ORDER_PAID,
        (Payment::TYPE, "PaymentSucceeded") => PAYMENT_SUCCEEDED,
        (Payment::TYPE, "PaymentFailed") => PAYMENT_FAILED,
        (Ticket::TYPE, "TicketIssued") => TICKET_ISSUED,
        _ => return None,
    };
    Some(topic)
}

/// Whether `event` becomes an integration event on one of `topics`.
pub fn publishes(event: &FeedEvent, topics: &[Topic]) -> bool {
    route(&event.event).is_some_and(|topic| topics.contains(&topic))
}

/// The integration events of `batch`, in feed order.
pub async fn integration_events(
    store: &Store,
    batch: &[FeedEvent],
) -> Result<Vec<IntegrationEvent>, EnvelopeError> {
    integration_events_of(store, batch, &TOPICS).await
}

/// The integration events of `batch` on `topics` only, in feed order: a
/// worker's reader builds (and reads the streams for) just what its
/// handler takes.
pub async fn integration_events_of(
    store: &Store,
    batch: &[FeedEvent],
    topics: &[Topic],
) -> Result<Vec<IntegrationEvent>, EnvelopeError> {
    let published: Vec<(&FeedEvent, Topic)> = batch
        .iter()
        .filter_map(|event| route(&event.event).map(|topic| (event, topic)))
        .filter(|(_, topic)| topics.contains(topic))
        .collect();
    // Every stream whose state an envelope needs, read once.
    let mut streams: Vec<(&str, &str)> = published
        .iter()
        .filter(|(_, topic)| *topic != TICKET_ISSUED)
        .map(|(e, _)| {
            (
                e.event.aggregate_type.as_str(),
                e.event.aggregate_id.as_str(),
            )
        })
        .collect();
    streams.sort_unstable();
    streams.dedup();
    let refs: Vec<StreamRef<'_>> = streams
        .iter()
        .map(|&(aggregate_type, aggregate_id)| StreamRef {
            aggregate_type,
            aggregate_id,
            after_sequence: 0,
        })
        .collect();
    let loaded = if refs.is_empty() {
        Vec::new()
    } else {
        store.load_streams(&refs).await?
    };
    let history: HashMap<(&str, &str), Vec<SerializedEvent>> =
        streams.into_iter().zip(loaded).collect();
    let mut prices = SeatPrices::default();
    let mut events = Vec::with_capacity(published.len());
    for (event, topic) in published {
        let stored = &event.event;
        let past = history
            .get(&(stored.aggregate_type.as_str(), stored.aggregate_id.as_str()))
            .map(|events| upto(events, stored.sequence))
            .unwrap_or_default();
        let data = match topic {
            RESERVATION_CREATED | RESERVATION_EXPIRED | RESERVATION_RELEASED => {
                reservation(event, past)?
            }
            PAYMENT_SUCCEEDED | PAYMENT_FAILED => payment(event, topic, past)?,
            ORDER_PAID => order_paid(store, event, past, &mut prices).await?,
            _ => encode(event, unwrap::<TicketDetails>(event)?)?,
        };
        events.push(IntegrationEvent {
            topic: topic.name,
            key: stored.aggregate_id.clone(),
            envelope: Envelope {
                id: event.global_seq,
                event_type: topic.name.to_owned(),
                source: SOURCE.to_owned(),
                subject: stored.aggregate_id.clone(),
                time: event.recorded_at,
                data,
                schema_version: topic.schema_version,
            },
        });
    }
    Ok(events)
}

/// A stream's events up to and including `sequence`.
fn upto(events: &[SerializedEvent], sequence: usize) -> &[SerializedEvent] {
    let end = events.partition_point(|e| e.sequence <= sequence);
    &events[..end]
}

fn fold<A: Aggregate>(event: &FeedEvent, past: &[SerializedEvent]) -> Result<A, EnvelopeError> {
    let mut aggregate = A::default();
    for stored in past {
        let decoded = serde_json::from_value(stored.payload.clone()).map_err(|source| {
            EnvelopeError::Decode {
                global_seq: event.global_seq,
                event_type: stored.event_type.clone(),
                source,
            }
        })?;
        aggregate.apply(decoded);
    }
    Ok(aggregate)
}

fn reservation(event: &FeedEvent, past: &[SerializedEvent]) -> Result<Value, EnvelopeError> {
    let state: Reservation = fold(event, past)?;
    let missing = || incomplete(event, "ReservationCreated");
    let data = ReservationData {
        reservation_id: state.id.ok_or_else(missing)?,
        show_id: state.show_id.ok_or_else(missing)?,
        seat_labels: state.seats,
        customer_id: state.customer.ok_or_else(missing)?,
        expires_at: state.until.ok_or_else(missing)?,
    };
    encode(event, data)
}

fn payment(
    event: &FeedEvent,
    topic: Topic,
    past: &[SerializedEvent],
) -> Result<Value, EnvelopeError> {
    let state: Payment = fold(event, past)?;
    let request = state
        .request
        .ok_or_else(|| incomplete(event, "PaymentRequested"))?;
    if topic == PAYMENT_SUCCEEDED {
        let provider_ref = state
            .provider_ref
            .ok_or_else(|| incomplete(event, "PaymentSucceeded"))?;
        encode(
            event,
            PaymentSucceededData {
                payment_id: request.payment_id,
                order_id: request.order_id,
                amount_minor: request.amount_minor,
                currency: request.currency,
                provider_ref,
            },
        )
    } else {
        encode(
            event,
            PaymentFailedData {
                payment_id: request.payment_id,
                order_id: request.order_id,
                amount_minor: request.amount_minor,
                currency: request.currency,
                reason: state.failure_reason.unwrap_or_default(),
            },
        )
    }
}

async fn order_paid(
    store: &Store,
    event: &FeedEvent,
    past: &[SerializedEvent],
    prices: &mut SeatPrices,
) -> Result<Value, EnvelopeError> {
    let state: Order = fold(event, past)?;
    let missing = || incomplete(event, "OrderOpened");
    let order_id: OrderId = state.order_id.clone().ok_or_else(missing)?;
    let payment_id: PaymentId = state
        .payment
        .clone()
        .ok_or_else(|| incomplete(event, "CheckoutStarted"))?;
    let mut items = Vec::new();
    for item in &state.items {
        for (index, label) in item.seat_labels.iter().enumerate() {
            let price_minor = match item.seat_price(index) {
                Some(price) => price,
                None => prices.of(store, event, &item.show_id, label).await?,
            };
            items.push(PaidItem {
                reservation_id: item.reservation_id.clone(),
                show_id: item.show_id.clone(),
                seat_label: label.clone(),
                price_minor,
            });
        }
    }
    let data = OrderPaidData {
        order_id,
        customer_id: state.customer.clone().ok_or_else(missing)?,
        payment_id,
        total_minor: state.total_minor(),
        currency: state.currency.clone().ok_or_else(missing)?,
        items,
    };
    encode(event, data)
}

/// Seat prices from the show's plan, for order items added before items
/// recorded each seat's price; each show's plan is read once per batch.
#[derive(Default)]
struct SeatPrices {
    plans: HashMap<ShowId, HashMap<ticketing_aggregates::SeatLabel, i64>>,
}

impl SeatPrices {
    async fn of(
        &mut self,
        store: &Store,
        event: &FeedEvent,
        show: &ShowId,
        label: &ticketing_aggregates::SeatLabel,
    ) -> Result<i64, EnvelopeError> {
        if !self.plans.contains_key(show) {
            let scheduled = store.load::<Show>(show.as_str(), 0).await?;
            let state: Show = fold(event, &scheduled[..scheduled.len().min(1)])?;
            let details = state
                .details
                .ok_or_else(|| incomplete(event, "ShowScheduled"))?;
            let index = details
                .plan
                .index()
                .into_iter()
                .map(|(label, price)| (label, price.get()))
                .collect();
            self.plans.insert(show.clone(), index);
        }
        Ok(self.plans[show].get(label).copied().unwrap_or_default())
    }
}

/// The event's own fields, unwrapped from cqrs-es' `{"EventType": {…}}`.
fn unwrap<T: DeserializeOwned>(event: &FeedEvent) -> Result<T, EnvelopeError> {
    let stored = &event.event;
    let inner = match &stored.payload {
        Value::Object(fields) if fields.len() == 1 => fields.get(&stored.event_type),
        _ => None,
    }
    .ok_or_else(|| EnvelopeError::Payload {
        global_seq: event.global_seq,
        event_type: stored.event_type.clone(),
    })?;
    T::deserialize(inner).map_err(|source| EnvelopeError::Decode {
        global_seq: event.global_seq,
        event_type: stored.event_type.clone(),
        source,
    })
}

fn encode(event: &FeedEvent, data: impl serde::Serialize) -> Result<Value, EnvelopeError> {
    serde_json::to_value(data).map_err(|source| EnvelopeError::Decode {
        global_seq: event.global_seq,
        event_type: event.event.event_type.clone(),
        source,
    })
}

fn incomplete(event: &FeedEvent, missing: &'static str) -> EnvelopeError {
    EnvelopeError::Incomplete {
        global_seq: event.global_seq,
        missing,
    }
}
