//! The CustomerHolds aggregate (stream = `<show id>/<customer id>`): the
//! reservations a customer may still be holding on one show, so "at most
//! so many held seats per customer and show" is one decision. Two
//! ReserveSeats of the same customer racing on one show contend on this
//! stream; the loser reads again and counts the winner's seats.
//!
//! Each event lists every reservation that may still hold seats (its state
//! is its last event). Holds end without touching this stream (release,
//! expiry, purchase); the list only ever over-counts, and when a new hold
//! would pass the limit the engine reads the listed reservations and
//! counts only the live ones ([`CustomerHolds::prune`]).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{ReservationId, ShowId, UserRef};

/// The highest limit a show may set (0, no limit, aside): every event of
/// the count lists the reservations under it, so the limit bounds the
/// event's size (about 70 bytes a listed reservation).
pub const MAX_HELD_SEATS: u32 = 100;

/// The stream id of `customer`'s holds on `show`.
pub fn holds_id(show: &ShowId, customer: &UserRef) -> String {
    format!("{show}/{customer}")
}

/// One reservation as the count keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedHold {
    pub reservation_id: ReservationId,
    pub seats: u32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CustomerHolds {
    /// Reservations that may still hold seats, oldest first.
    pub listed: Vec<CountedHold>,
}

impl CustomerHolds {
    /// Seats the listed reservations hold at most.
    pub fn seats(&self) -> u32 {
        self.listed.iter().map(|hold| hold.seats).sum()
    }

    /// Keeps only the reservations `live` says still hold seats.
    pub fn prune(&mut self, live: impl Fn(&ReservationId) -> bool) {
        self.listed.retain(|hold| live(&hold.reservation_id));
    }
}

#[derive(Debug)]
pub enum CustomerHoldsCommand {
    /// Counts a new reservation of `seats` seats, unless the live count
    /// would pass `limit`.
    Count {
        reservation_id: ReservationId,
        seats: u32,
        limit: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CustomerHoldsEvent {
    /// Every reservation that may still hold seats, the new one last.
    HoldsCounted { listed: Vec<CountedHold> },
}

impl DomainEvent for CustomerHoldsEvent {
    fn event_type(&self) -> String {
        "HoldsCounted".to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// The customer would hold more seats of the show than its limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("holds {held} seats of this show; at most {limit} may be held at once")]
pub struct HoldLimitReached {
    pub held: u32,
    pub limit: u32,
}

impl Aggregate for CustomerHolds {
    const TYPE: &'static str = "CustomerHolds";
    type Command = CustomerHoldsCommand;
    type Event = CustomerHoldsEvent;
    type Error = HoldLimitReached;
    type Services = ();

    async fn handle(
        &mut self,
        command: CustomerHoldsCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), HoldLimitReached> {
        let CustomerHoldsCommand::Count {
            reservation_id,
            seats,
            limit,
        } = command;
        let held = self.seats();
        if held.saturating_add(seats) > limit {
            return Err(HoldLimitReached { held, limit });
        }
        let mut listed = self.listed.clone();
        listed.push(CountedHold {
            reservation_id,
            seats,
        });
        sink.write(CustomerHoldsEvent::HoldsCounted { listed }, self)
            .await;
        Ok(())
    }

    fn apply(&mut self, event: CustomerHoldsEvent) {
        let CustomerHoldsEvent::HoldsCounted { listed } = event;
        self.listed = listed;
    }
}
