//! Read-your-writes over gRPC, with the projectors slowed down on purpose
//! (a pause before each of their steps), on both backends:
//!
//! * a just-published show is in GetShow and ListShows every time (200
//!   times), whether the client passes the command's token in the field,
//!   in the header, or not at all (the gateway applies its caller's last);
//! * a just-held seat is HELD in GetSeatMap;
//! * a query whose read model cannot catch up in time answers UNAVAILABLE
//!   READ_MODEL_BEHIND, never stale data;
//! * a token from the future, or not a token, is INVALID_ARGUMENT;
//! * over HTTP, the private and the public queries take the token in
//!   `Min-Consistency-Token`.

use std::time::Duration;

use ticketing_identity::Role;
use ticketing_tests::v1::*;
use ticketing_tests::*;
use tonic::Code;

const SLOW: Duration = Duration::from_millis(20);

async fn slow_app(backend: Backend, delay: Duration, wait: Duration) -> TestApp {
    let url = database_url(backend).await;
    spawn_app_configured(url, |settings| {
        settings.projection_delay = delay;
        settings.read_your_writes_wait = wait;
    })
    .await
}

/// The token of a command's answer, checked to be in both its field and
/// its header.
fn token_of<T>(response: &tonic::Response<T>, field: &str) -> String {
    let header = response
        .metadata()
        .get("consistency-token")
        .expect("a consistency-token header")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(header, field, "header and field carry the same token");
    assert!(!field.is_empty());
    header
}

/// How a query names the write it must reflect.
#[derive(Clone, Copy, Debug)]
enum Pass {
    Field,
    Header,
    /// Nothing: the gateway applies the caller's last token.
    Remembered,
}

fn query<T>(message: T, how: Pass, token: &str, caller: &str) -> tonic::Request<T> {
    match how {
        Pass::Field => tonic::Request::new(message),
        Pass::Header => {
            let mut request = tonic::Request::new(message);
            request
                .metadata_mut()
                .insert("min-consistency-token", token.parse().unwrap());
            request
        }
        Pass::Remembered => authed(caller, message),
    }
}

