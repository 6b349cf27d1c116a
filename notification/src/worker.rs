//! [`Notifier`], the mail worker's intake: a [`Handler`] of `ticket-issued`
//! that records each ticket in the delivery log. An order's delivery is
//! queued once all of its tickets are in (each envelope says how many the
//! order got), so the customer gets one email per order — not per ticket,
//! and not per redelivery: a ticket recorded twice changes nothing. Fed
//! in process, it records a whole read of the feed in one write.

use ticketing_bus::{Envelope, Handler, HandlerError, TicketIssuedData, Topic, TICKET_ISSUED};

use crate::deliveries::{Deliveries, DeliveryError, NewTicket};
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

    /// Tickets are counted per order, whatever order they come in.
    const BATCHES: bool = true;

    /// One write for the batch's tickets ([`Deliveries::record_tickets`]).
    /// An envelope that does not decode, or names no tickets, rejects the
    /// batch, which the adapter then hands over one by one.
    async fn handle_batch(&self, envelopes: &[&Envelope]) -> Result<(), HandlerError> {
        let decoded = envelopes
            .iter()
            .map(|envelope| envelope.data::<TicketIssuedData>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(HandlerError::reject)?;
        let tickets: Vec<NewTicket<'_>> = decoded
            .iter()
            .zip(envelopes)
            .map(|(ticket, envelope)| NewTicket {
                order_id: ticket.order_id.as_str(),
                customer_id: ticket.customer_id.as_str(),
                ticket_id: ticket.ticket_id.as_str(),
                tickets_expected: i64::from(ticket.tickets_in_order),
                data: &envelope.data,
            })
            .collect();
        let recorded = self
            .deliveries
            .record_tickets(&tickets, chrono::Utc::now().timestamp_millis())
            .await
            .map_err(failure)?;
        if recorded.iter().any(|(_, recorded)| recorded.became_ready()) {
            self.wake.wake();
        }
        Ok(())
    }

    /// A batch of one: the same decoding, record and wake-up.
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        self.handle_batch(&[envelope]).await
    }
}

/// A log that cannot take the data will never take it; anything else may
/// pass on a later try.
fn failure(error: DeliveryError) -> HandlerError {
    match error {
        DeliveryError::Invalid(_) => HandlerError::reject(error),
        other => HandlerError::retry(other),
    }
}
