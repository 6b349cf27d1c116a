//! A hold decides without a read when it can (the show as this process last
//! saw it, seats it never saw taken); these tests make each guess wrong
//! through a second engine on the same log — another gateway process — and
//! show that the append refuses the guess and the hold is decided again on
//! what the log says: never a seat held twice, never a hold after a cancel,
//! never a refusal the log does not support. On SQLite and Postgres.

use chrono::{Duration, Utc};
use std::sync::Arc;
use ticketing_aggregates::*;
use ticketing_commands::testing::{one_row_show, published_show};
use ticketing_commands::{CommandError, Engine, EngineConfig, ScheduleShow};
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::Store;

/// Two engines on one store: two processes with memories of their own.
async fn two_processes(url: &str) -> (Engine, Engine) {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let engine = |store: Store| Engine::new(store, Arc::new(SystemClock), EngineConfig::default());
    // A second connection, so the second process has its own feed reader too.
    let other = Store::connect(url).await.unwrap();
    (engine(store), engine(other))
}

fn show() -> ScheduleShow {
    one_row_show("Hamlet", "Globe", Utc::now() + Duration::days(30), 10)
}

fn seats(labels: &[&str]) -> Vec<SeatLabel> {
    labels
        .iter()
        .map(|l| SeatLabel::parse("seat", l).unwrap())
        .collect()
}

async fn reserve(engine: &Engine, show: &ShowId, labels: &[&str]) -> Result<(), CommandError> {
    engine
        .reserve_seats(&UserRef::generate(), show, seats(labels), None)
        .await
        .map(|_| ())
}

async fn a_seat_held_elsewhere_is_refused_not_held_twice(url: String) {
    let (here, there) = two_processes(&url).await;
    let show = published_show(&here, show()).await;
    // This process has read the show (its status is remembered) …
    reserve(&here, &show, &["A-1"]).await.unwrap();
    // … and knows nothing of A-2, which the other process holds.
    reserve(&there, &show, &["A-2"]).await.unwrap();
    match reserve(&here, &show, &["A-2", "A-3"]).await {
        Err(CommandError::SeatUnavailable(taken)) => assert_eq!(taken, seats(&["A-2"])),
        other => panic!("expected SEAT_UNAVAILABLE, got {other:?}"),
    }
    // Nothing of the refused hold was written: A-3 is still free.
    reserve(&there, &show, &["A-3"]).await.unwrap();
}

async fn a_show_cancelled_elsewhere_takes_no_more_holds(url: String) {
    let (here, there) = two_processes(&url).await;
    let show = published_show(&here, show()).await;
    reserve(&here, &show, &["A-1"]).await.unwrap();
    let admin = Actor {
        user: UserRef::generate(),
        is_admin: true,
    };
    there.cancel_show(&admin, &show, None).await.unwrap();
    let refused = reserve(&here, &show, &["A-2"]).await;
    assert!(
        matches!(refused, Err(CommandError::Precondition { .. })),
        "a hold after the cancel: {refused:?}"
    );
}

async fn a_show_published_elsewhere_is_not_refused_on_a_stale_status(url: String) {
    let (here, there) = two_processes(&url).await;
    let organizer = Actor {
        user: UserRef::generate(),
        is_admin: false,
    };
    let show = here
        .schedule_show(&organizer.user, show(), None)
        .await
        .unwrap()
        .show_id;
    // This process sees the show not on sale yet, and remembers that.
    let early = reserve(&here, &show, &["A-1"]).await;
    assert!(
        matches!(early, Err(CommandError::Precondition { .. })),
        "{early:?}"
    );
    there.publish_show(&organizer, &show, None).await.unwrap();
    reserve(&here, &show, &["A-1"])
        .await
        .expect("a refusal on the remembered status is checked against the log");
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::fresh_postgres_url().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::fresh_sqlite_url()).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_seat_held_elsewhere_is_refused_not_held_twice,
    a_show_cancelled_elsewhere_takes_no_more_holds,
    a_show_published_elsewhere_is_not_refused_on_a_stale_status,
);
