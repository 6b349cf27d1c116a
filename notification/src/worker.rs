//! [`Notifier`], the mail worker's intake: a [`Handler`] of `ticket-issued`
//! that records each ticket in the delivery log. An order's delivery is
//! queued once all of its tickets are in (each envelope says how many the
//! order got), so the customer gets one email per order — not per ticket,
//! and not per redelivery: a ticket recorded twice changes nothing.

use ticketing_bus::{Envelope, Handler, HandlerError, TicketIssuedData, Topic, TICKET_ISSUED};

use crate::deliveries::{Deliveries, DeliveryError};
use crate::sender::SenderWake;

pub struct Notifier {
    deliveries: Deliveries,
    wake: SenderWake,
}

impl Notifier {
    /// `wake` is the sender's: a delivery that became ready is sent now,
    /// not at the next poll.
    pub fn new(deliveries: Deliveries, wake: SenderWake) -> Self {
        Self { deliveries, wake }
    }
}

impl Handler for Notifier {
    fn name(&self) -> &'static str {
        "notifier"
    }

    fn topics(&self) -> &'static [Topic] {
        &[TICKET_ISSUED]
    }

    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let ticket: TicketIssuedData = envelope.data().map_err(HandlerError::reject)?;
        let recorded = self
            .deliveries
            .record_ticket(
                ticket.order_id.as_str(),
                ticket.customer_id.as_str(),
                ticket.ticket_id.as_str(),
                i64::from(ticket.tickets_in_order),
                &envelope.data,
                chrono::Utc::now().timestamp_millis(),
            )
            .await
            .map_err(|error| match error {
                DeliveryError::Invalid(_) => HandlerError::reject(error),
                other => HandlerError::retry(other),
            })?;
        if recorded.became_ready() {
            self.wake.wake();
        }
        Ok(())
    }
}