async fn a_published_show_is_listed_at_once(backend: Backend) {
    let app = slow_app(backend, SLOW, Duration::from_secs(5)).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let mut catalog = app.catalog();
    for i in 0..200 {
        let venue = format!("Hall {i}");
        let scheduled = catalog
            .schedule_show(authed(
                &organizer,
                ScheduleShowRequest {
                    venue: venue.clone(),
                    ..schedule_request(2)
                },
            ))
            .await
            .expect("schedule");
        let show_id = scheduled.get_ref().show_id.clone();
        let published = catalog
            .publish_show(authed(
                &organizer,
                PublishShowRequest {
                    show_id: show_id.clone(),
                },
            ))
            .await
            .expect("publish");
        let token = token_of(&published, &published.get_ref().consistency_token);
        let how = [Pass::Field, Pass::Header, Pass::Remembered][i % 3];
        let field = match how {
            Pass::Field => token.clone(),
            _ => String::new(),
        };
        let get = query(
            GetShowRequest {
                show_id: show_id.clone(),
                min_consistency_token: field.clone(),
            },
            how,
            &token,
            &organizer,
        );
        let list = query(
            ListShowsRequest {
                venue: venue.clone(),
                status: ShowStatus::Published as i32,
                min_consistency_token: field,
                ..Default::default()
            },
            how,
            &token,
            &organizer,
        );
        let mut other = app.catalog();
        let (shown, listed) = tokio::join!(catalog.get_show(get), other.list_shows(list));
        let shown = shown.expect("get show").into_inner();
        assert_eq!(
            shown.status,
            ShowStatus::Published as i32,
            "round {i} ({how:?})"
        );
        let listed: Vec<String> = listed
            .expect("list shows")
            .into_inner()
            .shows
            .into_iter()
            .map(|s| s.show_id)
            .collect();
        assert_eq!(listed, vec![show_id], "round {i} ({how:?})");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_published_show_is_listed_at_once() {
    a_published_show_is_listed_at_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_published_show_is_listed_at_once() {
    a_published_show_is_listed_at_once(Backend::Postgres).await;
}

async fn a_held_seat_is_held_in_the_seat_map(backend: Backend) {
    let app = slow_app(backend, SLOW, Duration::from_secs(5)).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.unlimited_show(&organizer, 30).await;
    let customer = app.customer().await;
    let mut inventory = app.inventory();
    for seat in 1..=30 {
        let label = format!("A-{seat}");
        let held = inventory
            .reserve_seats(authed(
                &customer,
                ReserveSeatsRequest {
                    show_id: show_id.clone(),
                    seat_labels: vec![label.clone()],
                },
            ))
            .await
            .expect("hold");
        let token = token_of(&held, &held.get_ref().consistency_token);
        let how = [Pass::Field, Pass::Header, Pass::Remembered][seat % 3];
        let request = GetSeatMapRequest {
            show_id: show_id.clone(),
            min_consistency_token: match how {
                Pass::Field => token.clone(),
                _ => String::new(),
            },
            ..Default::default()
        };
        let map = inventory
            .get_seat_map(query(request, how, &token, &customer))
            .await
            .expect("seat map")
            .into_inner();
        assert_eq!(map.seats.len(), 30, "never a partial map");
        let status = map
            .seats
            .iter()
            .find(|s| s.label == label)
            .map(|s| s.status);
        assert_eq!(status, Some(SeatStatus::Held as i32), "{label} ({how:?})");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_held_seat_is_held_in_the_seat_map() {
    a_held_seat_is_held_in_the_seat_map(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_held_seat_is_held_in_the_seat_map() {
    a_held_seat_is_held_in_the_seat_map(Backend::Postgres).await;
}

/// Projectors that pause 3 s before each step, and a wait of 200 ms: the
/// query says the read model is behind rather than answering without the
/// write. Tokens not handed out by the engine are refused.
async fn behind_or_invalid_never_stale(backend: Backend) {
    let app = slow_app(backend, Duration::from_secs(3), Duration::from_millis(200)).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let mut catalog = app.catalog();
    let scheduled = catalog
        .schedule_show(authed(&organizer, schedule_request(2)))
        .await
        .expect("schedule");
    let show_id = scheduled.get_ref().show_id.clone();
    let token = token_of(&scheduled, &scheduled.get_ref().consistency_token);
    let get = |token: &str| GetShowRequest {
        show_id: show_id.clone(),
        min_consistency_token: token.to_owned(),
    };

    let behind = catalog
        .get_show(tonic::Request::new(get(&token)))
        .await
        .expect_err("not projected yet");
    assert_eq!(behind.code(), Code::Unavailable, "{behind:?}");
    assert_eq!(reason(&behind).as_deref(), Some("READ_MODEL_BEHIND"));
    // The caller's own next query waits for its write by itself.
    let remembered = catalog
        .get_show(authed(&organizer, get("")))
        .await
        .expect_err("not projected yet");
    assert_eq!(reason(&remembered).as_deref(), Some("READ_MODEL_BEHIND"));

    let parts: Vec<i64> = token
        .split('.')
        .skip(1)
        .map(|p| p.parse().expect("a number"))
        .collect();
    let future = format!("c1.{}.{}", parts[0] + 1_000_000, parts[1] + 1_000_000);
    for bad in [future.as_str(), "c1.12", "yesterday"] {
        let refused = catalog
            .get_show(tonic::Request::new(get(bad)))
            .await
            .expect_err(bad);
        assert_eq!(refused.code(), Code::InvalidArgument, "{bad}: {refused:?}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_behind_or_invalid_never_stale() {
    behind_or_invalid_never_stale(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_behind_or_invalid_never_stale() {
    behind_or_invalid_never_stale(Backend::Postgres).await;
}

/// Over HTTP: a command answers its token in `Consistency-Token`; a query
/// sent with it in `Min-Consistency-Token` reads the write (here: the new
/// cart among "my orders", with the orders projector slowed down); a token
/// from nowhere is a 400 problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_reads_its_own_writes() {
    let app = slow_app(Backend::Sqlite, SLOW, Duration::from_secs(5)).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.unlimited_show(&organizer, 10).await;
    let http = app.http();
    let customer = http.customer().await;
    for seat in 1..=10 {
        let hold = serde_json::json!({"show_id": show_id, "seat_labels": [format!("A-{seat}")]});
        let held = http.post("/reservations", Some(&customer), &hold).await;
        assert_eq!(held.status.as_u16(), 201, "{:?}", held.body);
        let cart = serde_json::json!({"reservation_id": held.body["reservation_id"]});
        let added = http.post("/cart/items", Some(&customer), &cart).await;
        assert_eq!(added.status.as_u16(), 200, "{:?}", added.body);
        let token = added.headers["consistency-token"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let order_id = added.body["order_id"]
            .as_str()
            .expect("order id")
            .to_owned();
        let request = http
            .request(reqwest::Method::GET, "/orders", Some(&customer))
            .header("min-consistency-token", &token);
        let orders = ticketing_tests::http::Http::send(request).await;
        assert_eq!(orders.status.as_u16(), 200, "{:?}", orders.body);
        let listed = orders.body["orders"].as_array().expect("orders");
        let cart = listed.iter().find(|o| o["order_id"] == order_id.as_str());
        let held = cart.map(|o| o["items"].as_array().map_or(0, Vec::len));
        assert_eq!(held, Some(seat), "the cart with its {seat} holds");
    }
    let request = http
        .request(reqwest::Method::GET, "/orders", Some(&customer))
        .header("min-consistency-token", "c1.0.999999999999");
    let refused = ticketing_tests::http::Http::send(request).await;
    refused.problem(400, "INVALID_ARGUMENT");
    app.stop().await;
}

/// The public HTTP queries (a show, the shows, a seat map), which need no
/// credentials, read the write of the token sent in `Min-Consistency-Token`
/// (here: a seat just held, with the projectors slowed down), and refuse a
/// token from nowhere; credentials are not forwarded, so a stale bearer
/// token does not turn a public page into a 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_public_reads_take_the_token() {
    let app = slow_app(Backend::Sqlite, SLOW, Duration::from_secs(5)).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.unlimited_show(&organizer, 10).await;
    let http = app.http();
    let customer = http.customer().await;
    let seat_map = format!("/shows/{show_id}/seatmap");
    for seat in 1..=10 {
        let label = format!("A-{seat}");
        let hold = serde_json::json!({"show_id": show_id, "seat_labels": [label]});
        let held = http.post("/reservations", Some(&customer), &hold).await;
        assert_eq!(held.status.as_u16(), 201, "{:?}", held.body);
        let token = held.headers["consistency-token"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let request = http
            .request(reqwest::Method::GET, &seat_map, None)
            .header("min-consistency-token", &token);
        let map = ticketing_tests::http::Http::send(request).await;
        assert_eq!(map.status.as_u16(), 200, "{:?}", map.body);
        let seats = map.body["seats"].as_array().expect("seats");
        let status = seats.iter().find(|s| s["label"] == label.as_str());
        assert_eq!(
            status.map(|s| s["status"].clone()),
            Some(serde_json::json!("held")),
            "{label} is held in the map read with the hold's token"
        );
    }
    for path in [
        format!("/shows/{show_id}"),
        "/shows".to_owned(),
        seat_map.clone(),
    ] {
        let request = http
            .request(reqwest::Method::GET, &path, None)
            .header("min-consistency-token", "c1.0.999999999999");
        let refused = ticketing_tests::http::Http::send(request).await;
        refused.problem(400, "INVALID_ARGUMENT");
        let stale = http.get(&path, Some("not-a-session")).await;
        assert_eq!(stale.status.as_u16(), 200, "{path}: {:?}", stale.body);
    }
    app.stop().await;
}
