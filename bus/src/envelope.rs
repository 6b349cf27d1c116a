//! Which domain events leave the engine as integration events, on which
//! topic, and in what envelope (design.md §6).
//!
//! | aggregate   | domain event          | topic                  | data |
//! |-------------|-----------------------|------------------------|------|
//! | Reservation | ReservationCreated    | `reservation-created`  | [`ReservationData`] |
//! | Reservation | ReservationExpired    | `reservation-expired`  | [`ReservationData`] |
//! | Reservation | ReservationReleased   | `reservation-released` | [`ReservationData`] |
//! | Order       | OrderPaid             | `order-paid`           | [`OrderPaidData`] |
//! | Payment     | PaymentSucceeded      | `payment-succeeded`    | [`PaymentSucceededData`] |
//! | Payment     | PaymentFailed         | `payment-failed`       | [`PaymentFailedData`] |
//! | Ticket      | TicketIssued          | `ticket-issued`        | [`TicketIssuedData`] |
//!
//! Every other event maps to nothing. The key is the aggregate id, so a
//! topic partitioned by key keeps each aggregate's events in order. The
//! envelope's `id` is the event's global position, unique across the log:
//! consumers dedupe on it, because delivery is at least once.
//!
//! [`ReservationData`]: crate::ReservationData
//! [`OrderPaidData`]: crate::OrderPaidData
//! [`PaymentSucceededData`]: crate::PaymentSucceededData
//! [`PaymentFailedData`]: crate::PaymentFailedData
//! [`TicketIssuedData`]: crate::TicketIssuedData

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The envelope's `source`.
pub const SOURCE: &str = "ticketing";

/// A topic: its name and the version of its `data` shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic {
    pub name: &'static str,
    /// Bumped whenever the topic's `data` changes shape.
    pub schema_version: u32,
}

pub const RESERVATION_CREATED: Topic = Topic {
    name: "reservation-created",
    schema_version: 2,
};
pub const RESERVATION_EXPIRED: Topic = Topic {
    name: "reservation-expired",
    schema_version: 2,
};
pub const RESERVATION_RELEASED: Topic = Topic {
    name: "reservation-released",
    schema_version: 2,
};
pub const ORDER_PAID: Topic = Topic {
    name: "order-paid",
    schema_version: 2,
};
pub const PAYMENT_SUCCEEDED: Topic = Topic {
    name: "payment-succeeded",
    schema_version: 2,
};
pub const PAYMENT_FAILED: Topic = Topic {
    name: "payment-failed",
    schema_version: 2,
};
pub const TICKET_ISSUED: Topic = Topic {
    name: "ticket-issued",
    schema_version: 1,
};

/// Every topic the engine publishes to.
pub const TOPICS: [Topic; 7] = [
    RESERVATION_CREATED,
    RESERVATION_EXPIRED,
    RESERVATION_RELEASED,
    ORDER_PAID,
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    TICKET_ISSUED,
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
    /// The topic's data: self-contained, so no consumer asks the engine.
    pub data: Value,
    /// The version of `data`'s shape (see [`Topic::schema_version`]).
    pub schema_version: u32,
}

impl Envelope {
    /// The data as the topic's type; an error names the envelope.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, EnvelopeError> {
        T::deserialize(&self.data).map_err(|source| EnvelopeError::Data {
            id: self.id,
            event_type: self.event_type.clone(),
            source,
        })
    }
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
    #[error("event {global_seq} ({event_type}): {source}")]
    Decode {
        global_seq: i64,
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("event {global_seq}: its stream has no {missing} before it")]
    Incomplete {
        global_seq: i64,
        missing: &'static str,
    },
    #[error("envelope {id} ({event_type}): data does not match its topic: {source}")]
    Data {
        id: i64,
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Store(#[from] ticketing_event_store::StoreError),
}
