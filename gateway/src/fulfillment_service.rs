//! `FulfillmentService`: a customer's tickets and their PDFs (folded from
//! the log by the engine, so a ticket is readable the moment it is issued),
//! and check-in at the door, verified with the published ticket keys.

use ticketing_aggregates::{Actor, OrderId, ShowId, TicketId, TicketStatus};
use ticketing_commands::{CheckIn, Engine, TicketView};
use ticketing_fulfillment::{render_tickets, ScanError, Scanner, MAX_PAYLOAD_LEN};
use ticketing_identity::{Identity, Role};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::fulfillment_service_server::{
    FulfillmentService, FulfillmentServiceServer,
};
use tonic::{Request, Response, Status};

use crate::convert::{timestamp, user_ref};
use crate::{caller, AppError, Caller, Consistency};

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 200;
/// Most tickets in one PDF; a larger order downloads its tickets one by one.
const MAX_PDF_PAGES: usize = 100;

#[derive(Clone)]
pub struct FulfillmentApi {
    engine: Engine,
    identity: Identity,
    scanner: Scanner,
    consistency: Consistency,
}

impl FulfillmentApi {
    /// `consistency` is shared with the gateway's other services, so a
    /// caller's token issued by one applies to its queries to the others.
    pub fn new(
        engine: Engine,
        identity: Identity,
        scanner: Scanner,
        consistency: Consistency,
    ) -> Self {
        Self {
            engine,
            identity,
            scanner,
            consistency,
        }
    }

    pub fn into_server(self) -> FulfillmentServiceServer<Self> {
        FulfillmentServiceServer::new(self)
    }

    async fn customer<T>(&self, request: &Request<T>) -> Result<Caller, AppError> {
        let caller = caller(&self.identity, request).await?;
        caller.require(&[Role::Customer])?;
        Ok(caller)
    }

    /// The order's tickets, for its customer.
    async fn order_tickets(
        &self,
        caller: &Caller,
        order_id: &str,
    ) -> Result<Vec<TicketView>, AppError> {
        let order = OrderId::parse("order_id", order_id)?;
        Ok(self
            .engine
            .order_tickets(&user_ref(caller)?, &order)
            .await?)
    }

    async fn check_in(
        &self,
        request: Request<pb::CheckInRequest>,
        caller: &Caller,
    ) -> Result<pb::CheckInResponse, AppError> {
        let req = request.into_inner();
        let door = match req.show_id.as_str() {
            "" => None,
            raw => Some(ShowId::parse("show_id", raw)?),
        };
        if req.qr_payload.len() > MAX_PAYLOAD_LEN {
            return Ok(invalid());
        }
        let claim = match self.scanner.verify(&req.qr_payload).await {
            Ok(claim) => claim,
            Err(ScanError::Invalid(_)) => return Ok(invalid()),
            Err(ScanError::Keys(error)) => {
                tracing::warn!(%error, "ticket keys unavailable");
                return Err(AppError::Unavailable("ticket keys unavailable".into()));
            }
        };
        if door.is_some_and(|show| show != *claim.show_id()) {
            return Ok(invalid());
        }
        let actor = Actor {
            user: user_ref(caller)?,
            is_admin: caller.role == Role::Admin,
        };
        let outcome = self
            .engine
            .check_in(
                &actor,
                claim.ticket_id(),
                claim.show_id(),
                claim.seat_label(),
            )
            .await;
        let (result, ticket) = match outcome {
            Ok(CheckIn::Admitted(ticket)) => (pb::CheckInResult::Admitted, ticket),
            Ok(CheckIn::AlreadyUsed(ticket)) => (pb::CheckInResult::AlreadyUsed, ticket),
            Ok(CheckIn::Voided(ticket)) => (pb::CheckInResult::Voided, ticket),
            // A signed payload for a ticket the log does not have.
            Err(ticketing_commands::CommandError::NotFound(_)) => return Ok(invalid()),
            Err(error) => return Err(error.into()),
        };
        Ok(pb::CheckInResponse {
            consistency_token: String::new(),
            result: result as i32,
            ticket_id: ticket.details.ticket_id.to_string(),
            seat_label: ticket.details.seat_label.to_string(),
            checked_in_at: ticket.checked_in_at.map(timestamp),
            show_id: ticket.details.show_id.to_string(),
        })
    }
}

fn invalid() -> pb::CheckInResponse {
    pb::CheckInResponse {
        consistency_token: String::new(),
        result: pb::CheckInResult::Invalid as i32,
        ..Default::default()
    }
}

