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
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::{PriceMinor, ReleaseReason, ReservationId, SeatLabel, ShowId, ShowStatus, UserRef};

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
}

#[derive(Debug)]
pub enum ReservationCommand {
    Create {
        reservation_id: ReservationId,
        customer: UserRef,
        show: ShowFacts,
        seats: Vec<SeatLabel>,
        until: DateTime<Utc>,
        max_seats: usize,
    },
    Release {
        by: UserRef,
    },
    Expire {
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
}

impl DomainEvent for ReservationEvent {
    fn event_type(&self) -> String {
        match self {
            ReservationEvent::ReservationCreated { .. } => "ReservationCreated",
            ReservationEvent::ReservationReleased {} => "ReservationReleased",
            ReservationEvent::ReservationExpired {} => "ReservationExpired",
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
        match command {
            ReservationCommand::Create {
                reservation_id,
                customer,
                show,
                seats,
                until,
                max_seats,
            } => {
                if self.status != ReservationStatus::Unknown {
                    return Err(ReservationError::AlreadyExists);
                }
                check_show(&show)?;
                check_seats(&show, &seats, max_seats)?;
                let created = ReservationEvent::ReservationCreated {
                    reservation_id,
                    customer,
                    show_id: show.show_id,
                    seats,
                    until,
                };
                sink.write(created, self).await;
            }
            ReservationCommand::Release { by } => {
                if self.customer.as_ref().is_some_and(|owner| *owner != by) {
                    return Err(ReservationError::NotOwner);
                }
                match self.status {
                    ReservationStatus::Unknown => return Err(ReservationError::NotFound),
                    ReservationStatus::Active => {
                        sink.write(ReservationEvent::ReservationReleased {}, self)
                            .await
                    }
                    ReservationStatus::Converted => return Err(ReservationError::AlreadyConverted),
                    // Already over: releasing again changes nothing.
                    ReservationStatus::Released | ReservationStatus::Expired => {}
                }
            }
            ReservationCommand::Expire { now } => match self.status {
                ReservationStatus::Unknown => return Err(ReservationError::NotFound),
                ReservationStatus::Active if self.until.is_some_and(|until| until <= now) => {
                    sink.write(ReservationEvent::ReservationExpired {}, self)
                        .await
                }
                ReservationStatus::Active => return Err(ReservationError::NotDue),
                _ => {}
            },
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
            }
            ReservationEvent::ReservationReleased {} => self.status = ReservationStatus::Released,
            ReservationEvent::ReservationExpired {} => self.status = ReservationStatus::Expired,
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

fn check_show(show: &ShowFacts) -> Result<(), ReservationError> {
    match show.status {
        ShowStatus::Published => Ok(()),
        ShowStatus::Unknown => Err(ReservationError::ShowNotFound),
        ShowStatus::Scheduled => Err(ReservationError::ShowNotOnSale),
        ShowStatus::Cancelled => Err(ReservationError::ShowCancelled),
    }
}

fn check_seats(
    show: &ShowFacts,
    seats: &[SeatLabel],
    max_seats: usize,
) -> Result<(), ReservationError> {
    if seats.is_empty() || seats.len() > max_seats {
        return Err(ReservationError::SeatCount {
            got: seats.len(),
            max: max_seats,
        });
    }
    let mut seen = HashSet::with_capacity(seats.len());
    if let Some(dup) = seats.iter().find(|label| !seen.insert(*label)) {
        return Err(ReservationError::DuplicateSeat(dup.clone()));
    }
    let unknown: Vec<SeatLabel> = seats
        .iter()
        .filter(|label| !show.seats.contains_key(*label))
        .cloned()
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ReservationError::UnknownSeats(unknown))
    }
}
