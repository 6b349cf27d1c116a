//! Settling a payment's outcome in one append. A success sells: the payment
//! succeeds, the order is paid, every reservation converts and every seat is
//! sold — unless a hold ended first (the expirer won the race), in which case
//! the money goes back (PaymentRefunded) and the order expires. A decline
//! marks the order PAYMENT_FAILED and leaves the holds, so the customer can
//! try another card before the deadline.

use chrono::{DateTime, Utc};
use ticketing_aggregates::{
    seat_id, ChargeOutcome, Order, OrderCommand, OrderStatus, Payment, PaymentCommand,
    PaymentRequest, RefundRequest, ReleaseReason, Reservation, ReservationCommand, Seat,
    SeatCommand, ShowId, ShowStatus,
};
use ticketing_event_store::{StreamAppend, StreamCondition};

use crate::cart::{order_error, release_seats};
use crate::engine::{exhausted, Commit, MAX_ATTEMPTS};
use crate::load::{load, load_batch, metadata, whole, Loaded};
use crate::shows::{show_tail, ShowState};
use crate::{CommandError, Engine, IdempotencyKey, OrderView};

impl Engine {
    pub(crate) async fn settle_payment(
        &self,
        request: &PaymentRequest,
        outcome: ChargeOutcome,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<OrderView, CommandError> {
        let meta = metadata("SettlePayment", request.payment_id.as_str());
        let payment_id = &request.payment_id;
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let mut read = load_batch(
                &self.store,
                &[
                    whole::<Payment>(payment_id.as_str()),
                    whole::<Order>(request.order_id.as_str()),
                ],
            )
            .await?;
            let mut payment: Loaded<Payment> = read.next()?;
            let mut order: Loaded<Order> = read.next()?;
            let (appends, conditions, refused) = match &outcome {
                ChargeOutcome::Declined { reason } => {
                    let failed = payment
                        .decide(
                            PaymentCommand::Fail {
                                reason: reason.clone(),
                            },
                            &(),
                        )
                        .await
                        .map_err(CommandError::internal)?;
                    let command = OrderCommand::MarkPaymentFailed {
                        payment_id: payment_id.clone(),
                        reason: reason.clone(),
                    };
                    let marked = order.decide(command, &()).await.map_err(order_error)?;
                    (
                        vec![
                            payment.append(&failed, &meta)?,
                            order.append(&marked, &meta)?,
                        ],
                        vec![],
                        None,
                    )
                }
                ChargeOutcome::Succeeded { provider_ref } => {
                    let succeeded = payment
                        .decide(
                            PaymentCommand::Succeed {
                                provider_ref: provider_ref.clone(),
                            },
                            &(),
                        )
                        .await
                        .map_err(CommandError::internal)?;
                    let mut appends = vec![];
                    match self.sell(&order, now, &meta).await? {
                        Ok((sale, shows)) if order.aggregate.status != OrderStatus::Expired => {
                            let paid = order
                                .decide(
                                    OrderCommand::MarkPaid {
                                        payment_id: payment_id.clone(),
                                    },
                                    &(),
                                )
                                .await
                                .map_err(order_error)?;
                            appends.push(payment.append(&succeeded, &meta)?);
                            appends.push(order.append(&paid, &meta)?);
                            appends.extend(sale);
                            (appends, shows, None)
                        }
                        refused => {
                            // The hold ended, or the show was cancelled, before
                            // the money arrived: give it back.
                            let refusal = match refused {
                                Err(refusal) => refusal,
                                Ok(_) => Refusal::HoldEnded,
                            };
                            self.refund(request).await?;
                            let reason = refusal.message().to_owned();
                            let mut events = succeeded;
                            events.extend(
                                payment
                                    .decide(
                                        PaymentCommand::Refund {
                                            reason: reason.clone(),
                                        },
                                        &(),
                                    )
                                    .await
                                    .map_err(CommandError::internal)?,
                            );
                            let expired = order
                                .decide(OrderCommand::Expire, &())
                                .await
                                .map_err(order_error)?;
                            let mut appends = vec![
                                payment.append(&events, &meta)?,
                                order.append(&expired, &meta)?,
                            ];
                            appends.extend(self.expire_items(&order, now, &meta).await?);
                            (appends, vec![], Some((refusal.reason(), reason)))
                        }
                    }
                }
            };
            let view =
                OrderView::of(&order.aggregate, None).ok_or(CommandError::NotFound("order"))?;
            let record = if refused.is_none() { idempotency } else { None };
            match self.commit_if(&appends, &conditions, &view, record).await? {
                Commit::Done => {
                    return match refused {
                        None => Ok(view),
                        Some((reason, message)) => {
                            Err(CommandError::Precondition { reason, message })
                        }
                    }
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

    /// The appends that expire the order's reservations whose deadline has
    /// passed and release their seats, so a lost race leaves nothing held.
    async fn expire_items(
        &self,
        order: &Loaded<Order>,
        now: DateTime<Utc>,
        meta: &serde_json::Value,
    ) -> Result<Vec<StreamAppend>, CommandError> {
        let mut appends = Vec::new();
        for item in &order.aggregate.items {
            let mut reservation =
                load::<Reservation>(&self.store, item.reservation_id.as_str()).await?;
            let Ok(expired) = reservation
                .decide(ReservationCommand::Expire { now }, &())
                .await
            else {
                continue;
            };
            if !expired.is_empty() {
                appends.push(reservation.append(&expired, meta)?);
                appends
                    .extend(release_seats(self, &reservation, ReleaseReason::Expired, meta).await?);
            }
        }
        Ok(appends)
    }

    /// Gives a succeeded charge back, with the payment's one refund key.
    pub(crate) async fn refund(&self, request: &PaymentRequest) -> Result<(), CommandError> {
        let provider = self.provider.clone().ok_or_else(exhausted)?;
        let refund = RefundRequest::full(
            request.payment_id.clone(),
            request.amount_minor,
            request.currency.clone(),
        );
        provider.refund(&refund).await.map_err(|e| {
            CommandError::Unavailable(ticketing_event_store::StoreError::Other(Box::new(e)))
        })
    }

    /// The appends that convert every reservation of the order and sell its
    /// seats, with a condition on each show (a sale never commits after its
    /// show was cancelled); or why the sale is refused. The shows, holds and
    /// seats are read in one round trip.
    async fn sell(
        &self,
        order: &Loaded<Order>,
        now: DateTime<Utc>,
        meta: &serde_json::Value,
    ) -> Result<Result<(Vec<StreamAppend>, Vec<StreamCondition>), Refusal>, CommandError> {
        let order_id = order
            .aggregate
            .order_id
            .clone()
            .ok_or(CommandError::NotFound("order"))?;
        let items = &order.aggregate.items;
        let mut shows: Vec<&ShowId> = items.iter().map(|item| &item.show_id).collect();
        shows.sort();
        shows.dedup();
        let seat_ids: Vec<Vec<String>> = items
            .iter()
            .map(|item| {
                item.seat_labels
                    .iter()
                    .map(|label| seat_id(&item.show_id, label))
                    .collect()
            })
            .collect();
        let mut streams: Vec<_> = shows.iter().map(|show| show_tail(show)).collect();
        for (item, seats) in items.iter().zip(&seat_ids) {
            streams.push(whole::<Reservation>(item.reservation_id.as_str()));
            streams.extend(seats.iter().map(|id| whole::<Seat>(id)));
        }
        let mut read = load_batch(&self.store, &streams).await?;
        let mut conditions = Vec::with_capacity(shows.len());
        for show_id in shows {
            let show = ShowState::after_scheduled(read.next_events()?)?;
            if show.status == ShowStatus::Cancelled {
                return Ok(Err(Refusal::ShowCancelled));
            }
            conditions.push(show.condition(show_id));
        }
        let mut appends = Vec::new();
        for (item, seats) in items.iter().zip(&seat_ids) {
            let mut reservation: Loaded<Reservation> = read.next()?;
            let convert = ReservationCommand::Convert {
                order_id: order_id.clone(),
                now,
            };
            let Ok(converted) = reservation.decide(convert, &()).await else {
                return Ok(Err(Refusal::HoldEnded));
            };
            appends.push(reservation.append(&converted, meta)?);
            for _ in seats {
                let mut seat: Loaded<Seat> = read.next()?;
                let sell = SeatCommand::Sell {
                    reservation: item.reservation_id.clone(),
                    now,
                };
                let Ok(sold) = seat.decide(sell, &()).await else {
                    return Ok(Err(Refusal::HoldEnded));
                };
                appends.push(seat.append(&sold, meta)?);
            }
        }
        Ok(Ok((appends, conditions)))
    }
}

/// Why money that arrived bought nothing.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    HoldEnded,
    ShowCancelled,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::HoldEnded => "RESERVATION_EXPIRED",
            Refusal::ShowCancelled => "SHOW_CANCELLED",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refusal::HoldEnded => "the hold ended before the payment arrived; refunded",
            Refusal::ShowCancelled => "the show was cancelled before the payment arrived; refunded",
        }
    }
}
