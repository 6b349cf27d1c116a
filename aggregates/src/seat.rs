//! The Seat aggregate (stream `{show_id}/{seat_label}`): held by at most one
//! live reservation, sold at most once.
//!
//! A seat with no events is available (the Reservation checked that the
//! show's plan lists it). The clock comes in the command: a hold whose
//! deadline has passed never blocks a new buyer — the stale hold is released
//! in the same append as the new SeatHeld, even when the expirer is behind.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ReservationId;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SeatState {
    #[default]
    Available,
    Held {
        reservation: ReservationId,
        until: DateTime<Utc>,
    },
    Sold {
        reservation: ReservationId,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Seat {
    pub state: SeatState,
}

#[derive(Debug)]
pub enum SeatCommand {
    Hold {
        reservation: ReservationId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    ExtendHold {
        reservation: ReservationId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// Ends `reservation`'s hold; a no-op when the seat is not held by it.
    Release {
        reservation: ReservationId,
        reason: ReleaseReason,
    },
    /// Sells a seat to the reservation that holds it, before its deadline.
    Sell {
        reservation: ReservationId,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReleaseReason {
    /// The customer let go.
    Released,
    /// The deadline passed.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SeatEvent {
    SeatHeld {
        reservation: ReservationId,
        until: DateTime<Utc>,
    },
    SeatHoldExtended {
        reservation: ReservationId,
        until: DateTime<Utc>,
    },
    SeatReleased {
        reservation: ReservationId,
        reason: ReleaseReason,
    },
    SeatSold {
        reservation: ReservationId,
    },
}

impl DomainEvent for SeatEvent {
    fn event_type(&self) -> String {
        match self {
            SeatEvent::SeatHeld { .. } => "SeatHeld",
            SeatEvent::SeatHoldExtended { .. } => "SeatHoldExtended",
            SeatEvent::SeatReleased { .. } => "SeatReleased",
            SeatEvent::SeatSold { .. } => "SeatSold",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeatError {
    /// Held by another live reservation (with its deadline) or sold.
    #[error("seat is not available")]
    Unavailable { held_until: Option<DateTime<Utc>> },
    #[error("the hold has ended")]
    HoldEnded,
    #[error("the deadline must lie after now")]
    DeadlineInThePast,
}

impl Aggregate for Seat {
    const TYPE: &'static str = "Seat";
    type Command = SeatCommand;
    type Event = SeatEvent;
    type Error = SeatError;
    type Services = ();

    async fn handle(
        &mut self,
        command: SeatCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), SeatError> {
        match command {
            SeatCommand::Hold {
                reservation,
                until,
                now,
            } => {
                if until <= now {
                    return Err(SeatError::DeadlineInThePast);
                }
                match &self.state {
                    SeatState::Available => {}
                    SeatState::Held {
                        reservation: stale,
                        until: deadline,
                    } if *deadline <= now => {
                        let released = SeatEvent::SeatReleased {
                            reservation: stale.clone(),
                            reason: ReleaseReason::Expired,
                        };
                        sink.write(released, self).await;
                    }
                    SeatState::Held { until, .. } => {
                        return Err(SeatError::Unavailable {
                            held_until: Some(*until),
                        })
                    }
                    SeatState::Sold { .. } => {
                        return Err(SeatError::Unavailable { held_until: None })
                    }
                }
                sink.write(SeatEvent::SeatHeld { reservation, until }, self)
                    .await;
            }
            SeatCommand::ExtendHold {
                reservation,
                until,
                now,
            } => match &self.state {
                SeatState::Held {
                    reservation: holder,
                    until: deadline,
                } if *holder == reservation && *deadline > now => {
                    if until > *deadline {
                        let extended = SeatEvent::SeatHoldExtended { reservation, until };
                        sink.write(extended, self).await;
                    }
                }
                _ => return Err(SeatError::HoldEnded),
            },
            SeatCommand::Release {
                reservation,
                reason,
            } => {
                if matches!(&self.state, SeatState::Held { reservation: holder, .. } if *holder == reservation)
                {
                    let released = SeatEvent::SeatReleased {
                        reservation,
                        reason,
                    };
                    sink.write(released, self).await;
                }
            }
            SeatCommand::Sell { reservation, now } => match &self.state {
                SeatState::Held {
                    reservation: holder,
                    until,
                } if *holder == reservation && *until > now => {
                    sink.write(SeatEvent::SeatSold { reservation }, self).await;
                }
                SeatState::Sold { reservation: buyer } if *buyer == reservation => {}
                _ => return Err(SeatError::HoldEnded),
            },
        }
        Ok(())
    }

    fn apply(&mut self, event: SeatEvent) {
        self.state = match event {
            SeatEvent::SeatHeld { reservation, until }
            | SeatEvent::SeatHoldExtended { reservation, until } => {
                SeatState::Held { reservation, until }
            }
            SeatEvent::SeatReleased { .. } => SeatState::Available,
            SeatEvent::SeatSold { reservation } => SeatState::Sold { reservation },
        };
    }
}
