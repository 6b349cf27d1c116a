//! `CatalogService`: organizers schedule, publish and cancel shows; anyone
//! reads the catalog (served from the `shows` read model).

use ticketing_aggregates::{Actor, RawRow, RawSection, ShowId};
use ticketing_commands::{Engine, ScheduleShow};
use ticketing_identity::{Identity, Role};
use ticketing_projections::Shows;
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::catalog_service_server::{CatalogService, CatalogServiceServer};
use tonic::{Request, Response, Status};

use crate::convert::{from_timestamp, show_row, show_view, user_ref};
use crate::paging::page;
use crate::{caller, AppError, Caller};

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 200;

#[derive(Clone)]
pub struct CatalogApi {
    engine: Engine,
    identity: Identity,
    shows: Shows,
}

impl CatalogApi {
    pub fn new(engine: Engine, identity: Identity, shows: Shows) -> Self {
        Self {
            engine,
            identity,
            shows,
        }
    }

    pub fn into_server(self) -> CatalogServiceServer<Self> {
        CatalogServiceServer::new(self)
    }

    fn organizer<T>(&self, request: &Request<T>) -> Result<Caller, AppError> {
        let caller = caller(&self.identity, request)?;
        caller.require(&[Role::Organizer, Role::Admin])?;
        Ok(caller)
    }

    async fn change(
        &self,
        request: Request<String>,
        method: &'static str,
    ) -> Result<pb::Show, AppError> {
        let caller = self.organizer(&request)?;
        let idempotency =
            crate::convert::command_key(&request, &caller, method, request.get_ref())?;
        let show_id = ShowId::parse("show_id", request.get_ref())?;
        let actor = Actor {
            user: user_ref(&caller)?,
            is_admin: caller.role == Role::Admin,
        };
        let view = match method {
            "PublishShow" => {
                self.engine
                    .publish_show(&actor, &show_id, idempotency.as_ref())
                    .await?
            }
            _ => {
                self.engine
                    .cancel_show(&actor, &show_id, idempotency.as_ref())
                    .await?
            }
        };
        Ok(show_view(view))
    }
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn schedule_show(
        &self,
        request: Request<pb::ScheduleShowRequest>,
    ) -> Result<Response<pb::Show>, Status> {
        let caller = self.organizer(&request)?;
        let idempotency =
            crate::convert::command_key(&request, &caller, "ScheduleShow", request.get_ref())?;
        let organizer = user_ref(&caller)?;
        let req = request.into_inner();
        let input = ScheduleShow {
            title: req.title,
            venue: req.venue,
            starts_at: from_timestamp("starts_at", req.starts_at.as_ref())?,
            time_zone: req.time_zone,
            currency: req.currency,
            sections: req
                .sections
                .into_iter()
                .map(|section| RawSection {
                    name: section.name,
                    rows: section
                        .rows
                        .into_iter()
                        .map(|row| RawRow {
                            name: row.name,
                            seats: row
                                .seats
                                .into_iter()
                                .map(|s| (s.label, s.price_minor))
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        };
        let view = self
            .engine
            .schedule_show(&organizer, input, idempotency.as_ref())
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(show_view(view)))
    }

    async fn publish_show(
        &self,
        request: Request<pb::PublishShowRequest>,
    ) -> Result<Response<pb::Show>, Status> {
        let request = request.map(|r| r.show_id);
        Ok(Response::new(self.change(request, "PublishShow").await?))
    }

    async fn cancel_show(
        &self,
        request: Request<pb::CancelShowRequest>,
    ) -> Result<Response<pb::Show>, Status> {
        let request = request.map(|r| r.show_id);
        Ok(Response::new(self.change(request, "CancelShow").await?))
    }

    async fn get_show(
        &self,
        request: Request<pb::GetShowRequest>,
    ) -> Result<Response<pb::Show>, Status> {
        let show_id =
            ShowId::parse("show_id", &request.get_ref().show_id).map_err(AppError::from)?;
        let row = self
            .shows
            .get(show_id.as_str())
            .await
            .map_err(AppError::from)?;
        let row = row.ok_or_else(|| AppError::NotFound(format!("show {show_id} not found")))?;
        Ok(Response::new(show_row(row)))
    }

    async fn list_shows(
        &self,
        request: Request<pb::ListShowsRequest>,
    ) -> Result<Response<pb::ListShowsResponse>, Status> {
        let req = request.into_inner();
        let page = page(
            req.page_size,
            &req.page_token,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
            ShowId::parse,
        )?;
        let status = match pb::ShowStatus::try_from(req.status) {
            Ok(pb::ShowStatus::Unspecified) => None,
            Ok(pb::ShowStatus::Scheduled) => Some("SCHEDULED"),
            Ok(pb::ShowStatus::Published) => Some("PUBLISHED"),
            Ok(pb::ShowStatus::Cancelled) => Some("CANCELLED"),
            Err(_) => return Err(AppError::invalid("status", "unknown show status").into()),
        };
        let page = self
            .shows
            .list(page.after.as_ref().map(ShowId::as_str), status, page.size)
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(pb::ListShowsResponse {
            shows: page.shows.into_iter().map(show_row).collect(),
            next_page_token: page.next_after.unwrap_or_default(),
        }))
    }
}
