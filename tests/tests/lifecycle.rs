//! A show's life through the API: schedule, publish, list, reserve, release,
//! cancel — and what the catalog and seat map say at each step.

use std::collections::HashMap;
use ticketing_identity::Role;
use ticketing_tests::v1::*;
use ticketing_tests::*;
use tonic::Code;

fn statuses(map: &SeatMap) -> HashMap<String, i32> {
    map.seats
        .iter()
        .map(|s| (s.label.clone(), s.status))
        .collect()
}

async fn wait_for_show(app: &TestApp, show_id: &str, status: ShowStatus) -> Show {
    for _ in 0..500 {
        if let Ok(show) = app
            .catalog()
            .get_show(GetShowRequest {
                min_consistency_token: Default::default(),
                show_id: show_id.into(),
            })
            .await
        {
            let show = show.into_inner();
            if show.status == status as i32 {
                return show;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("show {show_id} never reached {status:?}");
}

async fn show_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let admin = app.user_with_role(Role::Admin).await;
    let customer = app.customer().await;
    let mut catalog = app.catalog();
    let mut inventory = app.inventory();

    let show = catalog
        .schedule_show(authed(&organizer, schedule_request(5)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (show.status, show.seat_count, show.currency.as_str()),
        (ShowStatus::Scheduled as i32, 5, "EUR")
    );
    wait_for_show(&app, &show.show_id, ShowStatus::Scheduled).await;
    let reserve = |labels: &[&str]| {
        authed(
            &customer,
            ReserveSeatsRequest {
                show_id: show.show_id.clone(),
                seat_labels: labels.iter().map(|l| l.to_string()).collect(),
            },
        )
    };
    let status = inventory
        .reserve_seats(reserve(&["A-1"]))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_deref()),
        (Code::FailedPrecondition, Some("SHOW_NOT_ON_SALE"))
    );

    let published = catalog
        .publish_show(authed(
            &organizer,
            PublishShowRequest {
                show_id: show.show_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(published.status, ShowStatus::Published as i32);
    wait_for_show(&app, &show.show_id, ShowStatus::Published).await;

    let held = inventory
        .reserve_seats(reserve(&["A-1", "A-2"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.status, ReservationStatus::Active as i32);
    assert_eq!(held.seat_labels, ["A-1", "A-2"]);
    // Waits for every seat it asserts: an answer may not hold a seat yet.
    let held_seat = SeatStatus::Held as i32;
    let map = app
        .wait_for_seat_map(&show.show_id, |m| {
            let statuses = statuses(m);
            statuses.get("A-1") == Some(&held_seat)
                && statuses.get("A-2") == Some(&held_seat)
                && statuses.get("A-3") == Some(&(SeatStatus::Available as i32))
        })
        .await;
    assert_eq!(statuses(&map)["A-1"], SeatStatus::Held as i32);
    assert_eq!(statuses(&map)["A-3"], SeatStatus::Available as i32);
    assert_eq!(map.currency, "EUR");

    let release = ReleaseReservationRequest {
        reservation_id: held.reservation_id.clone(),
    };
    let released = inventory
        .release_reservation(authed(&customer, release.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(released.status, ReservationStatus::Released as i32);
    app.wait_for_seat_map(&show.show_id, |m| {
        m.seats.len() == 5
            && m.seats
                .iter()
                .all(|s| s.status == SeatStatus::Available as i32)
    })
    .await;
    let again = inventory
        .release_reservation(authed(&customer, release))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.status,
        ReservationStatus::Released as i32,
        "releasing twice is harmless"
    );

    // Cancelling stops new holds. A hold made before is seen on the map
    // before the cancel: after it, the expirer withdraws live holds on
    // cancelled shows at its own pace, so waiting for `Held` then would race
    // that sweep.
    let kept = inventory
        .reserve_seats(reserve(&["A-5"]))
        .await
        .unwrap()
        .into_inner();
    let map = app
        .wait_for_seat_map(&show.show_id, |m| {
            statuses(m).get("A-5") == Some(&(SeatStatus::Held as i32))
        })
        .await;
    assert_eq!(statuses(&map)["A-5"], SeatStatus::Held as i32);
    let cancelled = catalog
        .cancel_show(authed(
            &admin,
            CancelShowRequest {
                show_id: show.show_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        cancelled.status,
        ShowStatus::Cancelled as i32,
        "an admin may cancel any show"
    );
    let status = inventory
        .reserve_seats(reserve(&["A-3"]))
        .await
        .unwrap_err();
    assert_eq!(reason(&status).as_deref(), Some("SHOW_CANCELLED"));
    let status = catalog
        .publish_show(authed(
            &organizer,
            PublishShowRequest {
                show_id: show.show_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&status).as_deref(), Some("SHOW_CANCELLED"));
    inventory
        .release_reservation(authed(
            &customer,
            ReleaseReservationRequest {
                reservation_id: kept.reservation_id,
            },
        ))
        .await
        .expect("a hold on a cancelled show can still be released");
    wait_for_show(&app, &show.show_id, ShowStatus::Cancelled).await;
    app.stop().await;
}

/// The show ids a caller (`None`: anonymous) lists with `request`, every
/// page of two.
async fn listed(app: &TestApp, token: Option<&str>, request: ListShowsRequest) -> Vec<String> {
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListShowsRequest {
            page_size: 2,
            page_token: page_token.clone(),
            ..request.clone()
        };
        let page = match token {
            Some(token) => app.catalog().list_shows(authed(token, request)).await,
            None => app.catalog().list_shows(request).await,
        }
        .unwrap()
        .into_inner();
        assert!(page.shows.len() <= 2);
        seen.extend(page.shows.into_iter().map(|s| s.show_id));
        if page.next_page_token.is_empty() {
            return seen;
        }
        page_token = page.next_page_token;
    }
}

fn at(time: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    })
}

/// Anonymous callers and customers list published shows that have not
/// started, soonest first; an organizer also lists every show of their
/// own; filters narrow what a caller may see, never widen it.
async fn shows_are_listed_in_pages(backend: Backend) {
    use chrono::{Duration, TimeZone, Utc};
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let clock = TestClock::at(t0);
    let app = spawn_app_at(
        database_url(backend).await,
        ticketing_commands::EngineConfig::default(),
        std::sync::Arc::new(clock.clone()),
    )
    .await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let rival = app.user_with_role(Role::Organizer).await;
    let customer = app.customer().await;
    // Created in this order, starting on days 5, 4, 3, 2, 1.
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut request = schedule_request(1);
        request.starts_at = at(t0 + Duration::days(5 - i));
        if i == 2 {
            request.venue = "Royal Hall".into();
        }
        let show = app
            .catalog()
            .schedule_show(authed(&organizer, request))
            .await
            .unwrap();
        ids.push(show.into_inner().show_id);
    }
    for id in &ids {
        wait_for_show(&app, id, ShowStatus::Scheduled).await;
    }
    let soonest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let all = ListShowsRequest::default();
    assert_eq!(
        listed(&app, Some(&organizer), all.clone()).await,
        soonest_first
    );
    for viewer in [None, Some(customer.as_str()), Some(rival.as_str())] {
        assert!(
            listed(&app, viewer, all.clone()).await.is_empty(),
            "drafts are not listed"
        );
    }
    for i in [1, 2, 3] {
        app.catalog()
            .publish_show(authed(
                &organizer,
                PublishShowRequest {
                    show_id: ids[i].clone(),
                },
            ))
            .await
            .unwrap();
        wait_for_show(&app, &ids[i], ShowStatus::Published).await;
    }
    let on_sale = vec![ids[3].clone(), ids[2].clone(), ids[1].clone()];
    assert_eq!(listed(&app, None, all.clone()).await, on_sale);
    assert_eq!(listed(&app, Some(&customer), all.clone()).await, on_sale);
    let royal = ListShowsRequest {
        venue: "Royal Hall".into(),
        ..Default::default()
    };
    assert_eq!(listed(&app, None, royal).await, [ids[2].clone()]);
    let day_three = ListShowsRequest {
        starts_after: at(t0 + Duration::days(3)),
        starts_before: at(t0 + Duration::days(4)),
        ..Default::default()
    };
    assert_eq!(listed(&app, None, day_three).await, [ids[2].clone()]);
    let drafts = ListShowsRequest {
        status: ShowStatus::Scheduled as i32,
        ..Default::default()
    };
    assert!(
        listed(&app, None, drafts.clone()).await.is_empty(),
        "a filter never widens"
    );
    assert_eq!(
        listed(&app, Some(&organizer), drafts).await,
        [ids[4].clone(), ids[0].clone()]
    );
    // Day 2's show has started: it is off the list, but not its organizer's.
    clock.advance(Duration::days(2) + Duration::hours(1));
    assert_eq!(
        listed(&app, None, all.clone()).await,
        [ids[2].clone(), ids[1].clone()]
    );
    assert_eq!(listed(&app, Some(&organizer), all).await.len(), 5);
    for (size, token) in [(-1, ""), (2, "garbage")] {
        let status = app
            .catalog()
            .list_shows(ListShowsRequest {
                page_size: size,
                page_token: token.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    let status = app
        .catalog()
        .get_show(GetShowRequest {
            min_consistency_token: Default::default(),
            show_id: "s_01JZ00000000000000000000AA".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_show_lifecycle() {
    show_lifecycle(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_show_lifecycle() {
    show_lifecycle(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_shows_are_listed_in_pages() {
    shows_are_listed_in_pages(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_shows_are_listed_in_pages() {
    shows_are_listed_in_pages(Backend::Postgres).await;
}
