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
    let map = app
        .wait_for_seat_map(&show.show_id, |m| {
            statuses(m)["A-2"] == SeatStatus::Held as i32
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
        m.seats
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

    // Cancelling stops new holds; a hold made before stays until released.
    let kept = inventory
        .reserve_seats(reserve(&["A-5"]))
        .await
        .unwrap()
        .into_inner();
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
    let map = app
        .wait_for_seat_map(&show.show_id, |m| {
            statuses(m)["A-5"] == SeatStatus::Held as i32
        })
        .await;
    assert_eq!(statuses(&map)["A-5"], SeatStatus::Held as i32);
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

async fn shows_are_listed_in_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let show = app
            .catalog()
            .schedule_show(authed(&organizer, schedule_request(1)))
            .await
            .unwrap();
        ids.push(show.into_inner().show_id);
    }
    for id in &ids {
        wait_for_show(&app, id, ShowStatus::Scheduled).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .catalog()
            .list_shows(ListShowsRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.shows.len() <= 2);
        seen.extend(page.shows.into_iter().map(|s| s.show_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids, "every show once, oldest first");
    app.catalog()
        .publish_show(authed(
            &organizer,
            PublishShowRequest {
                show_id: ids[3].clone(),
            },
        ))
        .await
        .unwrap();
    wait_for_show(&app, &ids[3], ShowStatus::Published).await;
    let published = app
        .catalog()
        .list_shows(ListShowsRequest {
            status: ShowStatus::Published as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let published: Vec<_> = published.shows.into_iter().map(|s| s.show_id).collect();
    assert_eq!(published, [ids[3].clone()], "only the published show");
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
