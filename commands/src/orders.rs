//! Reading one order as its customer sees it, from the log (so a checkout's
//! answer and a GetOrder right after it agree): the order and the deadline
//! of its live holds.

use chrono::{DateTime, Utc};
use ticketing_aggregates::{Order, OrderId, OrderStatus, Reservation, ReservationStatus, UserRef};

use crate::load::load;
use crate::{CommandError, Engine, OrderView};

impl Engine {
    /// The order, if `customer` owns it; NOT_FOUND otherwise, so ids of other
    /// customers' orders do not leak.
    pub async fn order(
        &self,
        customer: &UserRef,
        order_id: &OrderId,
    ) -> Result<OrderView, CommandError> {
        let order = load::<Order>(&self.store, order_id.as_str()).await?;
        if order.aggregate.customer.as_ref() != Some(customer) {
            return Err(CommandError::NotFound("order"));
        }
        let expires_at = self.holds_end(&order.aggregate).await?;
        OrderView::of(&order.aggregate, expires_at).ok_or(CommandError::NotFound("order"))
    }

    /// The earliest deadline among the order's live holds.
    async fn holds_end(&self, order: &Order) -> Result<Option<DateTime<Utc>>, CommandError> {
        if !matches!(
            order.status,
            OrderStatus::Cart | OrderStatus::Checkout | OrderStatus::PaymentFailed
        ) {
            return Ok(None);
        }
        let now = self.clock.now();
        let mut earliest: Option<DateTime<Utc>> = None;
        for item in &order.items {
            let reservation =
                load::<Reservation>(&self.store, item.reservation_id.as_str()).await?;
            if let (ReservationStatus::Active, Some(until)) =
                (reservation.aggregate.status, reservation.aggregate.until)
            {
                if until > now {
                    earliest = Some(earliest.map_or(until, |e| e.min(until)));
                }
            }
        }
        Ok(earliest)
    }
}
