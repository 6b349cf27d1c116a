//! Which domain events leave the engine as integration events, and in what
//! shape: topic, key and the JSON envelope (design.md §6).
//!
//! | aggregate   | domain event          | topic                  |
//! |-------------|-----------------------|------------------------|
//! | Reservation | ReservationCreated    | `reservation-created`  |
//! | Reservation | ReservationExpired    | `reservation-expired`  |
//! | Reservation | ReservationReleased   | `reservation-released` |
//! | Order       | OrderPaid             | `order-paid`           |
//! | Payment     | PaymentSucceeded      | `payment-succeeded`    |
//! | Payment     | PaymentFailed         | `payment-failed`       |
//!
//! Every other event maps to nothing. `ticket-issued` is not here yet: there
//! is no TicketIssued domain event until tickets are built (design.md §9).
//!
//! The key is the aggregate id, so a topic partitioned by key keeps each
//! aggregate's events in order. The envelope's `id` is the event's global
//! position, unique across the log: consumers dedupe on it, because delivery
//! is at least once.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ticketing_aggregates::{Order, Payment, Reservation};
use ticketing_event_store::FeedEvent;

/// The envelope's `source`.
pub const SOURCE: &str = "ticketing";

/// (aggregate type, domain event type, topic) of every published event.
const ROUTES: [(&str, &str, &str); 6] = [
    (
        Reservation::TYPE,
        "ReservationCreated",
        "reservation-created",
    ),
    (
        Reservation::TYPE,
        "ReservationExpired",
        "reservation-expired",
    ),
    (
        Reservation::TYPE,
        "ReservationReleased",
        "reservation-released",
    ),
    (Order::TYPE, "OrderPaid", "order-paid"),
    (Payment::TYPE, "PaymentSucceeded", "payment-succeeded"),
    (Payment::TYPE, "PaymentFailed", "payment-failed"),
];

/// Every topic the relay publishes to, as the domain names it.
pub const TOPICS: [&str; 6] = [
    ROUTES[0].2,
    ROUTES[1].2,
    ROUTES[2].2,
    ROUTES[3].2,
    ROUTES[4].2,
    ROUTES[5].2,
];

/// The JSON value of an integration event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The event's global position; the same on every redelivery.
    pub id: i64,
    /// What happened, named like the topic (`reservation-created`).
    #[serde(rename = "type")]
    pub event_type: String,
    pub source: String,
    /// The aggregate the event is about (also the message key).
    pub subject: String,
    /// When the event was recorded in the log (RFC 3339, UTC).
    pub time: DateTime<Utc>,
    /// The domain event's fields, as stored.
    pub data: Value,
    /// The domain event's version (`event_version`); bumps when `data` changes shape.
    pub schema_version: u32,
}

/// One message for the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationEvent {
    /// A topic from [`TOPICS`], without any deployment prefix.
    pub topic: &'static str,
    /// The aggregate id.
    pub key: String,
    pub envelope: Envelope,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("event {global_seq} ({event_type}): payload is not {{\"{event_type}\": {{…}}}}")]
    Payload { global_seq: i64, event_type: String },
    #[error("event {global_seq}: event_version {version:?} is not a number")]
    Version { global_seq: i64, version: String },
}

