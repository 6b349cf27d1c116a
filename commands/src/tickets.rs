//! Tickets: issuing one per sold seat of a paid order (the fulfillment
//! worker's command), admitting a ticket at the door once, and reading an
//! order's tickets for its customer.
//!
//! Ticket ids are derived from order and seat ([`TicketId::for_seat`]), so
//! the tickets of an order are found without an index and issuing them
//! twice, from two workers or after a crash, is an append conflict: the
//! loser reloads and finds them issued.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticketing_aggregates::{
    Actor, Currency, Order, OrderId, SeatLabel, ShowId, Ticket, TicketCommand, TicketDetails,
    TicketError, TicketId, TicketSigner, TicketStatus, UserRef,
};
use ticketing_event_store::StreamRef;

use crate::engine::{exhausted, Commit, MAX_ATTEMPTS};
use crate::load::{fold, load, metadata, Loaded};
use crate::{CommandError, Engine, IdempotencyKey};

/// A paid order as the fulfillment worker hands it in (from `order-paid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidOrder {
    pub order_id: OrderId,
    pub customer: UserRef,
    pub currency: Currency,
    pub seats: Vec<PaidSeat>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidSeat {
    pub show_id: ShowId,
    pub seat_label: SeatLabel,
    pub price_minor: i64,
}

/// A ticket as its holder or the door sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketView {
    pub details: TicketDetails,
    pub status: TicketStatus,
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// How a check-in ended; the ticket is named in every case.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckIn {
    Admitted(TicketView),
    AlreadyUsed(TicketView),
    Voided(TicketView),
}

impl TicketView {
    fn of(ticket: Ticket) -> Option<Self> {
        Some(Self {
            details: ticket.details?,
            status: ticket.status,
            checked_in_at: ticket.checked_in_at,
        })
    }
}

