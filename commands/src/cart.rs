//! AddToCart and RemoveFromCart. Adding a reservation opens the customer's
//! cart if none is open and extends every live hold in the cart to now +
//! hold TTL — reservation and seats — in the same append as the new item,
//! but no hold past its creation + 2 × hold TTL (the Reservation's rule), so
//! adding again and again cannot keep seats forever.

use chrono::{DateTime, Duration, Utc};
use ticketing_aggregates::{
    seat_id, Cart, CartCommand, Order, OrderCommand, OrderId, OrderItem, ReleaseReason,
    Reservation, ReservationCommand, ReservationError, ReservationEvent, ReservationId, Seat,
    SeatCommand, UserRef,
};
use ticketing_event_store::StreamAppend;

use crate::engine::{exhausted, Commit, MAX_ATTEMPTS};
use crate::load::{fold, load, load_batch, metadata, whole, Batch, Loaded};
use crate::{CommandError, Engine, IdempotencyKey, OrderView};

impl Engine {
    #[tracing::instrument(name = "command.add_to_cart", skip_all, fields(reservation = %reservation_id))]
    pub async fn add_to_cart(
        &self,
        customer: &UserRef,
        reservation_id: &ReservationId,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<OrderView, CommandError> {
        if let Some(view) = self.replayed(idempotency).await? {
            return Ok(view);
        }
        let ttl = Duration::from_std(self.config.hold_ttl).map_err(CommandError::internal)?;
        let meta = metadata("AddToCart", customer.as_str());
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let until = now + ttl;
            // The reservation and the customer's cart, then the order with
            // the reservation's seats, then the order's other holds. When
            // the reservation was made here its seats are known, and with
            // no open order (a new one, whose stream is empty) the first
            // read is the only one.
            let known_seats = self.reserved_here.get(reservation_id.as_str());
            let mut first = vec![
                whole::<Reservation>(reservation_id.as_str()),
                self.carts.stream(customer.as_str()),
            ];
            if let Some(ids) = &known_seats {
                first.extend(ids.iter().map(|id| whole::<Seat>(id)));
            }
            let mut read = load_batch(&self.store, &first).await?;
            let reservation: Loaded<Reservation> = read.next()?;
            let mut cart: Loaded<Cart> = self
                .carts
                .checked(&self.store, customer.as_str(), read.next()?)
                .await?;
            let (show_id, labels) = match (
                &reservation.aggregate.show_id,
                &reservation.aggregate.customer,
            ) {
                (Some(show), Some(owner)) if owner == customer => {
                    (show.clone(), reservation.aggregate.seats.clone())
                }
                (Some(_), Some(_)) => return Err(ReservationError::NotOwner.into()),
                _ => return Err(CommandError::NotFound("reservation")),
            };
            let plan = self.plan_index(&show_id).await?;
            let order_id = cart
                .aggregate
                .open
                .clone()
                .unwrap_or_else(OrderId::generate);
            let seat_ids: Vec<String> = labels.iter().map(|l| seat_id(&show_id, l)).collect();
            let (mut order, seats) = match known_seats {
                Some(known) if known == seat_ids && cart.aggregate.open.is_none() => {
                    let order = fold::<Order>(order_id.as_str(), Vec::new())?;
                    (order, read_seats(&mut read, &seat_ids)?)
                }
                _ => {
                    let mut streams = vec![whole::<Order>(order_id.as_str())];
                    streams.extend(seat_ids.iter().map(|id| whole::<Seat>(id)));
                    let mut read = load_batch(&self.store, &streams).await?;
                    let order: Loaded<Order> = read.next()?;
                    (order, read_seats(&mut read, &seat_ids)?)
                }
            };
            let seat_prices: Vec<i64> = labels
                .iter()
                .filter_map(|l| plan.seats.get(l))
                .map(|p| p.get())
                .collect();
            let item = OrderItem {
                reservation_id: reservation_id.clone(),
                show_id: show_id.clone(),
                price_minor: seat_prices.iter().sum(),
                seat_prices,
                seat_labels: labels,
            };
            let add = OrderCommand::AddItem {
                order_id: order_id.clone(),
                customer: customer.clone(),
                currency: plan.currency.clone(),
                item,
            };
            let added = order.decide(add, &()).await.map_err(order_error)?;
            let opened = cart
                .decide(
                    CartCommand::Open {
                        order_id: order_id.clone(),
                    },
                    &(),
                )
                .await
                .map_err(CommandError::internal)?;
            let mut appends = vec![order.append(&added, &meta)?, cart.append(&opened, &meta)?];
            let mut holds = vec![(reservation, seats, true)];
            holds.extend(
                self.other_holds(&order.aggregate, reservation_id)
                    .await?
                    .into_iter()
                    .map(|(reservation, seats)| (reservation, seats, false)),
            );
            let mut expires_at: Option<DateTime<Utc>> = None;
            let extension = Extension {
                by: customer,
                until,
                now,
                hold_ttl: ttl,
            };
            for (reservation, seats, must_live) in holds {
                if let Some(hold) = extend(&extension, reservation, seats, must_live, &meta).await?
                {
                    appends.extend(hold.appends);
                    // The cart lasts as long as its first hold to end.
                    expires_at = Some(expires_at.map_or(hold.until, |at| at.min(hold.until)));
                }
            }
            let view = OrderView::of(&order.aggregate, expires_at).ok_or_else(exhausted)?;
            match self.commit(&appends, &view, idempotency).await? {
                Commit::Done => {
                    self.carted_here
                        .put(order_id.as_str(), order.aggregate.items.clone());
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

    /// The reservations and seats of the order's items other than
    /// `except`, in one read (none when there is no other item).
    async fn other_holds(
        &self,
        order: &Order,
        except: &ReservationId,
    ) -> Result<Vec<(Loaded<Reservation>, Vec<Loaded<Seat>>)>, CommandError> {
        let others: Vec<(&OrderItem, Vec<String>)> = order
            .items
            .iter()
            .filter(|item| item.reservation_id != *except)
            .map(|item| {
                let seats = item
                    .seat_labels
                    .iter()
                    .map(|label| seat_id(&item.show_id, label))
                    .collect();
                (item, seats)
            })
            .collect();
        let mut streams = Vec::new();
        for (item, seats) in &others {
            streams.push(whole::<Reservation>(item.reservation_id.as_str()));
            streams.extend(seats.iter().map(|id| whole::<Seat>(id)));
        }
        let mut read = load_batch(&self.store, &streams).await?;
        others
            .iter()
            .map(|(_, seats)| {
                let reservation = read.next()?;
                let seats = seats
                    .iter()
                    .map(|_| read.next())
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((reservation, seats))
            })
            .collect()
    }

    #[tracing::instrument(name = "command.remove_from_cart", skip_all, fields(order = %order_id))]
    pub async fn remove_from_cart(
        &self,
        customer: &UserRef,
        order_id: &OrderId,
        reservation_id: &ReservationId,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<OrderView, CommandError> {
        if let Some(view) = self.replayed(idempotency).await? {
            return Ok(view);
        }
        let meta = metadata("RemoveFromCart", customer.as_str());
        for _ in 0..MAX_ATTEMPTS {
            let mut order = load::<Order>(&self.store, order_id.as_str()).await?;
            let command = OrderCommand::RemoveItem {
                customer: customer.clone(),
                reservation_id: reservation_id.clone(),
            };
            let removed = order.decide(command, &()).await.map_err(order_error)?;
            let mut reservation = load::<Reservation>(&self.store, reservation_id.as_str()).await?;
            let released = reservation
                .decide(
                    ReservationCommand::Release {
                        by: customer.clone(),
                    },
                    &(),
                )
                .await?;
            let mut appends = vec![
                order.append(&removed, &meta)?,
                reservation.append(&released, &meta)?,
            ];
            let seats = release_seats(self, &reservation, ReleaseReason::Released, &meta).await?;
            appends.extend(seats);
            let view =
                OrderView::of(&order.aggregate, None).ok_or(CommandError::NotFound("order"))?;
            if let Commit::Done = self.commit(&appends, &view, idempotency).await? {
                if let Some(show) = &reservation.aggregate.show_id {
                    let seat_ids: Vec<String> = reservation
                        .aggregate
                        .seats
                        .iter()
                        .map(|label| seat_id(show, label))
                        .collect();
                    self.forget_taken(&seat_ids);
                }
                return Ok(view);
            }
            if let Some(view) = self.after_conflict(idempotency).await? {
                return Ok(view);
            }
        }
        Err(exhausted())
    }
}

/// What AddToCart asks of every hold in the cart.
struct Extension<'a> {
    by: &'a UserRef,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    hold_ttl: Duration,
}

/// A live hold of the cart after AddToCart: its appends and its deadline.
struct Hold {
    appends: Vec<StreamAppend>,
    until: DateTime<Utc>,
}

/// The appends that extend one reservation and its seats (in the
/// reservation's seat order) as far as the reservation allows, and the
/// deadline it ends up with; `None` for a hold that already ended, unless
/// `must_live`, when that is the caller's error.
async fn extend(
    extension: &Extension<'_>,
    mut reservation: Loaded<Reservation>,
    seats: Vec<Loaded<Seat>>,
    must_live: bool,
    meta: &serde_json::Value,
) -> Result<Option<Hold>, CommandError> {
    let command = ReservationCommand::Extend {
        by: extension.by.clone(),
        until: extension.until,
        now: extension.now,
        hold_ttl: extension.hold_ttl,
    };
    let events = match reservation.decide(command, &()).await {
        Ok(events) => events,
        Err(_) if !must_live => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let Some(id) = reservation.aggregate.id.clone() else {
        return Err(CommandError::NotFound("reservation"));
    };
    let extended = events.iter().find_map(|event| match event {
        ReservationEvent::ReservationExtended { until } => Some(*until),
        _ => None,
    });
    let Some(until) = extended else {
        // At its limit (or already that long): the hold stays as it is. The
        // empty append still checks that nobody changed the reservation
        // since it was read (a release writes to it).
        let until = reservation.aggregate.until.ok_or_else(exhausted)?;
        return Ok(Some(Hold {
            appends: vec![reservation.append(&events, meta)?],
            until,
        }));
    };
    let now = extension.now;
    let mut appends = vec![reservation.append(&events, meta)?];
    for (mut seat, label) in seats.into_iter().zip(&reservation.aggregate.seats) {
        let command = SeatCommand::ExtendHold {
            reservation: id.clone(),
            until,
            now,
        };
        let events = seat
            .decide(command, &())
            .await
            .map_err(|_| CommandError::Precondition {
                reason: "RESERVATION_EXPIRED",
                message: format!("the hold on seat {label} has ended"),
            })?;
        appends.push(seat.append(&events, meta)?);
    }
    Ok(Some(Hold { appends, until }))
}

/// The appends releasing every seat the reservation holds.
pub(crate) async fn release_seats(
    engine: &Engine,
    reservation: &Loaded<Reservation>,
    reason: ReleaseReason,
    meta: &serde_json::Value,
) -> Result<Vec<StreamAppend>, CommandError> {
    let (Some(show), Some(id)) = (&reservation.aggregate.show_id, &reservation.aggregate.id) else {
        return Ok(vec![]);
    };
    let mut appends = Vec::new();
    for label in &reservation.aggregate.seats {
        let mut seat = load::<Seat>(&engine.store, &seat_id(show, label)).await?;
        let command = SeatCommand::Release {
            reservation: id.clone(),
            reason,
        };
        let events = seat
            .decide(command, &())
            .await
            .map_err(CommandError::internal)?;
        appends.push(seat.append(&events, meta)?);
    }
    Ok(appends)
}

/// Orders of other customers answer NOT_FOUND, so ids do not leak.
pub(crate) fn order_error(error: ticketing_aggregates::OrderError) -> CommandError {
    use ticketing_aggregates::OrderError::*;
    let precondition = |reason: &'static str| CommandError::Precondition {
        reason,
        message: error.to_string(),
    };
    match error {
        NotFound | NotOwner => CommandError::NotFound("order"),
        NotCart => precondition("ORDER_NOT_CART"),
        CurrencyMismatch => precondition("CURRENCY_MISMATCH"),
        NotInOrder => CommandError::NotFound("reservation in this order"),
        Empty => precondition("ORDER_EMPTY"),
        NotPayable => precondition("ORDER_NOT_PAYABLE"),
        OtherPayment => precondition("PAYMENT_IN_PROGRESS"),
        NotRefundable => precondition("ORDER_NOT_REFUNDABLE"),
        Full => precondition("ORDER_FULL"),
    }
}

/// The next streams of `read`, one seat per id of `seat_ids`.
fn read_seats(read: &mut Batch, seat_ids: &[String]) -> Result<Vec<Loaded<Seat>>, CommandError> {
    seat_ids.iter().map(|_| read.next()).collect()
}
