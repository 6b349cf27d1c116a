//! Expiry: ending a reservation whose deadline has passed and giving its
//! seats back (ReservationExpired + SeatReleased, one append). Idempotent and
//! safe to race: two expirers, or an expirer and a payment, contend on the
//! same streams, and the loser reloads and finds nothing left to do.

use ticketing_aggregates::{
    ReleaseReason, Reservation, ReservationCommand, ReservationError, ReservationId,
};

use crate::cart::release_seats;
use crate::engine::{exhausted, Commit, MAX_ATTEMPTS};
use crate::load::{load, metadata};
use crate::{CommandError, Engine};

impl Engine {
    /// Expires the reservation if its deadline has passed; `true` when this
    /// call did it, `false` when there was nothing to do.
    #[tracing::instrument(name = "command.expire_reservation", skip_all, fields(reservation = %reservation_id))]
    pub async fn expire_reservation(
        &self,
        reservation_id: &ReservationId,
    ) -> Result<bool, CommandError> {
        let meta = metadata("ExpireReservation", "expirer");
        for _ in 0..MAX_ATTEMPTS {
            let mut reservation = load::<Reservation>(&self.store, reservation_id.as_str()).await?;
            let expired = match reservation
                .decide(
                    ReservationCommand::Expire {
                        now: self.clock.now(),
                    },
                    &(),
                )
                .await
            {
                Ok(events) => events,
                Err(ReservationError::NotDue | ReservationError::NotFound) => return Ok(false),
                Err(other) => return Err(other.into()),
            };
            if expired.is_empty() {
                return Ok(false);
            }
            let mut appends = vec![reservation.append(&expired, &meta)?];
            appends.extend(release_seats(self, &reservation, ReleaseReason::Expired, &meta).await?);
            if let Commit::Done = self.commit(&appends, &(), None).await? {
                return Ok(true);
            }
        }
        Err(exhausted())
    }
}
