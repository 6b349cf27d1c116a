//! Show commands (schedule, publish, cancel) and the show cache that lets a
//! reservation check its show without re-reading the seating plan: the plan
//! never changes after ShowScheduled, so only the events after it (publish,
//! cancel) are read per command.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use ticketing_aggregates::{
    Actor, Currency, PriceMinor, RawSection, SeatLabel, SeatingPlan, Show, ShowCommand,
    ShowDetails, ShowEvent, ShowId, ShowStatus, TimeZoneName, UserRef, ValidationError,
    MAX_HELD_SEATS,
};
use ticketing_event_store::{SerializedEvent, StreamCondition, StreamRef};
use tokio::sync::OnceCell;

use crate::engine::{exhausted, Commit, MAX_ATTEMPTS};
use crate::load::{append, load, metadata};
use crate::{CommandError, Engine, IdempotencyKey, ShowView};

/// ScheduleShow as the gateway hands it in: still unvalidated.
#[derive(Debug, Clone)]
pub struct ScheduleShow {
    pub title: String,
    pub venue: String,
    pub starts_at: Option<DateTime<Utc>>,
    /// IANA name of the venue's time zone; empty: UTC.
    pub time_zone: String,
    pub currency: String,
    pub sections: Vec<RawSection>,
    /// Most seats one customer may hold of the show at once: `None` for
    /// the engine's default, `Some(0)` for no limit.
    pub max_held_seats: Option<u32>,
}

const MAX_TEXT: usize = 200;

/// The immutable part of a show that sales need: seats, prices, currency,
/// and everything a ticket prints (the show as scheduled).
#[derive(Debug, Clone)]
pub(crate) struct PlanIndex {
    pub seats: Arc<HashMap<SeatLabel, PriceMinor>>,
    /// Each seat's section and row, as indexes into the plan.
    pub places: Arc<HashMap<SeatLabel, (usize, usize)>>,
    pub currency: Currency,
    pub show: Arc<ShowDetails>,
    /// The show's status as this process last read it, for holds that
    /// decide without a read (their append's condition checks it).
    last_state: Arc<Mutex<Option<ShowState>>>,
}

impl PlanIndex {
    pub fn known_state(&self) -> Option<ShowState> {
        *self.last_state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn remember(&self, state: ShowState) {
        *self.last_state.lock().unwrap_or_else(|p| p.into_inner()) = Some(state);
    }

    /// The section and row names of `label`.
    pub fn place(&self, label: &SeatLabel) -> Option<(&str, &str)> {
        let &(section, row) = self.places.get(label)?;
        let section = self.show.plan.sections.get(section)?;
        Some((&section.name, &section.rows.get(row)?.name))
    }
}

#[derive(Default)]
pub struct ShowCache {
    shows: Mutex<HashMap<ShowId, Arc<OnceCell<PlanIndex>>>>,
}

impl Engine {
    #[tracing::instrument(name = "command.schedule_show", skip_all)]
    pub async fn schedule_show(
        &self,
        organizer: &UserRef,
        input: ScheduleShow,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<ShowView, CommandError> {
        if let Some(view) = self.replayed(idempotency).await? {
            return Ok(view);
        }
        let details = validate(organizer, input)?;
        let mut show = Show::default();
        let events = crate::load::decide(
            &mut show,
            ShowCommand::Schedule {
                details: details.clone(),
                now: self.clock.now(),
            },
            &(),
        )
        .await?;
        let meta = metadata("ScheduleShow", organizer.as_str());
        let appends = [append::<Show>(details.show_id.as_str(), 0, &events, &meta)?];
        let view = ShowView::new(&details, show.status);
        match self.commit(&appends, &view, idempotency).await? {
            Commit::Done => Ok(view),
            // A fresh show id cannot collide; only our own key can.
            Commit::Conflict => self
                .after_conflict(idempotency)
                .await?
                .ok_or_else(exhausted),
        }
    }

    pub async fn publish_show(
        &self,
        by: &Actor,
        show_id: &ShowId,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<ShowView, CommandError> {
        self.change_show(show_id, idempotency, "PublishShow", by, || {
            ShowCommand::Publish { by: by.clone() }
        })
        .await
    }

    pub async fn cancel_show(
        &self,
        by: &Actor,
        show_id: &ShowId,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<ShowView, CommandError> {
        self.change_show(show_id, idempotency, "CancelShow", by, || {
            ShowCommand::Cancel { by: by.clone() }
        })
        .await
    }

    #[tracing::instrument(name = "command.change_show", skip_all, fields(show = %show_id, command = name))]
    async fn change_show(
        &self,
        show_id: &ShowId,
        idempotency: Option<&IdempotencyKey>,
        name: &str,
        by: &Actor,
        command: impl Fn() -> ShowCommand,
    ) -> Result<ShowView, CommandError> {
        if let Some(view) = self.replayed(idempotency).await? {
            return Ok(view);
        }
        let meta = metadata(name, by.user.as_str());
        for _ in 0..MAX_ATTEMPTS {
            let mut show = load::<Show>(&self.store, show_id.as_str()).await?;
            let events = show.decide(command(), &()).await?;
            let details = show
                .aggregate
                .details
                .as_ref()
                .ok_or(CommandError::NotFound("show"))?;
            let view = ShowView::new(details, show.aggregate.status);
            match self
                .commit(&[show.append(&events, &meta)?], &view, idempotency)
                .await?
            {
                Commit::Done => return Ok(view),
                Commit::Conflict => {
                    if let Some(view) = self.after_conflict(idempotency).await? {
                        return Ok(view);
                    }
                }
            }
        }
        Err(exhausted())
    }

    /// The show's seats and prices, loaded once per process: the plan never
    /// changes after ShowScheduled. NOT_FOUND for a show that does not exist.
    pub(crate) async fn plan_index(&self, show_id: &ShowId) -> Result<PlanIndex, CommandError> {
        let cell = self.shows.cell(show_id);
        let loaded = cell
            .get_or_try_init(|| async {
                let show = load::<Show>(&self.store, show_id.as_str()).await?;
                let details = show
                    .aggregate
                    .details
                    .ok_or(CommandError::NotFound("show"))?;
                let places = details
                    .plan
                    .sections
                    .iter()
                    .enumerate()
                    .flat_map(|(s, section)| {
                        section.rows.iter().enumerate().flat_map(move |(r, row)| {
                            row.seats
                                .iter()
                                .map(move |seat| (seat.label.clone(), (s, r)))
                        })
                    })
                    .collect();
                Ok::<_, CommandError>(PlanIndex {
                    seats: Arc::new(details.plan.index()),
                    places: Arc::new(places),
                    currency: details.currency.clone(),
                    show: Arc::new(details),
                    last_state: Arc::default(),
                })
            })
            .await;
        match loaded {
            Ok(index) => Ok(index.clone()),
            Err(error) => {
                // Unknown ids are not kept, so guessing ids cannot fill memory.
                self.shows.forget(show_id);
                Err(error)
            }
        }
    }
}

/// A scheduled show's status and the sequence it was read at, folded from
/// its events after ShowScheduled (the plan, which never changes, is not
/// read again).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShowState {
    pub status: ShowStatus,
    pub sequence: usize,
}

impl ShowState {
    pub(crate) fn after_scheduled(tail: Vec<SerializedEvent>) -> Result<Self, CommandError> {
        let mut state = ShowState {
            status: ShowStatus::Scheduled,
            sequence: 1,
        };
        for stored in tail {
            state.sequence = stored.sequence;
            state.status = match serde_json::from_value(stored.payload)? {
                ShowEvent::ShowPublished {} => ShowStatus::Published,
                ShowEvent::ShowCancelled {} => ShowStatus::Cancelled,
                ShowEvent::ShowScheduled(_) => state.status,
            };
        }
        Ok(state)
    }

    /// The show's stream must still be here when a decision made on this
    /// state commits: no hold or sale commits after a cancel.
    pub(crate) fn condition(&self, show_id: &ShowId) -> StreamCondition {
        StreamCondition {
            aggregate_type: <Show as cqrs_es::Aggregate>::TYPE.to_owned(),
            aggregate_id: show_id.as_str().to_owned(),
            sequence: self.sequence,
        }
    }
}

/// Where the tail of a show's stream starts: right after ShowScheduled.
pub(crate) fn show_tail(show_id: &ShowId) -> StreamRef<'_> {
    StreamRef {
        aggregate_type: <Show as cqrs_es::Aggregate>::TYPE,
        aggregate_id: show_id.as_str(),
        after_sequence: 1,
    }
}

impl ShowCache {
    /// The cell of one show: concurrent first readers of a show wait for one
    /// load instead of each parsing its (possibly large) plan.
    fn cell(&self, id: &ShowId) -> Arc<OnceCell<PlanIndex>> {
        let mut shows = self.shows.lock().unwrap_or_else(|p| p.into_inner());
        shows.entry(id.clone()).or_default().clone()
    }

