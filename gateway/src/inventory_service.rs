//! `InventoryService`: customers hold and release seats; anyone reads a
//! show's seat map (served from the `seat_map` read model) or watches it
//! change (`watch.rs`).

use std::collections::HashSet;
use ticketing_aggregates::{ReservationId, SeatLabel, ShowId};
use ticketing_commands::Engine;
use ticketing_identity::{Identity, Role};
use ticketing_projections::{seat_map_as_of, ReadModel, SeatMapRow, SeatMaps, ShowRow, Shows};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::inventory_service_server::{InventoryService, InventoryServiceServer};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::consistency::{back_off, optional_caller};
use crate::convert::{command_key, from_timestamp, reservation_view, seat_status, user_ref};
use crate::watch::{parse_position, UpdateStream, Watcher};
use crate::{caller, AppError, Consistency, FieldViolation};

#[derive(Clone)]
pub struct InventoryApi {
    engine: Engine,
    identity: Identity,
    seat_maps: SeatMaps,
    shows: Shows,
    watcher: Watcher,
    consistency: Consistency,
}

/// The read models a seat map is made of: the show (its currency and
/// seat count) and its seats.
const SEAT_MAP_MODELS: &[ReadModel] = &[ReadModel::Shows, ReadModel::SeatMap];

/// Between two reads of a seat map that is not complete yet: the first
/// pause and the longest (each read fetches the whole map).
const COMPLETE_POLL: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_millis(20),
    std::time::Duration::from_millis(250),
);

impl InventoryApi {
    /// `consistency` is shared with the gateway's other services, so a
    /// caller's token issued by one applies to its queries to the others.
    pub fn new(
        engine: Engine,
        identity: Identity,
        seat_maps: SeatMaps,
        shows: Shows,
        consistency: Consistency,
    ) -> Self {
        let watcher = Watcher::new(engine.store().clone());
        Self {
            engine,
            identity,
            seat_maps,
            shows,
            watcher,
            consistency,
        }
    }

    /// Ends every `WatchSeatMap` stream once `stopped` turns true; without
    /// it open streams hold up the server's graceful shutdown.
    pub fn stop_watches_on(mut self, stopped: watch::Receiver<bool>) -> Self {
        self.watcher = self.watcher.stop_on(stopped);
        self
    }

    /// At most `max` seat-map watches open in this process, `per_peer`
    /// from one address.
    pub fn bound_watches(mut self, max: usize, per_peer: usize) -> Self {
        self.watcher = self.watcher.bounded(max, per_peer);
        self
    }

    pub fn into_server(self) -> InventoryServiceServer<Self> {
        InventoryServiceServer::new(self)
    }

    /// Parses the seat list, reporting every bad entry by index; refuses an
    /// oversized list before looking at its entries.
    fn seat_labels(&self, raw: &[String]) -> Result<Vec<SeatLabel>, AppError> {
        let max = self.engine.config().max_seats_per_reservation;
        if raw.is_empty() || raw.len() > max {
            let why = format!("a reservation holds 1 to {max} seats, got {}", raw.len());
            return Err(AppError::invalid("seat_labels", why));
        }
        let mut seen = HashSet::new();
        let mut violations = Vec::new();
        let mut labels = Vec::with_capacity(raw.len());
        for (i, label) in raw.iter().enumerate() {
            let field = format!("seat_labels[{i}]");
            match SeatLabel::parse(&field, label) {
                Ok(label) if !seen.insert(label.clone()) => violations.push(FieldViolation {
                    field,
                    description: format!("seat {label} is listed twice"),
                }),
                Ok(label) => labels.push(label),
                Err(e) => violations.push(FieldViolation {
                    field: e.field,
                    description: e.description,
                }),
            }
        }
        if violations.is_empty() {
            Ok(labels)
        } else {
            Err(AppError::InvalidArgument(violations))
        }
    }

    /// Time travel folds the show's history from the log: for admins,
    /// analysts and the show's own organizer only.
    async fn may_travel<T>(&self, request: &Request<T>, show_id: &ShowId) -> Result<(), AppError> {
        let caller = caller(&self.identity, request).await?;
        match caller.role {
            Role::Admin | Role::Analyst => Ok(()),
            Role::Organizer
                if self.show(show_id).await?.organizer_id == caller.user_id.as_str() =>
            {
                Ok(())
            }
            _ => Err(AppError::PermissionDenied(
                "a seat map as it was is for admins, analysts and the show's organizer".to_owned(),
            )),
        }
    }

    async fn show(&self, show_id: &ShowId) -> Result<ShowRow, AppError> {
        let show = self.shows.get(show_id.as_str()).await?;
        show.ok_or_else(|| AppError::NotFound(format!("show {show_id} not found")))
    }

    /// The show's seats now, every one of them: the shows model may list a
    /// show whose seats the seat-map projector has not written yet, and a
    /// seat map is never answered in part. Waits for them as long as a
    /// query waits for a token, then answers UNAVAILABLE READ_MODEL_BEHIND.
    async fn complete_seat_map(&self, show: &ShowRow) -> Result<Vec<SeatMapRow>, AppError> {
        let deadline = std::time::Instant::now() + self.consistency.wait();
        let mut pause = COMPLETE_POLL.0;
        loop {
            let rows = self
                .seat_maps
                .seat_map(&show.show_id, self.engine.now())
                .await?;
            if rows.len() as i64 >= show.seat_count {
                return Ok(rows);
            }
            if std::time::Instant::now() >= deadline {
                return Err(AppError::ReadModelBehind(format!(
                    "the seat map of show {} is not complete yet ({} of {} seats)",
                    show.show_id,
                    rows.len(),
                    show.seat_count
                )));
            }
            back_off(&mut pause, COMPLETE_POLL.1).await;
        }
    }

