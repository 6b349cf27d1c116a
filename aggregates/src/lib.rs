//! The pure domain of the ticketing engine: validated value types and the
//! event-sourced aggregates (cqrs-es) that decide every state change.
//!
//! * `ids.rs`, `money.rs`, `plan.rs` — validated newtypes: a value that exists
//!   is valid, so nothing downstream re-checks it.
//! * `show.rs`, `seat.rs`, `reservation/` — aggregates of the sale: decide
//!   from state and command, return events; no clock, no I/O (time arrives
//!   in commands).
//! * `cart.rs`, `order.rs`, `payment.rs` — aggregates of the purchase: the
//!   customer's open cart, the order, one payment attempt.
//! * `holds.rs` — CustomerHolds: a customer's held seats of one show,
//!   counted against the show's limit.
//! * `ticket.rs` — the Ticket: issued per sold seat, checked in once.
//! * `zone.rs` — the IANA time zone a show is played in.
//! * `upcast.rs` — how events of older versions are read as today's (the
//!   store applies the rules on every read path).
//! * `ports.rs` — the clock, the payment provider and the ticket signer as
//!   traits.
//!
//! The rules that span aggregates (a seat must be in its show's plan, the
//! show must be on sale) live in the Reservation, fed with [`ShowFacts`].

mod cart;
mod holds;
mod ids;
mod money;
mod order;
mod payment;
mod plan;
mod ports;
mod reservation;
mod seat;
mod show;
mod ticket;
pub mod upcast;
mod zone;

pub use cart::{Cart, CartAlreadyOpen, CartCommand, CartEvent};
pub use holds::{
    holds_id, CountedHold, CustomerHolds, CustomerHoldsCommand, CustomerHoldsEvent,
    HoldLimitReached, MAX_HELD_SEATS,
};
pub use ids::{seat_id, OrderId, PaymentId, ReservationId, SeatLabel, ShowId, TicketId, UserRef};
pub use money::{Currency, PriceMinor};
pub use order::{
    Order, OrderCommand, OrderError, OrderEvent, OrderItem, OrderStatus, MAX_ITEMS_PER_ORDER,
};
pub use payment::{
    CardRef, Payment, PaymentCommand, PaymentError, PaymentEvent, PaymentRequest, PaymentStatus,
};
pub use plan::{
    PlannedSeat, RawRow, RawSection, Row, SeatPlace, SeatingPlan, Section, MAX_SEATS_PER_SHOW,
};
pub use ports::{
    ChargeOutcome, ChargeRequest, Clock, PaymentProvider, ProviderError, ProviderFuture,
    RefundRequest, SystemClock, TicketSigner,
};
pub use reservation::{
    Reservation, ReservationCommand, ReservationError, ReservationEvent, ReservationStatus,
    ShowFacts,
};
pub use seat::{ReleaseReason, Seat, SeatCommand, SeatError, SeatEvent, SeatState};
pub use show::{Show, ShowCommand, ShowDetails, ShowError, ShowEvent, ShowStatus};
pub use ticket::{Ticket, TicketCommand, TicketDetails, TicketError, TicketEvent, TicketStatus};
pub use zone::TimeZoneName;

/// One field of user input that is malformed or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {description}")]
pub struct ValidationError {
    /// Path of the field in the request, e.g. `sections[0].rows[1].name`.
    pub field: String,
    pub description: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Who issues a command that needs ownership checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: UserRef,
    pub is_admin: bool,
}
