//! `CatalogService`: organizers schedule, publish and cancel shows; anyone
//! reads the catalog (served from the `shows` read model): published shows
//! that have not started, plus an organizer's own and, for admins, all.

use ticketing_aggregates::{Actor, RawRow, RawSection, ShowId};
use ticketing_commands::{Engine, ScheduleShow};
use ticketing_identity::{Identity, Role};
use ticketing_projections::{ReadModel, ShowQuery, Shows};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::catalog_service_server::{CatalogService, CatalogServiceServer};
use tonic::{Request, Response, Status};

use crate::consistency::optional_caller;
use crate::convert::{from_timestamp, show_row, show_view, user_ref};
use crate::paging::page;
use crate::{caller, AppError, Caller, Consistency};

/// The page token of ListShows: the last show's start (ms) and id.
fn parse_show_token(
    field: &str,
    token: &str,
) -> Result<(i64, String), ticketing_aggregates::ValidationError> {
    let bad = || ticketing_aggregates::ValidationError {
        field: field.to_owned(),
        description: "not a page token this service issued".to_owned(),
    };
    let (at, id) = token.split_once('.').ok_or_else(bad)?;
    let at = at.parse().map_err(|_| bad())?;
    let id = ShowId::parse(field, id)?;
    Ok((at, id.to_string()))
}

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 200;

#[derive(Clone)]
pub struct CatalogApi {
    engine: Engine,
    identity: Identity,
    shows: Shows,
    consistency: Consistency,
}

impl CatalogApi {
    /// `consistency` is shared with the gateway's other services, so a
    /// caller's token issued by one applies to its queries to the others.
    pub fn new(engine: Engine, identity: Identity, shows: Shows, consistency: Consistency) -> Self {
        Self {
            engine,
            identity,
            shows,
            consistency,
        }
    }

    pub fn into_server(self) -> CatalogServiceServer<Self> {
        CatalogServiceServer::new(self)
    }

    async fn organizer<T>(&self, request: &Request<T>) -> Result<Caller, AppError> {
        let caller = caller(&self.identity, request).await?;
        caller.require(&[Role::Organizer, Role::Admin])?;
        Ok(caller)
    }

    async fn change(
        &self,
        request: Request<String>,
        method: &'static str,
    ) -> Result<Response<pb::Show>, AppError> {
        let caller = self.organizer(&request).await?;
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
        self.consistency.answer(&caller, show_view(view)).await
    }
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn schedule_show(
        &self,
        request: Request<pb::ScheduleShowRequest>,
    ) -> Result<Response<pb::Show>, Status> {
        let caller = self.organizer(&request).await?;
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
            max_held_seats: req.max_held_seats_per_customer,
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
        Ok(self.consistency.answer(&caller, show_view(view)).await?)
    }

    async fn publish_show(
        &self,
        request: Request<pb::PublishShowRequest>,
    ) -> Result<Response<pb::Show>, Status> {
        let request = request.map(|r| r.show_id);
        Ok(self.change(request, "PublishShow").await?)
    }

    async fn cancel_show(
        &self,
        request: Request<pb::CancelShowRequest>,
    ) -> Result<Response<pb::Show>, Status> {
        let request = request.map(|r| r.show_id);
        Ok(self.change(request, "CancelShow").await?)
    }

    async fn get_show(
        &self,
        request: Request<pb::GetShowRequest>,
    ) -> Result<Response<pb::Show>, Status> {
        let show_id =
            ShowId::parse("show_id", &request.get_ref().show_id).map_err(AppError::from)?;
        let caller = optional_caller(&self.identity, &request).await?;
        let token = &request.get_ref().min_consistency_token;
        self.consistency
            .before_read(&request, token, caller.as_ref(), &[ReadModel::Shows])
            .await?;
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
        // Anonymous callers may list; a caller who sends a token gets it
        // checked, and sees what its role may see.
        let caller = optional_caller(&self.identity, &request).await?;
        let token = &request.get_ref().min_consistency_token;
        self.consistency
            .before_read(&request, token, caller.as_ref(), &[ReadModel::Shows])
            .await?;
        let req = request.into_inner();
        let page = page(
            req.page_size,
            &req.page_token,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
            parse_show_token,
        )?;
        let status = match pb::ShowStatus::try_from(req.status) {
            Ok(pb::ShowStatus::Unspecified) => None,
            Ok(pb::ShowStatus::Scheduled) => Some("SCHEDULED"),
            Ok(pb::ShowStatus::Published) => Some("PUBLISHED"),
            Ok(pb::ShowStatus::Cancelled) => Some("CANCELLED"),
            Err(_) => return Err(AppError::invalid("status", "unknown show status").into()),
        };
        let starts_after = from_timestamp("starts_after", req.starts_after.as_ref())?;
        let starts_before = from_timestamp("starts_before", req.starts_before.as_ref())?;
        let query = ShowQuery {
            now_millis: self.engine.now().timestamp_millis(),
            everything: caller.as_ref().is_some_and(|c| c.role == Role::Admin),
            organizer: caller
                .as_ref()
                .filter(|c| c.role == Role::Organizer)
                .map(|c| c.user_id.to_string()),
            status,
            venue: Some(req.venue).filter(|v| !v.is_empty()),
            starts_after: starts_after.map(|at| at.timestamp_millis()),
            starts_before: starts_before.map(|at| at.timestamp_millis()),
            after: page.after,
        };
        let page = self
            .shows
            .list(&query, page.size)
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(pb::ListShowsResponse {
            shows: page.shows.into_iter().map(show_row).collect(),
            next_page_token: page
                .next_after
                .map(|(at, id)| format!("{at}.{id}"))
                .unwrap_or_default(),
        }))
    }
}
