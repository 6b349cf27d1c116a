//! [`Fulfillment`], the ticket worker: a [`Handler`] of `order-paid` that
//! issues one signed ticket per seat, all in one append (the relay then
//! publishes `ticket-issued` for each).
//!
//! Exactly once per seat: the append carries an idempotency record keyed
//! by the envelope id, so a redelivered envelope finds its answer; and
//! ticket ids are derived from order and seat, so a second worker racing
//! the first (or a different envelope of the same order) conflicts on the
//! ticket streams, reloads, and finds nothing left to issue.

use std::future::Future;

use ticketing_aggregates::UserRef;
use ticketing_bus::{Envelope, Handler, HandlerError, OrderPaidData, Topic, ORDER_PAID};
use ticketing_commands::{CommandError, Engine, IdempotencyKey, PaidOrder, PaidSeat};

use crate::signer::RingSigner;

/// Who a ticket names: the customer's display name, from identity.
pub trait Holders: Send + Sync + 'static {
    /// The name to print for `customer`; `None` if the account is gone.
    fn holder_name(
        &self,
        customer: &UserRef,
    ) -> impl Future<Output = Result<Option<String>, String>> + Send;
}

/// Printed when a customer's account no longer exists.
const UNKNOWN_HOLDER: &str = "Ticket holder";

pub struct Fulfillment<H> {
    engine: Engine,
    signer: RingSigner,
    holders: H,
}

impl<H: Holders> Fulfillment<H> {
    pub fn new(engine: Engine, signer: RingSigner, holders: H) -> Self {
        Self {
            engine,
            signer,
            holders,
        }
    }
}

impl<H: Holders> Handler for Fulfillment<H> {
    fn name(&self) -> &'static str {
        "fulfillment"
    }

    fn topics(&self) -> &'static [Topic] {
        &[ORDER_PAID]
    }

    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let paid: OrderPaidData = envelope.data().map_err(HandlerError::reject)?;
        let holder = self
            .holders
            .holder_name(&paid.customer_id)
            .await
            .map_err(HandlerError::Retry)?
            .unwrap_or_else(|| UNKNOWN_HOLDER.to_owned());
        let order = PaidOrder {
            order_id: paid.order_id.clone(),
            customer: paid.customer_id,
            currency: paid.currency,
            seats: paid
                .items
                .into_iter()
                .map(|item| PaidSeat {
                    show_id: item.show_id,
                    seat_label: item.seat_label,
                    price_minor: item.price_minor,
                })
                .collect(),
        };
        let key = IdempotencyKey {
            scope: "fulfillment:order-paid".to_owned(),
            key: envelope.id.to_string(),
            request_hash: paid.order_id.to_string(),
        };
        match self
            .engine
            .issue_tickets(&order, &holder, &self.signer, Some(&key))
            .await
        {
            Ok(issued) => {
                metrics::counter!("ticketing_tickets_issued_total").increment(issued as u64);
                Ok(())
            }
            // The order names a show or seat the log does not have: no retry
            // can change that.
            Err(error @ (CommandError::NotFound(_) | CommandError::Invalid(_))) => {
                Err(HandlerError::reject(error))
            }
            Err(error) => Err(HandlerError::retry(error)),
        }
    }
}
