//! The limit on the seats one customer holds of a show at once (issue #10
//! point 11): every ReserveSeats on a limited show appends to the
//! customer's CustomerHolds stream of that show in the same all-or-nothing
//! append as its holds, so two racing reservations of one customer
//! contend there and the second counts the first. It is read in the same
//! round trip as the seats. The stream lists the
//! reservations that may still hold seats; only when a new hold would pass
//! the limit are the listed reservations read and the ended ones (released,
//! expired, bought, withdrawn) dropped from the count.

use chrono::{DateTime, Utc};
use ticketing_aggregates::{
    CustomerHolds, CustomerHoldsCommand, Reservation, ReservationId, ReservationStatus, ShowDetails,
};
use ticketing_event_store::{SerializedEvent, StreamAppend, StreamRef};

use crate::load::{fold, load_batch, whole, Loaded};
use crate::{CommandError, Engine};

/// What a hold is counted against: the show's own limit, else the engine's
/// default; none if that is 0.
pub(crate) fn limit_of(show: &ShowDetails, default: u32) -> Option<u32> {
    match show.max_held_seats.unwrap_or(default) {
        0 => None,
        limit => Some(limit),
    }
}

impl Engine {
    /// The customer's holds stream of a show (`id`, from [`holds_id`]) as
    /// ReserveSeats reads it, in the same round trip as the seats.
    pub(crate) fn holds_stream<'a>(&self, id: &'a str) -> StreamRef<'a> {
        self.holds.stream(id)
    }

    /// The append that counts `seats` newly held seats on the holds stream
    /// `id` against `limit`; FAILED_PRECONDITION `HOLD_LIMIT_REACHED` if
    /// the customer's live holds would pass it. `read` is the stream's tail
    /// as read with the seats ([`Engine::holds_stream`]), or `None` when
    /// the hold decides without a read: a stream this process has never
    /// seen is then taken to be empty (a customer's first hold of a show),
    /// which the append checks; one it has seen is read.
    pub(crate) async fn count_holds(
        &self,
        id: &str,
        reservation_id: &ReservationId,
        (seats, limit): (u32, u32),
        now: DateTime<Utc>,
        read: Option<Vec<SerializedEvent>>,
        meta: &serde_json::Value,
    ) -> Result<StreamAppend, CommandError> {
        let read = match read {
            Some(events) => events,
            None if !self.holds.seen(id) => Vec::new(),
            None => load_batch(&self.store, &[self.holds.stream(id)])
                .await?
                .next_events()?,
        };
        let mut holds: Loaded<CustomerHolds> =
            self.holds.checked(&self.store, id, fold(id, read)?).await?;
        if holds.aggregate.seats().saturating_add(seats) > limit {
            self.drop_ended(&mut holds.aggregate, now).await?;
        }
        let command = CustomerHoldsCommand::Count {
            reservation_id: reservation_id.clone(),
            seats,
            limit,
        };
        let counted =
            holds
                .decide(command, &())
                .await
                .map_err(|refused| CommandError::Precondition {
                    reason: "HOLD_LIMIT_REACHED",
                    message: format!(
                        "you hold {} seats of this show and may hold at most {} at once; \
                     buy or release some first",
                        refused.held, refused.limit
                    ),
                })?;
        holds.append(&counted, meta)
    }

    /// Keeps in the count only the listed reservations still holding seats.
    async fn drop_ended(
        &self,
        holds: &mut CustomerHolds,
        now: DateTime<Utc>,
    ) -> Result<(), CommandError> {
        let streams: Vec<_> = holds
            .listed
            .iter()
            .map(|hold| whole::<Reservation>(hold.reservation_id.as_str()))
            .collect();
        let mut read = load_batch(&self.store, &streams).await?;
        let mut live = Vec::new();
        for hold in &holds.listed {
            let reservation: Loaded<Reservation> = read.next()?;
            let reservation = reservation.aggregate;
            if reservation.status == ReservationStatus::Active
                && reservation.until.is_some_and(|until| until > now)
            {
                live.push(hold.reservation_id.clone());
            }
        }
        holds.prune(|id| live.contains(id));
        Ok(())
    }
}