impl Engine {
    /// Issues one ticket per seat of `paid`, all in one append (with the
    /// idempotency record of the delivery, when given). Seats whose ticket
    /// exists already, or was voided before it was issued, get none.
    /// Returns how many tickets this call issued.
    #[tracing::instrument(name = "command.issue_tickets", skip_all, fields(order = %paid.order_id))]
    pub async fn issue_tickets(
        &self,
        paid: &PaidOrder,
        holder_name: &str,
        signer: &dyn TicketSigner,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<usize, CommandError> {
        // No lookup of the key first: a repeat finds its tickets issued, so
        // its append holds only the record, which conflicts with the stored
        // one, and the stored answer is returned (one query less per order).
        let meta = metadata("IssueTickets", "fulfillment");
        let ids: Vec<TicketId> = paid
            .seats
            .iter()
            .map(|seat| TicketId::for_seat(&paid.order_id, &seat.show_id, &seat.seat_label))
            .collect();
        // Tickets are issued once per paid order, so the first try guesses
        // their streams empty and reads nothing; the append's expected
        // sequences check the guess, and a conflict (issued or voided
        // before) reads them.
        let mut guess_empty = true;
        for _ in 0..MAX_ATTEMPTS {
            let issued_at = self.clock.now();
            let tickets = if std::mem::take(&mut guess_empty) {
                ids.iter()
                    .map(|id| fold(id.as_str(), Vec::new()))
                    .collect::<Result<Vec<Loaded<Ticket>>, _>>()?
            } else {
                self.load_tickets(&ids).await?
            };
            let mut appends = Vec::with_capacity(ids.len());
            for ((seat, ticket_id), mut ticket) in paid.seats.iter().zip(&ids).zip(tickets) {
                let plan = self.plan_index(&seat.show_id).await?;
                let (section, row) = plan
                    .place(&seat.seat_label)
                    .ok_or(CommandError::NotFound("seat in the show's plan"))?;
                let ticket_id = ticket_id.clone();
                let details = TicketDetails {
                    qr_payload: signer.sign(&ticket_id, &seat.show_id, &seat.seat_label, issued_at),
                    ticket_id,
                    order_id: paid.order_id.clone(),
                    customer_id: paid.customer.clone(),
                    holder_name: holder_name.to_owned(),
                    show_id: seat.show_id.clone(),
                    show_title: plan.show.title.clone(),
                    venue: plan.show.venue.clone(),
                    starts_at: plan.show.starts_at,
                    time_zone: plan.show.time_zone.clone(),
                    section: section.to_owned(),
                    row: row.to_owned(),
                    seat_label: seat.seat_label.clone(),
                    price_minor: seat.price_minor,
                    currency: paid.currency.clone(),
                    issued_at,
                    tickets_in_order: u32::try_from(paid.seats.len()).unwrap_or(u32::MAX),
                };
                let events = ticket
                    .decide(TicketCommand::Issue(Box::new(details)), &())
                    .await
                    .map_err(CommandError::internal)?;
                if !events.is_empty() {
                    appends.push(ticket.append(&events, &meta)?);
                }
            }
            let issued = appends.len();
            match self.commit(&appends, &issued, idempotency).await? {
                Commit::Done => return Ok(issued),
                Commit::Conflict => {
                    if let Some(issued) = self.after_conflict(idempotency).await? {
                        return Ok(issued);
                    }
                }
            }
        }
        Err(exhausted())
    }

    /// Admits the ticket once. Only the organizer of its show or an admin
    /// may; `show_id` and `seat_label` are what the scanned QR claims, and
    /// a ticket that says otherwise is not found.
    #[tracing::instrument(name = "command.check_in", skip_all, fields(ticket = %ticket_id))]
    pub async fn check_in(
        &self,
        by: &Actor,
        ticket_id: &TicketId,
        show_id: &ShowId,
        seat_label: &SeatLabel,
    ) -> Result<CheckIn, CommandError> {
        let meta = metadata("CheckIn", by.user.as_str());
        for _ in 0..MAX_ATTEMPTS {
            let mut ticket = load::<Ticket>(&self.store, ticket_id.as_str()).await?;
            let Some(details) = ticket.aggregate.details.clone() else {
                return Err(CommandError::NotFound("ticket"));
            };
            if details.show_id != *show_id || details.seat_label != *seat_label {
                return Err(CommandError::NotFound("ticket"));
            }
            let organizer = &self.plan_index(show_id).await?.show.organizer;
            if !by.is_admin && by.user != *organizer {
                return Err(CommandError::Forbidden(
                    "only the show's organizer or an admin may check tickets in".into(),
                ));
            }
            let at = self.clock.now();
            let command = TicketCommand::CheckIn {
                at,
                by: by.user.clone(),
            };
            let events = match ticket.decide(command, &()).await {
                Ok(events) => events,
                Err(TicketError::AlreadyCheckedIn { .. }) => {
                    return Ok(CheckIn::AlreadyUsed(view(ticket)?))
                }
                Err(TicketError::Voided) => return Ok(CheckIn::Voided(view(ticket)?)),
                Err(TicketError::NotFound) => return Err(CommandError::NotFound("ticket")),
            };
            if let Commit::Done = self
                .commit(&[ticket.append(&events, &meta)?], &(), None)
                .await?
            {
                return Ok(CheckIn::Admitted(view(ticket)?));
            }
        }
        Err(exhausted())
    }

    /// The tickets of an order, for its customer (NOT_FOUND for anyone
    /// else), in the order's seat order; seats without a ticket yet are
    /// left out.
    pub async fn order_tickets(
        &self,
        customer: &UserRef,
        order_id: &OrderId,
    ) -> Result<Vec<TicketView>, CommandError> {
        let order = load::<Order>(&self.store, order_id.as_str()).await?;
        if order.aggregate.customer.as_ref() != Some(customer) {
            return Err(CommandError::NotFound("order"));
        }
        let ids = ticket_ids(order_id, &order.aggregate);
        let tickets = self.load_tickets(&ids).await?;
        Ok(tickets
            .into_iter()
            .filter_map(|ticket| TicketView::of(ticket.aggregate))
            .collect())
    }

    /// One ticket, for its holder (NOT_FOUND for anyone else).
    pub async fn ticket(
        &self,
        customer: &UserRef,
        ticket_id: &TicketId,
    ) -> Result<TicketView, CommandError> {
        let ticket = load::<Ticket>(&self.store, ticket_id.as_str()).await?;
        match TicketView::of(ticket.aggregate) {
            Some(view) if view.details.customer_id == *customer => Ok(view),
            _ => Err(CommandError::NotFound("ticket")),
        }
    }

    /// Many ticket streams in one read, in `ids` order.
    pub(crate) async fn load_tickets(
        &self,
        ids: &[TicketId],
    ) -> Result<Vec<Loaded<Ticket>>, CommandError> {
        let streams: Vec<StreamRef<'_>> = ids
            .iter()
            .map(|id| StreamRef {
                aggregate_type: <Ticket as cqrs_es::Aggregate>::TYPE,
                aggregate_id: id.as_str(),
                after_sequence: 0,
            })
            .collect();
        let loaded = self.store.load_streams(&streams).await?;
        ids.iter()
            .zip(loaded)
            .map(|(id, events)| fold(id.as_str(), events))
            .collect()
    }
}

/// The ticket id of every seat of the order, in item and seat order.
pub(crate) fn ticket_ids(order_id: &OrderId, order: &Order) -> Vec<TicketId> {
    order
        .items
        .iter()
        .flat_map(|item| {
            item.seat_labels
                .iter()
                .map(|label| TicketId::for_seat(order_id, &item.show_id, label))
        })
        .collect()
}

fn view(ticket: Loaded<Ticket>) -> Result<TicketView, CommandError> {
    TicketView::of(ticket.aggregate).ok_or(CommandError::NotFound("ticket"))
}
