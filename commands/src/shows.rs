//! Show commands (schedule, publish, cancel) and the show cache that lets a
//! reservation check its show without re-reading the seating plan: the plan
//! never changes after ShowScheduled, so only the events after it (publish,
//! cancel) are read per command.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use ticketing_aggregates::{
    Actor, Currency, PriceMinor, RawSection, SeatLabel, SeatingPlan, Show, ShowCommand,
    ShowDetails, ShowEvent, ShowId, ShowStatus, UserRef, ValidationError,
};
use ticketing_event_store::SerializedEvent;
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
    pub currency: String,
    pub sections: Vec<RawSection>,
}

const MAX_TEXT: usize = 200;

/// The immutable part of a show that sales need: seats, prices, currency.
#[derive(Debug, Clone)]
pub(crate) struct PlanIndex {
    pub seats: Arc<HashMap<SeatLabel, PriceMinor>>,
    pub currency: Currency,
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
                Ok::<_, CommandError>(PlanIndex {
                    seats: Arc::new(details.plan.index()),
                    currency: details.currency,
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

/// The status of a scheduled show from its events after ShowScheduled.
pub(crate) fn status_after_scheduled(
    tail: Vec<SerializedEvent>,
) -> Result<ShowStatus, CommandError> {
    let mut status = ShowStatus::Scheduled;
    for stored in tail {
        status = match serde_json::from_value(stored.payload)? {
            ShowEvent::ShowPublished {} => ShowStatus::Published,
            ShowEvent::ShowCancelled {} => ShowStatus::Cancelled,
            ShowEvent::ShowScheduled(_) => status,
        };
    }
    Ok(status)
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
    if input.starts_at.is_none() {
        errors.push(ValidationError::new("starts_at", "is required"));
    }
    let plan = SeatingPlan::parse(&input.sections)
        .map_err(|e| errors.extend(e))
        .ok();
    match (currency, plan, input.starts_at) {
        (Some(currency), Some(plan), Some(starts_at)) if errors.is_empty() => Ok(ShowDetails {
            show_id: ShowId::generate(),
            organizer: organizer.clone(),
            title: input.title.trim().to_owned(),
            venue: input.venue.trim().to_owned(),
            starts_at,
            currency,
            plan,
        }),
        _ => Err(CommandError::Invalid(errors)),
    }
}
