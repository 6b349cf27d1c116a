//! The Show aggregate: a performance with its seating plan, scheduled by an
//! organizer, published to go on sale, or cancelled.
//!
//! Cancelling stops new holds (a Reservation refuses a cancelled show, and a
//! hold's append is conditional on the show stream, so none commits after
//! the cancel); holds that exist when the show is cancelled are released
//! and its paid orders refunded by the expirer role's sweep.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{Actor, Currency, SeatingPlan, ShowId, TimeZoneName, UserRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ShowStatus {
    /// No ShowScheduled yet: the show does not exist.
    #[default]
    Unknown,
    Scheduled,
    Published,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShowDetails {
    pub show_id: ShowId,
    pub organizer: UserRef,
    pub title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    /// Where the show is played; shows scheduled before zones were
    /// recorded read as UTC.
    #[serde(default)]
    pub time_zone: TimeZoneName,
    pub currency: Currency,
    pub plan: SeatingPlan,
    /// Most seats one customer may hold of this show at once: `None` is
    /// the engine's default (10), `Some(0)` no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_held_seats: Option<u32>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Show {
    pub status: ShowStatus,
    pub details: Option<ShowDetails>,
}

#[derive(Debug)]
pub enum ShowCommand {
    Schedule {
        details: ShowDetails,
        now: DateTime<Utc>,
    },
    Publish {
        by: Actor,
    },
    Cancel {
        by: Actor,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShowEvent {
    ShowScheduled(ShowDetails),
    ShowPublished {},
    ShowCancelled {},
}

impl DomainEvent for ShowEvent {
    fn event_type(&self) -> String {
        match self {
            ShowEvent::ShowScheduled(_) => "ShowScheduled",
            ShowEvent::ShowPublished {} => "ShowPublished",
            ShowEvent::ShowCancelled {} => "ShowCancelled",
        }
        .to_owned()
    }

    /// ShowScheduled is at 2 since its seats are stored as pairs (see
    /// [`crate::PlannedSeat`]); the others are at 1.
    fn event_version(&self) -> String {
        match self {
            ShowEvent::ShowScheduled(_) => "2",
            ShowEvent::ShowPublished {} | ShowEvent::ShowCancelled {} => "1",
        }
        .to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShowError {
    #[error("show already exists")]
    AlreadyScheduled,
    #[error("no such show")]
    NotFound,
    #[error("the show starts in the past")]
    StartsInThePast,
    #[error("only the organizer who scheduled the show, or an admin, may change it")]
    NotOwner,
    #[error("the show is cancelled")]
    Cancelled,
}

impl Aggregate for Show {
    const TYPE: &'static str = "Show";
    type Command = ShowCommand;
    type Event = ShowEvent;
    type Error = ShowError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ShowCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ShowError> {
        match command {
            ShowCommand::Schedule { details, now } => {
                if self.status != ShowStatus::Unknown {
                    return Err(ShowError::AlreadyScheduled);
                }
                if details.starts_at <= now {
                    return Err(ShowError::StartsInThePast);
                }
                sink.write(ShowEvent::ShowScheduled(details), self).await;
            }
            ShowCommand::Publish { by } => match self.guard(&by)? {
                ShowStatus::Scheduled => sink.write(ShowEvent::ShowPublished {}, self).await,
                ShowStatus::Cancelled => return Err(ShowError::Cancelled),
                // Publishing twice is a no-op: the show is on sale either way.
                _ => {}
            },
            ShowCommand::Cancel { by } => {
                if self.guard(&by)? != ShowStatus::Cancelled {
                    sink.write(ShowEvent::ShowCancelled {}, self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: ShowEvent) {
        match event {
            ShowEvent::ShowScheduled(details) => {
                self.details = Some(details);
                self.status = ShowStatus::Scheduled;
            }
            ShowEvent::ShowPublished {} => self.status = ShowStatus::Published,
            ShowEvent::ShowCancelled {} => self.status = ShowStatus::Cancelled,
        }
    }
}

impl Show {
    /// The show must exist and `by` must own it or be an admin.
    fn guard(&self, by: &Actor) -> Result<ShowStatus, ShowError> {
        let details = self.details.as_ref().ok_or(ShowError::NotFound)?;
        if !by.is_admin && by.user != details.organizer {
            return Err(ShowError::NotOwner);
        }
        Ok(self.status)
    }
}
