//! [`TicketMail`], the [`Compose`] of the engine's one email: the order's
//! tickets as a PDF attachment, addressed to the customer.

use std::future::Future;

use ticketing_aggregates::{TicketDetails, UserRef};
use ticketing_fulfillment::render_tickets;

use crate::deliveries::DueDelivery;
use crate::mailer::{Attachment, OutgoingMail};
use crate::sender::{Compose, ComposeError};

/// Where a customer's mail goes: their email and display name, from
/// identity.
pub trait Recipients: Send + Sync + 'static {
    /// `None` if the account no longer exists.
    fn recipient(
        &self,
        customer: &UserRef,
    ) -> impl Future<Output = Result<Option<Recipient>, String>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub name: String,
}

pub struct TicketMail<R> {
    recipients: R,
}

impl<R: Recipients> TicketMail<R> {
    pub fn new(recipients: R) -> Self {
        Self { recipients }
    }
}

impl<R: Recipients> Compose for TicketMail<R> {
    async fn compose(&self, delivery: &DueDelivery) -> Result<OutgoingMail, ComposeError> {
        let tickets: Vec<TicketDetails> = delivery
            .tickets
            .iter()
            .map(|data| serde_json::from_value(data.clone()))
            .collect::<Result<_, _>>()
            .map_err(|e| ComposeError::Permanent(format!("ticket data: {e}")))?;
        let first = tickets
            .first()
            .ok_or_else(|| ComposeError::Permanent("a delivery without tickets".into()))?;
        let recipient = self
            .recipients
            .recipient(&first.customer_id)
            .await
            .map_err(ComposeError::Transient)?
            .ok_or_else(|| ComposeError::Permanent("the customer's account is gone".into()))?;
        let pdf = render_tickets(&tickets).map_err(|e| ComposeError::Permanent(e.to_string()))?;
        Ok(OutgoingMail {
            message_id: format!("<order-{}@ticketing>", delivery.order_id),
            to_address: recipient.address,
            to_name: recipient.name.clone(),
            subject: subject(first, tickets.len()),
            text_body: body(&recipient.name, &tickets),
            attachments: vec![Attachment {
                filename: format!("tickets-{}.pdf", delivery.order_id),
                content_type: "application/pdf".into(),
                content: pdf,
            }],
        })
    }
}

fn subject(first: &TicketDetails, count: usize) -> String {
    match count {
        1 => format!("Your ticket for {}", first.show_title),
        n => format!("Your {n} tickets for {}", first.show_title),
    }
}

fn body(name: &str, tickets: &[TicketDetails]) -> String {
    let mut text = format!(
        "Hello {name},\n\nthank you for your order {}. Your tickets are attached as a PDF; \
         show the QR code of each at the door.\n\n",
        tickets[0].order_id
    );
    for ticket in tickets {
        let local = ticket.starts_at.with_timezone(&ticket.time_zone.zone());
        text.push_str(&format!(
            "- {} at {}, {}: {} row {} seat {}\n",
            ticket.show_title,
            ticket.venue,
            local.format("%a %-d %b %Y, %H:%M %Z"),
            ticket.section,
            ticket.row,
            ticket.seat_label,
        ));
    }
    text.push_str("\nEnjoy the show!\n");
    text
}