    fn forget(&self, id: &ShowId) {
        let mut shows = self.shows.lock().unwrap_or_else(|p| p.into_inner());
        if shows.get(id).is_some_and(|cell| !cell.initialized()) {
            shows.remove(id);
        }
    }
}

fn validate(organizer: &UserRef, input: ScheduleShow) -> Result<ShowDetails, CommandError> {
    let mut errors = Vec::new();
    let mut text = |field: &str, value: &str| {
        let ok = !value.trim().is_empty()
            && value.chars().count() <= MAX_TEXT
            && !value.chars().any(char::is_control);
        if !ok {
            errors.push(ValidationError::new(
                field,
                format!("must be 1-{MAX_TEXT} characters without control characters"),
            ));
        }
    };
    text("title", &input.title);
    text("venue", &input.venue);
    let currency = Currency::parse("currency", &input.currency)
        .map_err(|e| errors.push(e))
        .ok();
    let time_zone = match input.time_zone.trim() {
        "" => Some(TimeZoneName::utc()),
        zone => TimeZoneName::parse("time_zone", zone)
            .map_err(|e| errors.push(e))
            .ok(),
    };
    if input.starts_at.is_none() {
        errors.push(ValidationError::new("starts_at", "is required"));
    }
    let plan = SeatingPlan::parse(&input.sections)
        .map_err(|e| errors.extend(e))
        .ok();
    if input
        .max_held_seats
        .is_some_and(|limit| limit > MAX_HELD_SEATS)
    {
        errors.push(ValidationError::new(
            "max_held_seats_per_customer",
            format!("must be at most {MAX_HELD_SEATS} (0: no limit)"),
        ));
    }
    match (currency, plan, input.starts_at, time_zone) {
        (Some(currency), Some(plan), Some(starts_at), Some(time_zone)) if errors.is_empty() => {
            Ok(ShowDetails {
                show_id: ShowId::generate(),
                organizer: organizer.clone(),
                title: input.title.trim().to_owned(),
                venue: input.venue.trim().to_owned(),
                starts_at,
                time_zone,
                currency,
                plan,
                max_held_seats: input.max_held_seats,
            })
        }
        _ => Err(CommandError::Invalid(errors)),
    }
}
