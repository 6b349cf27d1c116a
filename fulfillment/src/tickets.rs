//! Tickets as PDF: the pages of [`TicketDetails`], rendered by `pdf.rs`.

use ticketing_aggregates::TicketDetails;

use crate::pdf::{render_pdf, PdfError, TicketPage};

/// What a ticket prints.
pub fn page(ticket: &TicketDetails) -> TicketPage {
    TicketPage {
        ticket_id: ticket.ticket_id.to_string(),
        order_id: ticket.order_id.to_string(),
        show_title: ticket.show_title.clone(),
        venue: ticket.venue.clone(),
        starts_at: ticket.starts_at,
        time_zone: ticket.time_zone.to_string(),
        section: ticket.section.clone(),
        row: ticket.row.clone(),
        seat_label: ticket.seat_label.to_string(),
        holder_name: ticket.holder_name.clone(),
        price_minor: ticket.price_minor,
        currency: ticket.currency.to_string(),
        qr_payload: ticket.qr_payload.clone(),
    }
}

/// One PDF with a page per ticket.
pub fn render_tickets<'a>(
    tickets: impl IntoIterator<Item = &'a TicketDetails>,
) -> Result<Vec<u8>, PdfError> {
    let pages: Vec<TicketPage> = tickets.into_iter().map(page).collect();
    render_pdf(&pages)
}
