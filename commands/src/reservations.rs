//! ReserveSeats and ReleaseReservation: the contended path.
//!
//! A reservation is one atomic multi-stream append: ReservationCreated on the
//! new Reservation stream and SeatHeld on every Seat stream, each at the
//! sequence its decision was made on. Either every seat is held or none is,
//! and no crash can leave a partial hold behind. On a show with a limit of
//! held seats per customer, the append also counts the seats on the
//! customer's CustomerHolds stream (`holds.rs`).

use chrono::Duration;
use ticketing_aggregates::{
    holds_id, seat_id, CustomerHolds, ReleaseReason, Reservation, ReservationCommand,
    ReservationId, Seat, SeatCommand, SeatError, SeatLabel, ShowFacts, ShowId, UserRef,
};

use crate::engine::{exhausted, Commit, MAX_ATTEMPTS};
use crate::holds::limit_of;
use crate::load::{append, fold, load, metadata};
use crate::locks::LockAttempt;
use crate::shows::{show_tail, ShowState};
use crate::{CommandError, Engine, IdempotencyKey, ReservationView};
use cqrs_es::Aggregate;
use ticketing_event_store::StreamRef;

impl Engine {
    #[tracing::instrument(name = "command.reserve_seats", skip_all, fields(show = %show_id, seats = labels.len()))]
    pub async fn reserve_seats(
        &self,
        customer: &UserRef,
        show_id: &ShowId,
        labels: Vec<SeatLabel>,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<ReservationView, CommandError> {
        let result = self
            .try_reserve_seats(customer, show_id, labels, idempotency)
            .await;
        self.settle(result, idempotency).await
    }

    async fn try_reserve_seats(
        &self,
        customer: &UserRef,
        show_id: &ShowId,
        labels: Vec<SeatLabel>,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<ReservationView, CommandError> {
        if let Some(view) = self.replayed(idempotency).await? {
            return Ok(view);
        }
        let seat_ids: Vec<String> = labels.iter().map(|l| seat_id(show_id, l)).collect();
        // Losers of a race are answered from memory before queueing.
        self.refuse_known_taken(&labels, &seat_ids)?;
        let plan = self.plan_index(show_id).await?;
        let ttl = Duration::from_std(self.config.hold_ttl).map_err(CommandError::internal)?;
        let reservation_id = ReservationId::generate();
        let meta = metadata("ReserveSeats", customer.as_str());
        let _passage = self.gate.enter(&seat_ids).await;
        self.refuse_known_taken(&labels, &seat_ids)?;
        // Then the other processes' deciders: a seat one of them is
        // deciding on, or just took, is refused without a read.
        let mut lease = match &self.locks {
            None => None,
            Some(locks) => match locks.acquire(&seat_ids).await {
                LockAttempt::Acquired(lease) => Some(lease),
                LockAttempt::Bypassed => None,
                LockAttempt::Contended(at) => {
                    let label = labels.get(at).unwrap_or(&labels[0]).clone();
                    return Err(CommandError::SeatUnavailable(vec![label]));
                }
            },
        };
        // The show's events after ShowScheduled, every seat and, on a show
        // with a hold limit, the customer's count of held seats: one read.
        let limit = limit_of(&plan.show, self.config.max_held_seats);
        let holds = holds_id(show_id, customer);
        let mut streams = vec![show_tail(show_id)];
        streams.extend(seat_ids.iter().map(|id| StreamRef {
            aggregate_type: <Seat as Aggregate>::TYPE,
            aggregate_id: id,
            after_sequence: 0,
        }));
        if limit.is_some() {
            streams.push(self.holds_stream(&holds));
        }
        // First, if it can, the hold decides without a read: on the show's
        // status as this process last saw it and on seats no hold of this
        // process has touched, guessed to have no events yet. Both are
        // checked by the append (the show's condition, the seats' expected
        // sequences), so a wrong guess costs a conflict and a read, never a
        // wrong hold; a refusal on a guess is not trusted either.
        let mut guess = plan
            .known_state()
            .filter(|_| !self.gate.any_written(&seat_ids));
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let until = now + ttl;
            let guessed = guess.take();
            let (state, seats, counted) = match guessed {
                Some(state) => (state, vec![Vec::new(); seat_ids.len()], None),
                None => {
                    let mut loaded = self.store.load_streams(&streams).await?.into_iter();
                    let state = ShowState::after_scheduled(loaded.next().unwrap_or_default())?;
                    plan.remember(state);
                    let mut seats: Vec<_> = loaded.collect();
                    let counted = limit.and_then(|_| seats.pop());
                    (state, seats, counted)
                }
            };
            let show = ShowFacts {
                show_id: show_id.clone(),
                status: state.status,
                starts_at: plan.show.starts_at,
                seats: plan.seats.clone(),
            };
            let mut reservation = Reservation::default();
            let decided = crate::load::decide(
                &mut reservation,
                ReservationCommand::Create {
                    reservation_id: reservation_id.clone(),
                    customer: customer.clone(),
                    show,
                    seats: labels.clone(),
                    until,
                    now,
                    max_seats: self.config.max_seats_per_reservation,
                },
                &(),
            )
            .await;
            let created = match decided {
                Ok(created) => created,
                Err(_) if guessed.is_some() => continue,
                Err(refused) => return Err(refused.into()),
            };
            let mut appends = vec![append::<Reservation>(
                reservation_id.as_str(),
                0,
                &created,
                &meta,
            )?];
            for ((label, id), events) in labels.iter().zip(&seat_ids).zip(seats) {
                let mut seat = fold::<Seat>(id, events)?;
                let hold = SeatCommand::Hold {
                    reservation: reservation_id.clone(),
                    until,
                    now,
                };
                match seat.decide(hold, &()).await {
                    Ok(events) => appends.push(seat.append(&events, &meta)?),
                    Err(SeatError::Unavailable { held_until }) => {
                        self.gate.mark_taken(id, held_until);
                        return Err(CommandError::SeatUnavailable(vec![label.clone()]));
                    }
                    Err(other) => return Err(CommandError::internal(other)),
                }
            }
            if let Some(limit) = limit {
                let seats = u32::try_from(labels.len()).unwrap_or(u32::MAX);
                let count = self
                    .count_holds(&holds, &reservation_id, (seats, limit), now, counted, &meta)
                    .await?;
                appends.push(count);
            }
            let view = ReservationView::of(&reservation, now).ok_or_else(exhausted)?;
            let conditions = [state.condition(show_id)];
            match self
                .commit_if(&appends, &conditions, &view, idempotency)
                .await?
            {
                Commit::Done => {
                    for id in &seat_ids {
                        self.gate.mark_taken(id, Some(until));
                    }
                    if let Some(lease) = lease.take() {
                        // As long as this process trusts its own memory
                        // of taken seats, and never past the deadline.
                        let left = (until - now).to_std().unwrap_or_default();
                        lease.taken(self.config.taken_cache_ttl.min(left));
                    }
                    self.reserved_here
                        .put(reservation_id.as_str(), seat_ids.clone());
                    for append in &appends {
                        if append.aggregate_type == CustomerHolds::TYPE {
                            let head = append.expected_sequence + append.events.len();
                            self.holds.remember(&append.aggregate_id, head);
                        }
                    }
                    return Ok(view);
                }
                Commit::Conflict => {
                    if let Some(view) = self.after_conflict(idempotency).await? {
                        return Ok(view);
                    }
                }
            }
        }
        Err(exhausted())
    }

    pub async fn release_reservation(
        &self,
        by: &UserRef,
        reservation_id: &ReservationId,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<ReservationView, CommandError> {
        if let Some(view) = self.replayed(idempotency).await? {
            return Ok(view);
        }
        let meta = metadata("ReleaseReservation", by.as_str());
        for _ in 0..MAX_ATTEMPTS {
            let mut reservation = load::<Reservation>(&self.store, reservation_id.as_str()).await?;
            let released = reservation
                .decide(ReservationCommand::Release { by: by.clone() }, &())
                .await?;
            let show_id = reservation
                .aggregate
                .show_id
                .clone()
                .ok_or(CommandError::NotFound("reservation"))?;
            let mut appends = vec![reservation.append(&released, &meta)?];
            let seat_ids: Vec<String> = reservation
                .aggregate
                .seats
                .iter()
                .map(|l| seat_id(&show_id, l))
                .collect();
            if !released.is_empty() {
                for id in &seat_ids {
                    let mut seat = load::<Seat>(&self.store, id).await?;
                    let release = SeatCommand::Release {
                        reservation: reservation_id.clone(),
                        reason: ReleaseReason::Released,
                    };
                    let events = seat
                        .decide(release, &())
                        .await
                        .map_err(CommandError::internal)?;
                    appends.push(seat.append(&events, &meta)?);
                }
            }
            let view = ReservationView::of(&reservation.aggregate, self.clock.now())
                .ok_or(CommandError::NotFound("reservation"))?;
            match self.commit(&appends, &view, idempotency).await? {
                Commit::Done => {
                    self.forget_taken(&seat_ids);
                    return Ok(view);
                }
                Commit::Conflict => {
                    if let Some(view) = self.after_conflict(idempotency).await? {
                        return Ok(view);
                    }
                }
            }
        }
        Err(exhausted())
    }

    fn refuse_known_taken(
        &self,
        labels: &[SeatLabel],
        seat_ids: &[String],
    ) -> Result<(), CommandError> {
        let now = self.clock.now();
        let taken: Vec<SeatLabel> = labels
            .iter()
            .zip(seat_ids)
            .filter(|(_, id)| self.gate.is_taken(id, now))
            .map(|(label, _)| label.clone())
            .collect();
        if taken.is_empty() {
            Ok(())
        } else {
            Err(CommandError::SeatUnavailable(taken))
        }
    }
}
