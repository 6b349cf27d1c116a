//! What a cancelled show leaves to undo, one command per reservation or
//! order, each idempotent so the expirer's sweep can repeat it safely:
//! live holds are withdrawn, and paid orders are refunded through the
//! payment provider (with the payment's one refund key) and their tickets
//! voided in the same append.
//!
//! The ticket streams are voided whether or not the fulfillment worker got
//! to them yet: a void that comes first leaves a tombstone, and the late
//! issue then issues nothing, so no ticket of a refunded order admits.

use ticketing_aggregates::{
    Order, OrderCommand, OrderId, OrderStatus, Payment, PaymentCommand, ReleaseReason, Reservation,
    ReservationCommand, ReservationId, TicketCommand,
};

use crate::cart::{order_error, release_seats};
use crate::engine::{exhausted, Commit, MAX_ATTEMPTS};
use crate::load::{load, metadata};
use crate::tickets::ticket_ids;
use crate::{CommandError, Engine};

impl Engine {
    /// Ends a live hold of a cancelled show and frees its seats; `false`
    /// when there was nothing to withdraw.
    #[tracing::instrument(name = "command.withdraw_reservation", skip_all, fields(reservation = %reservation_id))]
    pub async fn withdraw_reservation(
        &self,
        reservation_id: &ReservationId,
    ) -> Result<bool, CommandError> {
        let meta = metadata("WithdrawReservation", "show-cancelled");
        for _ in 0..MAX_ATTEMPTS {
            let mut reservation = load::<Reservation>(&self.store, reservation_id.as_str()).await?;
            let released = reservation
                .decide(ReservationCommand::Withdraw, &())
                .await?;
            if released.is_empty() {
                return Ok(false);
            }
            let mut appends = vec![reservation.append(&released, &meta)?];
            appends
                .extend(release_seats(self, &reservation, ReleaseReason::Released, &meta).await?);
            if let Commit::Done = self.commit(&appends, &(), None).await? {
                return Ok(true);
            }
        }
        Err(exhausted())
    }

    /// Gives a paid order's money back and voids its tickets; `false` when
    /// the order is not paid (already refunded, or never paid).
    #[tracing::instrument(name = "command.refund_order", skip_all, fields(order = %order_id))]
    pub async fn refund_order(
        &self,
        order_id: &OrderId,
        reason: &str,
    ) -> Result<bool, CommandError> {
        let meta = metadata("RefundOrder", "show-cancelled");
        for _ in 0..MAX_ATTEMPTS {
            let mut order = load::<Order>(&self.store, order_id.as_str()).await?;
            if order.aggregate.status != OrderStatus::Paid {
                return Ok(false);
            }
            let payment_id = order
                .aggregate
                .payment
                .clone()
                .ok_or(CommandError::NotFound("payment"))?;
            let mut payment = load::<Payment>(&self.store, payment_id.as_str()).await?;
            let request = payment
                .aggregate
                .request
                .clone()
                .ok_or(CommandError::NotFound("payment"))?;
            // The provider's refund is idempotent by key: a retry after a
            // crash or a lost race asks for the same refund again.
            self.refund(&request).await?;
            let reason = reason.to_owned();
            let refunded = payment
                .decide(
                    PaymentCommand::Refund {
                        reason: reason.clone(),
                    },
                    &(),
                )
                .await
                .map_err(CommandError::internal)?;
            let closed = order
                .decide(
                    OrderCommand::Refund {
                        reason: reason.clone(),
                    },
                    &(),
                )
                .await
                .map_err(order_error)?;
            let mut appends = vec![
                payment.append(&refunded, &meta)?,
                order.append(&closed, &meta)?,
            ];
            let ids = ticket_ids(order_id, &order.aggregate);
            for mut ticket in self.load_tickets(&ids).await? {
                let void = TicketCommand::Void {
                    reason: reason.clone(),
                };
                let voided = ticket
                    .decide(void, &())
                    .await
                    .map_err(CommandError::internal)?;
                appends.push(ticket.append(&voided, &meta)?);
            }
            if let Commit::Done = self.commit(&appends, &(), None).await? {
                return Ok(true);
            }
        }
        Err(exhausted())
    }
}
