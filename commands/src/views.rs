//! What commands return to the gateway. Also the payload of idempotency
//! records, so a replayed request gets the very same answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticketing_aggregates::{
    Order, OrderId, OrderItem, OrderStatus, Reservation, ReservationId, ReservationStatus,
    SeatLabel, ShowDetails, ShowId, ShowStatus,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShowView {
    pub show_id: ShowId,
    pub title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub currency: String,
    pub status: ShowStatus,
    pub seat_count: u32,
    pub time_zone: String,
}

impl ShowView {
    pub fn new(details: &ShowDetails, status: ShowStatus) -> Self {
        Self {
            show_id: details.show_id.clone(),
            title: details.title.clone(),
            venue: details.venue.clone(),
            starts_at: details.starts_at,
            currency: details.currency.to_string(),
            status,
            seat_count: u32::try_from(details.plan.seat_count()).unwrap_or(u32::MAX),
            time_zone: details.time_zone.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationView {
    pub reservation_id: ReservationId,
    pub show_id: ShowId,
    pub seat_labels: Vec<SeatLabel>,
    pub expires_at: DateTime<Utc>,
    pub status: ReservationStatus,
}

impl ReservationView {
    /// `None` for a reservation that does not exist. An active reservation
    /// past its deadline reads as expired even before the expirer ran.
    pub fn of(reservation: &Reservation, now: DateTime<Utc>) -> Option<Self> {
        let until = reservation.until?;
        let status = match reservation.status {
            ReservationStatus::Active if until <= now => ReservationStatus::Expired,
            status => status,
        };
        Some(Self {
            reservation_id: reservation.id.clone()?,
            show_id: reservation.show_id.clone()?,
            seat_labels: reservation.seats.clone(),
            expires_at: until,
            status,
        })
    }
}

/// An order as commands return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    pub total_minor: i64,
    pub currency: String,
    /// When the order's holds end unless it is paid (the earliest deadline
    /// of its live reservations); `None` once nothing is held.
    pub expires_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
}

impl OrderView {
    pub fn of(order: &Order, expires_at: Option<DateTime<Utc>>) -> Option<Self> {
        Some(Self {
            order_id: order.order_id.clone()?,
            status: order.status,
            items: order.items.clone(),
            total_minor: order.total_minor(),
            currency: order.currency.as_ref()?.to_string(),
            expires_at,
            failure_reason: order.failure_reason.clone(),
        })
    }
}