    /// Now from the read model, or at `as_of` folded from the log.
    async fn seat_map(
        &self,
        show_id: &ShowId,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<pb::SeatMap, AppError> {
        let show = self.show(show_id).await?;
        let now = self.engine.now();
        let rows = match as_of {
            None => self.complete_seat_map(&show).await?,
            Some(at) if at > now => {
                return Err(AppError::invalid("as_of", "must not be in the future"))
            }
            Some(at) => seat_map_as_of(self.engine.store(), show_id, at)
                .await?
                .ok_or_else(|| {
                    AppError::NotFound(format!("show {show_id} was not scheduled yet at {at}"))
                })?,
        };
        Ok(pb::SeatMap {
            show_id: show_id.to_string(),
            currency: show.currency,
            seats: rows
                .into_iter()
                .map(|row| pb::SeatMapSeat {
                    label: row.label,
                    section: row.section,
                    row: row.row,
                    price_minor: row.price_minor,
                    status: seat_status(row.status) as i32,
                })
                .collect(),
        })
    }
}

#[tonic::async_trait]
impl InventoryService for InventoryApi {
    async fn reserve_seats(
        &self,
        request: Request<pb::ReserveSeatsRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        let caller = caller(&self.identity, &request).await?;
        caller.require(&[Role::Customer])?;
        let idempotency = command_key(&request, &caller, "ReserveSeats", request.get_ref())?;
        let req = request.get_ref();
        let show_id = ShowId::parse("show_id", &req.show_id);
        let labels = self.seat_labels(&req.seat_labels);
        let (show_id, labels) = match (show_id, labels) {
            (Ok(show_id), Ok(labels)) => (show_id, labels),
            (show_id, labels) => {
                let mut violations: Vec<FieldViolation> = show_id
                    .err()
                    .map(|e| FieldViolation {
                        field: e.field,
                        description: e.description,
                    })
                    .into_iter()
                    .collect();
                if let Err(AppError::InvalidArgument(more)) = labels {
                    violations.extend(more);
                }
                return Err(AppError::InvalidArgument(violations).into());
            }
        };
        let customer = user_ref(&caller)?;
        let view = self
            .engine
            .reserve_seats(&customer, &show_id, labels, idempotency.as_ref())
            .await
            .map_err(AppError::from)?;
        Ok(self
            .consistency
            .answer(&caller, reservation_view(view))
            .await?)
    }

    async fn release_reservation(
        &self,
        request: Request<pb::ReleaseReservationRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        let caller = caller(&self.identity, &request).await?;
        caller.require(&[Role::Customer])?;
        let idempotency = command_key(&request, &caller, "ReleaseReservation", request.get_ref())?;
        let reservation_id =
            ReservationId::parse("reservation_id", &request.get_ref().reservation_id)
                .map_err(AppError::from)?;
        let view = self
            .engine
            .release_reservation(&user_ref(&caller)?, &reservation_id, idempotency.as_ref())
            .await
            .map_err(AppError::from)?;
        Ok(self
            .consistency
            .answer(&caller, reservation_view(view))
            .await?)
    }

    async fn get_seat_map(
        &self,
        request: Request<pb::GetSeatMapRequest>,
    ) -> Result<Response<pb::SeatMap>, Status> {
        let req = request.get_ref();
        let show_id = ShowId::parse("show_id", &req.show_id).map_err(AppError::from)?;
        let as_of = from_timestamp("as_of", req.as_of.as_ref())?;
        if as_of.is_some() {
            self.may_travel(&request, &show_id).await?;
        } else {
            let caller = optional_caller(&self.identity, &request).await?;
            let token = &request.get_ref().min_consistency_token;
            self.consistency
                .before_show_read(
                    &request,
                    token,
                    caller.as_ref(),
                    SEAT_MAP_MODELS,
                    Some(show_id.as_str()),
                )
                .await?;
        }
        Ok(Response::new(self.seat_map(&show_id, as_of).await?))
    }

    type WatchSeatMapStream = UpdateStream;

    async fn watch_seat_map(
        &self,
        request: Request<pb::WatchSeatMapRequest>,
    ) -> Result<Response<UpdateStream>, Status> {
        let peer = request.remote_addr().map(|addr| addr.ip());
        let req = request.get_ref();
        let show_id = ShowId::parse("show_id", &req.show_id).map_err(AppError::from)?;
        let caller = optional_caller(&self.identity, &request).await?;
        self.consistency
            .before_show_read(
                &request,
                &req.min_consistency_token,
                caller.as_ref(),
                SEAT_MAP_MODELS,
                Some(show_id.as_str()),
            )
            .await?;
        let slot = self.watcher.slot(peer)?;
        let stream = if req.resume_after.is_empty() {
            self.watcher
                .with_snapshot(slot, show_id.clone(), self.seat_map(&show_id, None))
                .await?
        } else {
            let after = parse_position("resume_after", &req.resume_after)?;
            self.show(&show_id).await?;
            self.watcher
                .resume_or_snapshot(slot, show_id.clone(), after, self.seat_map(&show_id, None))
                .await?
        };
        Ok(Response::new(stream))
    }
}
