//! The Ticket aggregate (stream = its [`TicketId`]): the right of one
//! holder to one seat of one show, issued once per sold seat, admitted at
//! the door at most once, voided when its show is cancelled.
//!
//! A ticket carries everything printed on it (show, place, holder, price,
//! the signed QR payload), so a PDF or an email needs nothing else.
//!
//! Voiding a ticket that was never issued leaves a tombstone: a refund that
//! overtakes the fulfillment worker voids the ticket ids of the order
//! first, and the late issue then finds them voided and issues nothing.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{Currency, OrderId, SeatLabel, ShowId, TicketId, TimeZoneName, UserRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TicketStatus {
    #[default]
    Unknown,
    Issued,
    CheckedIn,
    Voided,
}

/// What a ticket says, fixed when it is issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDetails {
    pub ticket_id: TicketId,
    pub order_id: OrderId,
    pub customer_id: UserRef,
    pub holder_name: String,
    pub show_id: ShowId,
    pub show_title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub time_zone: TimeZoneName,
    pub section: String,
    pub row: String,
    pub seat_label: SeatLabel,
    pub price_minor: i64,
    pub currency: Currency,
    pub issued_at: DateTime<Utc>,
    /// The signed QR payload a door scanner verifies offline.
    pub qr_payload: String,
    /// How many tickets the order got in the same issue (they are mailed
    /// together).
    pub tickets_in_order: u32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ticket {
    pub status: TicketStatus,
    pub details: Option<TicketDetails>,
    pub checked_in_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub enum TicketCommand {
    Issue(Box<TicketDetails>),
    /// Admits the holder at the door.
    CheckIn {
        at: DateTime<Utc>,
        by: UserRef,
    },
    /// The ticket no longer admits anyone (its show was cancelled).
    Void {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TicketEvent {
    TicketIssued(Box<TicketDetails>),
    TicketCheckedIn { at: DateTime<Utc>, by: UserRef },
    TicketVoided { reason: String },
}

impl DomainEvent for TicketEvent {
    fn event_type(&self) -> String {
        match self {
            TicketEvent::TicketIssued(_) => "TicketIssued",
            TicketEvent::TicketCheckedIn { .. } => "TicketCheckedIn",
            TicketEvent::TicketVoided { .. } => "TicketVoided",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("no such ticket")]
    NotFound,
    #[error("the ticket was already checked in at {at}")]
    AlreadyCheckedIn { at: DateTime<Utc> },
    #[error("the ticket is void")]
    Voided,
}

impl Aggregate for Ticket {
    const TYPE: &'static str = "Ticket";
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = TicketError;
    type Services = ();

    async fn handle(
        &mut self,
        command: TicketCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), TicketError> {
        use TicketStatus::*;
        let event = match (command, self.status) {
            (TicketCommand::Issue(details), Unknown) => TicketEvent::TicketIssued(details),
            // Issued already (a duplicate delivery), or voided before it
            // was issued: nothing to issue.
            (TicketCommand::Issue(_), _) => return Ok(()),
            (TicketCommand::CheckIn { at, by }, Issued) => TicketEvent::TicketCheckedIn { at, by },
            (TicketCommand::CheckIn { .. }, CheckedIn) => {
                return Err(TicketError::AlreadyCheckedIn {
                    at: self.checked_in_at.unwrap_or_default(),
                })
            }
            (TicketCommand::CheckIn { .. }, Voided) => return Err(TicketError::Voided),
            (TicketCommand::CheckIn { .. }, Unknown) => return Err(TicketError::NotFound),
            (TicketCommand::Void { .. }, Voided) => return Ok(()),
            (TicketCommand::Void { reason }, _) => TicketEvent::TicketVoided { reason },
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: TicketEvent) {
        match event {
            TicketEvent::TicketIssued(details) => {
                self.status = TicketStatus::Issued;
                self.details = Some(*details);
            }
            TicketEvent::TicketCheckedIn { at, .. } => {
                self.status = TicketStatus::CheckedIn;
                self.checked_in_at = Some(at);
            }
            TicketEvent::TicketVoided { .. } => self.status = TicketStatus::Voided,
        }
    }
}
