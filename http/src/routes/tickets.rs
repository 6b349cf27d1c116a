//! `/orders/{id}/tickets` and `/tickets/{id}.pdf`: a paid order's tickets
//! and each ticket's PDF.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::Json;
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::fulfillment_service_server::FulfillmentService;

use crate::extract::{Credentials, Params};
use crate::model::{Page, Ticket, TicketPage};
use crate::{Problem, Services};

/// The tickets of one of the caller's orders (none until the order is paid
/// and its tickets are issued, a moment later).
#[utoipa::path(get, path = "/orders/{order_id}/tickets", tag = "tickets",
    params(("order_id" = String, Path, description = "The order's id"), Page),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of the order's tickets", body = TicketPage),
        (status = 404, description = "No such order of the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_tickets(
    State(services): State<Services>,
    credentials: Credentials,
    Path(order_id): Path<String>,
    Params(page): Params<Page>,
) -> Result<Json<TicketPage>, Problem> {
    let request = credentials.request(pb::ListTicketsRequest {
        order_id,
        page_size: page.page_size.unwrap_or_default(),
        page_token: page.page_token.unwrap_or_default(),
        min_consistency_token: String::new(),
    });
    let reply = FulfillmentService::list_tickets(&services.fulfillment, request)
        .await?
        .into_inner();
    Ok(Json(TicketPage {
        tickets: reply.tickets.into_iter().map(Ticket::from).collect(),
        next_page_token: reply.next_page_token,
    }))
}

/// One of the caller's tickets as a PDF with its signed QR code. The path
/// is the ticket id followed by `.pdf`.
#[utoipa::path(get, path = "/tickets/{ticket_pdf}", tag = "tickets",
    params(("ticket_pdf" = String, Path, description = "`<ticket_id>.pdf`", example = "t_01JZ00000000000000000000AA.pdf")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The ticket", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "No such ticket of the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_ticket_pdf(
    State(services): State<Services>,
    credentials: Credentials,
    Path(ticket_pdf): Path<String>,
) -> Result<impl IntoResponse, Problem> {
    let Some(ticket_id) = ticket_pdf.strip_suffix(".pdf") else {
        return Err(Problem::not_found(
            "a ticket's path is /tickets/<ticket_id>.pdf",
        ));
    };
    let request = credentials.request(pb::GetTicketPdfRequest {
        ticket_id: ticket_id.to_owned(),
    });
    let pdf = FulfillmentService::get_ticket_pdf(&services.fulfillment, request)
        .await?
        .into_inner();
    let disposition = format!("attachment; filename=\"{}\"", safe_filename(&pdf.filename));
    let disposition = HeaderValue::from_str(&disposition)
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        pdf.content,
    ))
}

/// The file name with only characters safe in a quoted header parameter.
fn safe_filename(name: &str) -> String {
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(100)
        .collect();
    if name.is_empty() {
        "ticket.pdf".to_owned()
    } else {
        name
    }
}