fn ticket(view: TicketView) -> pb::Ticket {
    let status = match view.status {
        TicketStatus::Unknown => pb::TicketStatus::Unspecified,
        TicketStatus::Issued => pb::TicketStatus::Issued,
        TicketStatus::CheckedIn => pb::TicketStatus::CheckedIn,
        TicketStatus::Voided => pb::TicketStatus::Voided,
    };
    let details = view.details;
    pb::Ticket {
        ticket_id: details.ticket_id.to_string(),
        order_id: details.order_id.to_string(),
        show_id: details.show_id.to_string(),
        seat_label: details.seat_label.to_string(),
        section: details.section,
        row: details.row,
        holder_name: details.holder_name,
        price_minor: details.price_minor,
        currency: details.currency.to_string(),
        status: status as i32,
        qr_payload: details.qr_payload,
        issued_at: Some(timestamp(details.issued_at)),
        checked_in_at: view.checked_in_at.map(timestamp),
    }
}

fn pdf<'a>(
    tickets: impl IntoIterator<Item = &'a TicketView>,
    filename: String,
) -> Result<pb::TicketPdf, AppError> {
    let content =
        render_tickets(tickets.into_iter().map(|t| &t.details)).map_err(AppError::internal)?;
    Ok(pb::TicketPdf { filename, content })
}

#[tonic::async_trait]
impl FulfillmentService for FulfillmentApi {
    async fn list_tickets(
        &self,
        request: Request<pb::ListTicketsRequest>,
    ) -> Result<Response<pb::ListTicketsResponse>, Status> {
        let caller = self.customer(&request).await?;
        let req = request.get_ref();
        // Tickets are read from the log, which holds every write.
        self.consistency
            .check_token(&request, &req.min_consistency_token)?;
        let size = match req.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => return Err(AppError::invalid("page_size", "must not be negative").into()),
            n => (n as usize).min(MAX_PAGE_SIZE),
        };
        let start = match req.page_token.as_str() {
            "" => 0,
            token => token.parse::<usize>().map_err(|_| {
                AppError::invalid("page_token", "not a page token this service issued")
            })?,
        };
        let tickets = self.order_tickets(&caller, &req.order_id).await?;
        let end = start.saturating_add(size).min(tickets.len());
        let next_page_token = if end < tickets.len() {
            end.to_string()
        } else {
            String::new()
        };
        let page = tickets
            .into_iter()
            .skip(start)
            .take(end.saturating_sub(start));
        Ok(Response::new(pb::ListTicketsResponse {
            tickets: page.map(ticket).collect(),
            next_page_token,
        }))
    }

    async fn get_ticket_pdf(
        &self,
        request: Request<pb::GetTicketPdfRequest>,
    ) -> Result<Response<pb::TicketPdf>, Status> {
        let caller = self.customer(&request).await?;
        let id =
            TicketId::parse("ticket_id", &request.get_ref().ticket_id).map_err(AppError::from)?;
        let view = self
            .engine
            .ticket(&user_ref(&caller)?, &id)
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(pdf([&view], format!("ticket-{id}.pdf"))?))
    }

    async fn get_order_tickets_pdf(
        &self,
        request: Request<pb::GetOrderTicketsPdfRequest>,
    ) -> Result<Response<pb::TicketPdf>, Status> {
        let caller = self.customer(&request).await?;
        let order_id = &request.get_ref().order_id;
        let tickets = self.order_tickets(&caller, order_id).await?;
        if tickets.is_empty() {
            return Err(AppError::NotFound("no tickets issued for this order yet".into()).into());
        }
        if tickets.len() > MAX_PDF_PAGES {
            return Err(AppError::failed_precondition(
                "TOO_MANY_TICKETS",
                format!(
                    "an order PDF holds at most {MAX_PDF_PAGES} tickets; download them one by one"
                ),
            )
            .into());
        }
        Ok(Response::new(pdf(
            &tickets,
            format!("tickets-{order_id}.pdf"),
        )?))
    }

    async fn check_in(
        &self,
        request: Request<pb::CheckInRequest>,
    ) -> Result<Response<pb::CheckInResponse>, Status> {
        let caller = caller(&self.identity, &request).await?;
        caller.require(&[Role::Organizer, Role::Admin])?;
        let answer = FulfillmentApi::check_in(self, request, &caller).await?;
        Ok(self.consistency.answer(&caller, answer).await?)
    }
}
