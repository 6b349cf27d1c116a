//! Settling a payment's outcome in one append. A success sells: the payment
//! succeeds, the order is paid, every reservation converts and every seat is
//! sold — unless a hold ended first (the expirer won the race), in which case
//! the money goes back (PaymentRefunded) and the order expires. A decline
//! marks the order PAYMENT_FAILED and leaves the holds, so the customer can
//! try another card before the deadline.

use chrono::{DateTime, Utc};
use ticketing_aggregates::{
    ChargeOutcome, Order, OrderCommand, OrderStatus, Payment, PaymentCommand, PaymentRequest,
    RefundRequest, ReleaseReason, Reservation, ReservationCommand, SeatCommand, ShowStatus,
};
use ticketing_event_store::{StreamAppend, StreamCondition};

use crate::cart::{order_error, release_seats};
use crate::engine::{exhausted, Commit, MAX_ATTEMPTS};
use crate::load::{load, load_batch, metadata, whole, Loaded};
use crate::sale::{Hold, Holds};
use crate::{CommandError, Engine, IdempotencyKey, OrderView};

impl Engine {
    pub(crate) async fn settle_payment(
        &self,
        request: &PaymentRequest,
        outcome: ChargeOutcome,
        idempotency: Option<&IdempotencyKey>,
        mut known: Option<Read>,
    ) -> Result<OrderView, CommandError> {
        let meta = metadata("SettlePayment", request.payment_id.as_str());
        let payment_id = &request.payment_id;
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let Read {
                mut payment,
                mut order,
                holds,
            } = match known.take() {
                Some(read) => read,
                None => self.read_settlement(request).await?,
            };
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
                    match sell(&order, holds, now, &meta).await? {
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

    /// The payment and its order, then the order's holds: two round trips.
    async fn read_settlement(&self, request: &PaymentRequest) -> Result<Read, CommandError> {
        let mut read = load_batch(
            &self.store,
            &[
                whole::<Payment>(request.payment_id.as_str()),
                whole::<Order>(request.order_id.as_str()),
            ],
        )
        .await?;
        let payment: Loaded<Payment> = read.next()?;
        let order: Loaded<Order> = read.next()?;
        let holds = self.read_holds(&order.aggregate).await?;
        Ok(Read {
            payment,
            order,
            holds,
        })
    }
}

/// What a settlement decides on: the payment, its order and the order's
/// holds, each at the sequence it was read (or written) at.
pub(crate) struct Read {
    pub payment: Loaded<Payment>,
    pub order: Loaded<Order>,
    pub holds: Holds,
}

/// The appends that convert every reservation of the order and sell its
/// seats, with a condition on each show (a sale never commits after its
/// show was cancelled); or why the sale is refused.
async fn sell(
    order: &Loaded<Order>,
    holds: Holds,
    now: DateTime<Utc>,
    meta: &serde_json::Value,
) -> Result<Result<(Vec<StreamAppend>, Vec<StreamCondition>), Refusal>, CommandError> {
    let order_id = order
        .aggregate
        .order_id
        .clone()
        .ok_or(CommandError::NotFound("order"))?;
    let mut conditions = Vec::with_capacity(holds.shows.len());
    for (show_id, show) in &holds.shows {
        if show.status == ShowStatus::Cancelled {
            return Ok(Err(Refusal::ShowCancelled));
        }
        conditions.push(show.condition(show_id));
    }
    let mut appends = Vec::new();
    for (item, hold) in order.aggregate.items.iter().zip(holds.items) {
        let Hold {
            mut reservation,
            seats,
        } = hold;
        let convert = ReservationCommand::Convert {
            order_id: order_id.clone(),
            now,
        };
        let Ok(converted) = reservation.decide(convert, &()).await else {
            return Ok(Err(Refusal::HoldEnded));
        };
        appends.push(reservation.append(&converted, meta)?);
        for mut seat in seats {
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