/// The integration event for `event`, or `None` when it is not published.
pub fn integration_event(event: &FeedEvent) -> Result<Option<IntegrationEvent>, EnvelopeError> {
    let stored = &event.event;
    let Some(&(_, _, topic)) = ROUTES.iter().find(|(aggregate, kind, _)| {
        *aggregate == stored.aggregate_type && *kind == stored.event_type
    }) else {
        return Ok(None);
    };
    // cqrs-es stores an enum variant externally tagged: {"OrderPaid": {...}}.
    let data = match &stored.payload {
        Value::Object(fields) if fields.len() == 1 => fields.get(&stored.event_type),
        _ => None,
    }
    .ok_or_else(|| EnvelopeError::Payload {
        global_seq: event.global_seq,
        event_type: stored.event_type.clone(),
    })?;
    let schema_version = stored
        .event_version
        .parse()
        .map_err(|_| EnvelopeError::Version {
            global_seq: event.global_seq,
            version: stored.event_version.clone(),
        })?;
    Ok(Some(IntegrationEvent {
        topic,
        key: stored.aggregate_id.clone(),
        envelope: Envelope {
            id: event.global_seq,
            event_type: topic.to_owned(),
            source: SOURCE.to_owned(),
            subject: stored.aggregate_id.clone(),
            time: event.recorded_at,
            data: data.clone(),
            schema_version,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::DomainEvent;
    use serde_json::json;
    use ticketing_aggregates::{OrderEvent, PaymentEvent, PaymentId, ReservationEvent};
    use ticketing_event_store::{FeedPosition, SerializedEvent};

    fn feed_event(aggregate_type: &str, id: &str, event: &impl DomainEvent) -> FeedEvent {
        FeedEvent {
            position: FeedPosition { tx: 7, seq: 42 },
            global_seq: 42,
            recorded_at: Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap(),
            event: SerializedEvent {
                aggregate_id: id.into(),
                sequence: 3,
                aggregate_type: aggregate_type.into(),
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload: serde_json::to_value(event).unwrap(),
                metadata: json!({"command": "Test", "actor": "u_1"}),
            },
        }
    }

    #[test]
    fn a_failed_payment_becomes_an_envelope_keyed_by_the_payment() {
        let failed = PaymentEvent::PaymentFailed {
            reason: "card declined".into(),
        };
        let event = feed_event(Payment::TYPE, "p_1", &failed);
        let published = integration_event(&event).unwrap().expect("published");
        assert_eq!(published.topic, "payment-failed");
        assert_eq!(published.key, "p_1");
        let value = serde_json::to_value(&published.envelope).unwrap();
        assert_eq!(
            value,
            json!({
                "id": 42,
                "type": "payment-failed",
                "source": "ticketing",
                "subject": "p_1",
                "time": "2026-11-26T12:00:00Z",
                "data": {"reason": "card declined"},
                "schema_version": 1,
            })
        );
        let time = value["time"].as_str().unwrap();
        assert!(
            DateTime::parse_from_rfc3339(time).is_ok(),
            "{time} is RFC 3339"
        );
    }

    /// The topic `event` is published on, checking `data` on the way.
    fn topic(aggregate_type: &str, event: &impl DomainEvent) -> Option<&'static str> {
        let event = feed_event(aggregate_type, "x_1", event);
        let published = integration_event(&event).unwrap()?;
        assert_eq!(published.envelope.event_type, published.topic);
        let inner = &event.event.payload[&event.event.event_type];
        assert_eq!(
            &published.envelope.data, inner,
            "data is the unwrapped payload"
        );
        Some(published.topic)
    }

    #[test]
    fn each_route_matches_its_aggregate_and_event_and_nothing_else() {
        use ReservationEvent::*;
        let expired = topic(Reservation::TYPE, &ReservationExpired {});
        assert_eq!(expired, Some("reservation-expired"));
        let released = topic(Reservation::TYPE, &ReservationReleased {});
        assert_eq!(released, Some("reservation-released"));
        let paid = OrderEvent::OrderPaid {
            payment_id: PaymentId::generate(),
        };
        assert_eq!(topic(Order::TYPE, &paid), Some("order-paid"));
        let succeeded = PaymentEvent::PaymentSucceeded {
            provider_ref: "ch_1".into(),
        };
        assert_eq!(topic(Payment::TYPE, &succeeded), Some("payment-succeeded"));

        let refunded = PaymentEvent::PaymentRefunded {
            reason: "late".into(),
        };
        assert_eq!(topic(Payment::TYPE, &refunded), None);
        let converted = ReservationConverted {
            order_id: ticketing_aggregates::OrderId::generate(),
        };
        assert_eq!(topic(Reservation::TYPE, &converted), None);
        // The same event name under another aggregate type is not a match.
        let failed = PaymentEvent::PaymentFailed { reason: "x".into() };
        assert_eq!(topic(Order::TYPE, &failed), None);
    }

    #[test]
    fn a_payload_not_wrapped_in_its_event_name_is_an_error() {
        let failed = PaymentEvent::PaymentFailed { reason: "x".into() };
        let mut event = feed_event(Payment::TYPE, "p_1", &failed);
        event.event.payload = json!({"reason": "x"});
        assert!(matches!(
            integration_event(&event),
            Err(EnvelopeError::Payload { global_seq: 42, .. })
        ));
        event.event.payload = serde_json::to_value(&failed).unwrap();
        event.event.event_version = "v2".into();
        assert!(matches!(
            integration_event(&event),
            Err(EnvelopeError::Version { .. })
        ));
    }
}
