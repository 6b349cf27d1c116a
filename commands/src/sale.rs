//! The holds of an order as a sale needs them: the status of its shows, and
//! each item's reservation with its seats, read in one round trip.
//!
//! Checkout reads them once, before any money is asked for, to refuse ended
//! holds; the settlement then decides on that same read. That is safe because
//! the settlement's append expects every stream at the sequence it was read
//! at, with a condition on each show: if anything moved in between (the
//! expirer ended a hold, the show was cancelled), the append conflicts and
//! the settlement reads everything again.

use ticketing_aggregates::{seat_id, Order, OrderItem, Reservation, Seat, ShowId};
use ticketing_event_store::StreamRef;

use crate::load::{load_batch, whole, Batch, Loaded};
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

/// The streams of an order's holds, in the order [`HoldStreams::take`]
/// takes them back: its shows' tails, then each item's reservation and seats.
pub(crate) struct HoldStreams {
    shows: Vec<ShowId>,
    seat_ids: Vec<Vec<String>>,
    reservations: Vec<String>,
}

impl HoldStreams {
    pub(crate) fn of(items: &[OrderItem]) -> Self {
        let mut shows: Vec<ShowId> = items.iter().map(|item| item.show_id.clone()).collect();
        shows.sort();
        shows.dedup();
        Self {
            shows,
            seat_ids: items
                .iter()
                .map(|item| {
                    item.seat_labels
                        .iter()
                        .map(|label| seat_id(&item.show_id, label))
                        .collect()
                })
                .collect(),
            reservations: items
                .iter()
                .map(|item| item.reservation_id.as_str().to_owned())
                .collect(),
        }
    }

    pub(crate) fn streams(&self) -> Vec<StreamRef<'_>> {
        let mut streams: Vec<_> = self.shows.iter().map(show_tail).collect();
        for (reservation, seats) in self.reservations.iter().zip(&self.seat_ids) {
            streams.push(whole::<Reservation>(reservation));
            streams.extend(seats.iter().map(|id| whole::<Seat>(id)));
        }
        streams
    }

    /// The holds, from the next streams of `read` (read from
    /// [`HoldStreams::streams`]).
    pub(crate) fn take(self, read: &mut Batch) -> Result<Holds, CommandError> {
        let shows = self
            .shows
            .into_iter()
            .map(|show| {
                let state = ShowState::after_scheduled(read.next_events()?)?;
                Ok((show, state))
            })
            .collect::<Result<_, CommandError>>()?;
        let items = self
            .seat_ids
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

impl Engine {
    /// Reads the shows, reservations and seats of `order` in one round trip.
    pub(crate) async fn read_holds(&self, order: &Order) -> Result<Holds, CommandError> {
        let streams = HoldStreams::of(&order.items);
        let mut read = load_batch(&self.store, &streams.streams()).await?;
        streams.take(&mut read)
    }
}
