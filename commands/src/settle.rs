//! Settling a payment's outcome in one append. A success sells: the payment
//! succeeds, the order is paid, every reservation converts and every seat is
//! sold — unless a hold ended first (the expirer won the race), in which case
//! the money goes back (PaymentRefunded) and the order expires. A decline
//! marks the order PAYMENT_FAILED and leaves the holds, so the customer can
//! try another card before the deadline.

use chrono::{DateTime, Utc};
use ticketing_aggregates::{
    seat_id, ChargeOutcome, Order, OrderCommand, OrderStatus, Payment, PaymentCommand,
    PaymentRequest, ReleaseReason, Reservation, ReservationCommand, Seat, SeatCommand,
};
use ticketing_event_store::StreamAppend;

use crate::cart::{order_error, release_seats};
use crate::engine::{exhausted, Commit, MAX_ATTEMPTS};
use crate::load::{load, metadata, Loaded};
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
            let mut payment = load::<Payment>(&self.store, payment_id.as_str()).await?;
            let mut order = load::<Order>(&self.store, request.order_id.as_str()).await?;
            let (appends, refused) = match &outcome {
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
                        Ok(sale) if order.aggregate.status != OrderStatus::Expired => {
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
                            (appends, None)
                        }
                        _ => {
                            // The hold ended before the money arrived: give it back.
                            let provider = self.provider.clone().ok_or_else(exhausted)?;
                            provider.refund(payment_id).await.map_err(|e| {
                                CommandError::Unavailable(ticketing_event_store::StoreError::Other(
                                    Box::new(e),
                                ))
                            })?;
                            let reason =
                                "the hold ended before the payment arrived; refunded".to_owned();
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
                            (appends, Some(reason))
                        }
                    }
                }
            };
            let view =
                OrderView::of(&order.aggregate, None).ok_or(CommandError::NotFound("order"))?;
            let record = if refused.is_none() { idempotency } else { None };
            match self.commit(&appends, &view, record).await? {
                Commit::Done => {
                    return match refused {
                        None => Ok(view),
                        Some(message) => Err(CommandError::Precondition {
                            reason: "RESERVATION_EXPIRED",
                            message,
                        }),
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

    /// The appends that convert every reservation of the order and sell its
    /// seats, or `Err(())` when any hold has ended.
    async fn sell(
        &self,
        order: &Loaded<Order>,
        now: DateTime<Utc>,
        meta: &serde_json::Value,
    ) -> Result<Result<Vec<StreamAppend>, ()>, CommandError> {
        let order_id = order
            .aggregate
            .order_id
            .clone()
            .ok_or(CommandError::NotFound("order"))?;
        let mut appends = Vec::new();
        for item in &order.aggregate.items {
            let mut reservation =
                load::<Reservation>(&self.store, item.reservation_id.as_str()).await?;
            let convert = ReservationCommand::Convert {
                order_id: order_id.clone(),
                now,
            };
            let Ok(converted) = reservation.decide(convert, &()).await else {
                return Ok(Err(()));
            };
            appends.push(reservation.append(&converted, meta)?);
            for label in &item.seat_labels {
                let mut seat = load::<Seat>(&self.store, &seat_id(&item.show_id, label)).await?;
                let sell = SeatCommand::Sell {
                    reservation: item.reservation_id.clone(),
                    now,
                };
                let Ok(sold) = seat.decide(sell, &()).await else {
                    return Ok(Err(()));
                };
                appends.push(seat.append(&sold, meta)?);
            }
        }
        Ok(Ok(appends))
    }
}
