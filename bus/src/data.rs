//! The `data` of each topic: the public contract consumers code against.
//! Each is self-contained — a consumer never has to ask the engine what an
//! event is about — and documented with a JSON Schema in
//! `docs/integration-events.md`.
//!
//! Ids are the engine's validated types, so deserializing an envelope also
//! checks them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticketing_aggregates::{
    Currency, OrderId, PaymentId, ReservationId, SeatLabel, ShowId, TicketDetails, UserRef,
};

/// `reservation-created`, `reservation-expired`, `reservation-released`:
/// the hold as it stood at that event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationData {
    pub reservation_id: ReservationId,
    pub show_id: ShowId,
    pub seat_labels: Vec<SeatLabel>,
    pub customer_id: UserRef,
    /// The hold's deadline.
    pub expires_at: DateTime<Utc>,
}

/// `payment-succeeded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSucceededData {
    pub payment_id: PaymentId,
    pub order_id: OrderId,
    pub amount_minor: i64,
    pub currency: Currency,
    /// The charge at the provider.
    pub provider_ref: String,
}

/// `payment-failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailedData {
    pub payment_id: PaymentId,
    pub order_id: OrderId,
    pub amount_minor: i64,
    pub currency: Currency,
    /// Why the provider declined, as shown to the customer.
    pub reason: String,
}

/// `order-paid`: the order and every seat it bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPaidData {
    pub order_id: OrderId,
    pub customer_id: UserRef,
    pub payment_id: PaymentId,
    pub total_minor: i64,
    pub currency: Currency,
    /// One per seat.
    pub items: Vec<PaidItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidItem {
    pub reservation_id: ReservationId,
    pub show_id: ShowId,
    pub seat_label: SeatLabel,
    pub price_minor: i64,
}

/// `ticket-issued`: the ticket as printed, with its signed QR payload, and
/// how many tickets its order got (a mailer sends them together).
pub type TicketIssuedData = TicketDetails;
