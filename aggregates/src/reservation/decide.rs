//! The Reservation's decisions: from its state and a command to the events
//! that follow, or the rule that refuses it.

use std::collections::HashSet;

use super::{
    Reservation, ReservationCommand, ReservationError, ReservationEvent, ReservationStatus,
    ShowFacts,
};
use crate::{SeatLabel, ShowStatus};

pub(super) fn decide(
    state: &Reservation,
    command: ReservationCommand,
) -> Result<Vec<ReservationEvent>, ReservationError> {
    match command {
        ReservationCommand::Create {
            reservation_id,
            customer,
            show,
            seats,
            until,
            now,
            max_seats,
        } => {
            if state.status != ReservationStatus::Unknown {
                return Err(ReservationError::AlreadyExists);
            }
            check_show(&show)?;
            if show.starts_at <= now {
                return Err(ReservationError::ShowStarted);
            }
            check_seats(&show, &seats, max_seats)?;
            Ok(vec![ReservationEvent::ReservationCreated {
                reservation_id,
                customer,
                show_id: show.show_id,
                seats,
                until,
            }])
        }
        ReservationCommand::Release { by } => {
            check_owner(state, &by)?;
            match state.status {
                ReservationStatus::Unknown => Err(ReservationError::NotFound),
                ReservationStatus::Active => Ok(vec![ReservationEvent::ReservationReleased {}]),
                ReservationStatus::Converted => Err(ReservationError::AlreadyConverted),
                // Already over: releasing again changes nothing.
                ReservationStatus::Released | ReservationStatus::Expired => Ok(vec![]),
            }
        }
        ReservationCommand::Withdraw => match state.status {
            ReservationStatus::Unknown => Err(ReservationError::NotFound),
            ReservationStatus::Active => Ok(vec![ReservationEvent::ReservationReleased {}]),
            // Bought (the order is refunded instead) or already over.
            _ => Ok(vec![]),
        },
        ReservationCommand::Expire { now } => match state.status {
            ReservationStatus::Unknown => Err(ReservationError::NotFound),
            ReservationStatus::Active if state.until.is_some_and(|until| until <= now) => {
                Ok(vec![ReservationEvent::ReservationExpired {}])
            }
            ReservationStatus::Active => Err(ReservationError::NotDue),
            // Bought, released or already expired: nothing left to expire.
            _ => Ok(vec![]),
        },
        ReservationCommand::Extend {
            by,
            until,
            now,
            hold_ttl,
        } => {
            check_owner(state, &by)?;
            live(state, now)?;
            let until = match state.first_until {
                Some(first) => until.min(first + hold_ttl),
                None => until,
            };
            match state.until {
                Some(current) if until > current => {
                    Ok(vec![ReservationEvent::ReservationExtended { until }])
                }
                _ => Ok(vec![]),
            }
        }
        ReservationCommand::Convert { order_id, now } => {
            if state.status == ReservationStatus::Converted {
                return match state.order == Some(order_id) {
                    true => Ok(vec![]),
                    false => Err(ReservationError::AlreadyConverted),
                };
            }
            live(state, now)?;
            Ok(vec![ReservationEvent::ReservationConverted { order_id }])
        }
    }
}

/// Active and before its deadline.
fn live(state: &Reservation, now: chrono::DateTime<chrono::Utc>) -> Result<(), ReservationError> {
    match state.status {
        ReservationStatus::Unknown => Err(ReservationError::NotFound),
        ReservationStatus::Released => Err(ReservationError::Released),
        ReservationStatus::Converted => Err(ReservationError::AlreadyConverted),
        ReservationStatus::Expired => Err(ReservationError::Expired),
        ReservationStatus::Active if state.until.is_some_and(|until| until <= now) => {
            Err(ReservationError::Expired)
        }
        ReservationStatus::Active => Ok(()),
    }
}

fn check_owner(state: &Reservation, by: &crate::UserRef) -> Result<(), ReservationError> {
    if state.customer.as_ref().is_some_and(|owner| owner != by) {
        return Err(ReservationError::NotOwner);
    }
    Ok(())
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
