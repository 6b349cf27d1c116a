//! Fixtures for tests that drive the [`Engine`] directly (feature
//! `testing`): a show on sale in one call.

use chrono::{DateTime, Utc};
use ticketing_aggregates::{Actor, RawRow, RawSection, ShowId, UserRef};

use crate::{Engine, ScheduleShow};

/// A show of one row `A` of `seats` seats (`A-1`…) at 50.00 EUR each.
pub fn one_row_show(
    title: &str,
    venue: &str,
    starts_at: DateTime<Utc>,
    seats: usize,
) -> ScheduleShow {
    ScheduleShow {
        title: title.into(),
        venue: venue.into(),
        starts_at: Some(starts_at),
        time_zone: "Europe/Vienna".into(),
        currency: "EUR".into(),
        sections: vec![RawSection {
            name: "Stalls".into(),
            rows: vec![RawRow {
                name: "A".into(),
                seats: (1..=seats).map(|i| (format!("A-{i}"), 5000)).collect(),
            }],
        }],
        max_held_seats: None,
    }
}

/// Schedules and publishes `show` for a new organizer; panics on refusal.
pub async fn published_show(engine: &Engine, show: ScheduleShow) -> ShowId {
    let organizer = Actor {
        user: UserRef::generate(),
        is_admin: false,
    };
    let show_id = engine
        .schedule_show(&organizer.user, show, None)
        .await
        .expect("schedule the show")
        .show_id;
    engine
        .publish_show(&organizer, &show_id, None)
        .await
        .expect("publish the show");
    show_id
}
