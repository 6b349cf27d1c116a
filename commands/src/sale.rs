//! The holds of an order as a sale needs them: the status of its shows, and
//! each item's reservation with its seats, read in one round trip.
//!
//! Checkout reads them once, before any money is asked for, to refuse ended
//! holds; the settlement then decides on that same read. That is safe because
//! the settlement's append expects every stream at the sequence it was read
//! at, with a condition on each show: if anything moved in between (the
//! expirer ended a hold, the show was cancelled), the append conflicts and
//! the settlement reads everything again.

use ticketing_aggregates::{seat_id, Order, Reservation, Seat, ShowId};

use crate::load::{load_batch, whole, Loaded};
use crate::shows::{show_tail, ShowState};
use crate::{CommandError, Engine};

/// An order's shows and holds as of one read.
pub(crate) struct Holds {
    /// Each show of the order once, in id order.
    pub shows: Vec<(ShowId, ShowState)>,
    /// One per item of the order, in the order's item order.
    pub items: Vec<Hold>,
}

/// One item's reservation with its seats, in the item's label order.
pub(crate) struct Hold {
    pub reservation: Loaded<Reservation>,
    pub seats: Vec<Loaded<Seat>>,
}

impl Engine {
    /// Reads the shows, reservations and seats of `order` in one round trip.
    pub(crate) async fn read_holds(&self, order: &Order) -> Result<Holds, CommandError> {
        let mut shows: Vec<&ShowId> = order.items.iter().map(|item| &item.show_id).collect();
        shows.sort();
        shows.dedup();
        let seat_ids: Vec<Vec<String>> = order
            .items
            .iter()
            .map(|item| {
                item.seat_labels
                    .iter()
                    .map(|label| seat_id(&item.show_id, label))
                    .collect()
            })
            .collect();
        let mut streams: Vec<_> = shows.iter().map(|show| show_tail(show)).collect();
        for (item, seats) in order.items.iter().zip(&seat_ids) {
            streams.push(whole::<Reservation>(item.reservation_id.as_str()));
            streams.extend(seats.iter().map(|id| whole::<Seat>(id)));
        }
        let mut read = load_batch(&self.store, &streams).await?;
        let shows = shows
            .into_iter()
            .map(|show| {
                Ok((
                    show.clone(),
                    ShowState::after_scheduled(read.next_events()?)?,
                ))
            })
            .collect::<Result<_, CommandError>>()?;
        let items = seat_ids
            .iter()
            .map(|seats| {
                Ok(Hold {
                    reservation: read.next()?,
                    seats: seats
                        .iter()
                        .map(|_| read.next())
                        .collect::<Result<_, CommandError>>()?,
                })
            })
            .collect::<Result<_, CommandError>>()?;
        Ok(Holds { shows, items })
    }
}
