//! The Reservation aggregate: a customer's all-or-nothing hold on 1–N seats
//! of one show, with one deadline.
//!
//! It owns the rules that need the show: the show must be published (not
//! scheduled-only, not cancelled) and every seat must be in its plan. The
//! caller loads the Show and passes what it knows as [`ShowFacts`], so the
//! aggregate stays pure.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

use crate::{
    OrderId, PriceMinor, ReleaseReason, ReservationId, SeatLabel, ShowId, ShowStatus, UserRef,
};

mod decide;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ReservationStatus {
    /// Not created yet.
    #[default]
    Unknown,
    Active,
    Released,
    Expired,
    Converted,
}

/// What a reservation needs to know about its show.
#[derive(Debug, Clone)]
pub struct ShowFacts {
    pub show_id: ShowId,
    pub status: ShowStatus,
    /// Holds end when the show begins: nobody buys a show in progress.
    pub starts_at: DateTime<Utc>,
    pub seats: Arc<HashMap<SeatLabel, PriceMinor>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Reservation {
    pub status: ReservationStatus,
    pub id: Option<ReservationId>,
    pub customer: Option<UserRef>,
    pub show_id: Option<ShowId>,
    pub seats: Vec<SeatLabel>,
    pub until: Option<DateTime<Utc>>,
    /// The deadline it was created with: extensions stop one hold TTL
    /// after it (created + 2 × TTL), so a hold cannot be kept forever.
    #[serde(default)]
    pub first_until: Option<DateTime<Utc>>,
    /// The order that bought it, once converted.
    pub order: Option<OrderId>,
}

#[derive(Debug)]
pub enum ReservationCommand {
    Create {
        reservation_id: ReservationId,
        customer: UserRef,
        show: ShowFacts,
        seats: Vec<SeatLabel>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        max_seats: usize,
    },
    Release {
        by: UserRef,
    },
    /// Its show was cancelled: the hold ends, whoever owns it.
    Withdraw,
    Expire {
        now: DateTime<Utc>,
    },
    /// Moves the deadline to `until` (adding to a cart does this), but never
    /// past the first deadline plus `hold_ttl`.
    Extend {
        by: UserRef,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        hold_ttl: chrono::Duration,
    },
    /// The order holding this reservation was paid: its seats are sold.
    Convert {
        order_id: OrderId,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReservationEvent {
    ReservationCreated {
        reservation_id: ReservationId,
        customer: UserRef,
        show_id: ShowId,
        seats: Vec<SeatLabel>,
        until: DateTime<Utc>,
    },
    ReservationReleased {},
    ReservationExpired {},
    ReservationExtended {
        until: DateTime<Utc>,
    },
    ReservationConverted {
        order_id: OrderId,
    },
}

impl DomainEvent for ReservationEvent {
    fn event_type(&self) -> String {
        match self {
            ReservationEvent::ReservationCreated { .. } => "ReservationCreated",
            ReservationEvent::ReservationReleased {} => "ReservationReleased",
            ReservationEvent::ReservationExpired {} => "ReservationExpired",
            ReservationEvent::ReservationExtended { .. } => "ReservationExtended",
            ReservationEvent::ReservationConverted { .. } => "ReservationConverted",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservationError {
    #[error("reservation already exists")]
    AlreadyExists,
    #[error("no such reservation")]
    NotFound,
    #[error("no such show")]
    ShowNotFound,
    #[error("the show is not on sale yet")]
    ShowNotOnSale,
    #[error("the show is cancelled")]
    ShowCancelled,
    #[error("the show has already started")]
    ShowStarted,
    #[error("a reservation holds 1 to {max} seats, got {got}")]
    SeatCount { got: usize, max: usize },
    #[error("seat {0} is listed twice")]
    DuplicateSeat(SeatLabel),
    #[error("seats not in the show's plan: {0:?}")]
    UnknownSeats(Vec<SeatLabel>),
    #[error("only the customer who made the reservation may change it")]
    NotOwner,
    #[error("the reservation was already bought")]
    AlreadyConverted,
    #[error("the reservation's deadline has not passed")]
    NotDue,
    #[error("the reservation's deadline has passed")]
    Expired,
    #[error("the reservation was released")]
    Released,
}

impl Aggregate for Reservation {
    const TYPE: &'static str = "Reservation";
    type Command = ReservationCommand;
    type Event = ReservationEvent;
    type Error = ReservationError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ReservationCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ReservationError> {
        let events = decide::decide(self, command)?;
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ReservationEvent) {
        match event {
            ReservationEvent::ReservationCreated {
                reservation_id,
                customer,
                show_id,
                seats,
                until,
            } => {
                self.status = ReservationStatus::Active;
                self.id = Some(reservation_id);
                self.customer = Some(customer);
                self.show_id = Some(show_id);
                self.seats = seats;
                self.until = Some(until);
                self.first_until = Some(until);
            }
            ReservationEvent::ReservationReleased {} => self.status = ReservationStatus::Released,
            ReservationEvent::ReservationExpired {} => self.status = ReservationStatus::Expired,
            ReservationEvent::ReservationExtended { until } => self.until = Some(until),
            ReservationEvent::ReservationConverted { order_id } => {
                self.status = ReservationStatus::Converted;
                self.order = Some(order_id);
            }
        }
    }
}

impl Reservation {
    /// How its seats are released when the reservation ends.
    pub fn release_reason(&self) -> ReleaseReason {
        if self.status == ReservationStatus::Expired {
            ReleaseReason::Expired
        } else {
            ReleaseReason::Released
        }
    }
}
