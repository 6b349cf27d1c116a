//! The HTTP/JSON face, spoken as a browser or a script would: the seed's
//! 409 contract under 1,000-way contention, problem+json for every kind of
//! bad input, a purchase from registration to ticket PDF, the live seat map
//! as Server-Sent Events (resumable), and the OpenAPI document.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};
use ticketing_aggregates::Seat;
use ticketing_identity::Role;
use ticketing_tests::http::Http;
use ticketing_tests::*;

const CONTENDERS: usize = 1000;

async fn thousand_posts_one_seat(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 4).await;
    let http = app.http();
    let mut customers = Vec::new();
    for _ in 0..20 {
        customers.push(http.customer().await);
    }
    let body = json!({"show_id": show_id, "seat_labels": ["A-3"]});
    let calls =
        (0..CONTENDERS).map(|i| http.post("/reservations", Some(&customers[i % 20]), &body));
    let answers = join_all(calls).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    let mut conflicts = 0;
    for answer in answers.iter().filter(|a| a.status != 201) {
        answer.problem(409, "SEAT_UNAVAILABLE");
        conflicts += 1;
    }
    assert_eq!((created, conflicts), (1, CONTENDERS - 1));
    let winner = answers.iter().find(|a| a.status == 201).expect("a winner");
    assert_eq!(winner.body["seat_labels"], json!(["A-3"]));
    assert_eq!(winner.body["status"], "active");
    let seat_id = format!("{show_id}/A-3");
    assert_eq!(
        count_events::<Seat>(&app.store, &seat_id, "SeatHeld").await,
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_http_thousand_posts_one_seat_one_201() {
    thousand_posts_one_seat(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_http_thousand_posts_one_seat_one_201() {
    thousand_posts_one_seat(Backend::Postgres).await;
}

/// Every kind of bad input gets its problem, and nothing is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_problem_json() {
    let app = spawn_app(Backend::Sqlite).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 4).await;
    let http = app.http();
    let alice = http.customer().await;
    let raw = |body: &'static str| {
        http.request(reqwest::Method::POST, "/reservations", Some(&alice))
            .header("content-type", "application/json")
            .body(body)
    };

    Http::send(raw("{\"show_id\": "))
        .await
        .problem(400, "MALFORMED_JSON");
    let wrong_type = Http::send(raw(r#"{"show_id": "s", "seat_labels": "A-1"}"#)).await;
    let body = wrong_type.problem(422, "INVALID_JSON");
    assert_eq!(body["violations"][0]["field"], "seat_labels", "{body}");
    let unknown = Http::send(raw(r#"{"show_id": "s", "seat_labels": [], "price": 0}"#)).await;
    let body = unknown.problem(422, "INVALID_JSON");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `price`"),
        "{body}"
    );

    let huge = format!(
        r#"{{"show_id": "{show_id}", "seat_labels": ["{}"]}}"#,
        "A".repeat(1024 * 1024)
    );
    let too_large = http
        .request(reqwest::Method::POST, "/reservations", Some(&alice))
        .header("content-type", "application/json")
        .body(huge);
    Http::send(too_large).await.problem(413, "BODY_TOO_LARGE");

    let text = http
        .request(reqwest::Method::POST, "/reservations", Some(&alice))
        .header("content-type", "text/plain")
        .body("{}");
    Http::send(text)
        .await
        .problem(415, "UNSUPPORTED_MEDIA_TYPE");

    let hold = json!({"show_id": show_id, "seat_labels": ["A-1"]});
    let anonymous = http.post("/reservations", None, &hold).await;
    anonymous.problem(401, "UNAUTHENTICATED");
    assert_eq!(anonymous.headers["www-authenticate"], "Bearer");
    http.post("/reservations", Some("not.a.jwt"), &hold)
        .await
        .problem(401, "UNAUTHENTICATED");
    http.post("/reservations", Some(&organizer), &hold)
        .await
        .problem(403, "PERMISSION_DENIED");

    let bad_ids = json!({"show_id": "nope", "seat_labels": ["A-1", "A-1", ""]});
    let answer = http.post("/reservations", Some(&alice), &bad_ids).await;
    let body = answer.problem(400, "INVALID_ARGUMENT");
    let fields: Vec<_> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap().to_owned())
        .collect();
    assert!(fields.contains(&"show_id".to_owned()), "{body}");

    // Bob's order is not Alice's to read.
    let bob = http.customer().await;
    let held = http
        .post(
            "/reservations",
            Some(&bob),
            &json!({"show_id": show_id, "seat_labels": ["A-2"]}),
        )
        .await;
    assert_eq!(held.status, 201, "{:?}", held.body);
    let cart = http
        .post(
            "/cart/items",
            Some(&bob),
            &json!({"reservation_id": held.body["reservation_id"]}),
        )
        .await;
    assert_eq!(cart.status, 200, "{:?}", cart.body);
    let order_id = cart.body["order_id"].as_str().unwrap();
    http.get(&format!("/orders/{order_id}"), Some(&alice))
        .await
        .problem(404, "NOT_FOUND");
    http.get("/orders/o_garbage", Some(&alice))
        .await
        .problem(400, "INVALID_ARGUMENT");

    http.get("/no/such/path", None)
        .await
        .problem(404, "NOT_FOUND");
    http.delete("/shows", None)
        .await
        .problem(405, "METHOD_NOT_ALLOWED");
    http.get("/shows?page_size=many", None)
        .await
        .problem(400, "INVALID_ARGUMENT");

    // Of all that, only Bob's hold happened.
    let seat_map = http.get(&format!("/shows/{show_id}/seatmap"), None).await;
    assert_eq!(seat_map.status, 200);
    for seat in seat_map.body["seats"].as_array().unwrap() {
        let expected = if seat["label"] == "A-2" {
            "held"
        } else {
            "available"
        };
        assert_eq!(seat["status"], expected, "{seat}");
    }
    app.stop().await;
}

/// Register, log in, find the show, hold, retry the hold with the same key,
/// cart, a declined card then a good one, the order, its tickets, a PDF read
/// with the session cookie alone, log out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_buys_over_http() {
    let app = spawn_app(Backend::Sqlite).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 6).await;
    // A scheduled, unpublished show is not on sale, so not listed.
    let hidden = app
        .catalog()
        .schedule_show(authed(&organizer, schedule_request(2)))
        .await
        .unwrap()
        .into_inner()
        .show_id;
    let http = app.http();

    let email = format!(
        "{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let registered = http
        .post(
            "/auth/register",
            None,
            &json!({"email": email, "password": "correct horse", "display_name": "Ada"}),
        )
        .await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    assert_eq!(registered.body["role"], "customer");
    http.post(
        "/auth/register",
        None,
        &json!({"email": email, "password": "correct horse", "display_name": "Ada"}),
    )
    .await
    .problem(409, "ALREADY_EXISTS");
    http.post(
        "/auth/login",
        None,
        &json!({"email": email, "password": "wrong password"}),
    )
    .await
    .problem(401, "UNAUTHENTICATED");
    let login = http
        .post(
            "/auth/login",
            None,
            &json!({"email": email, "password": "correct horse"}),
        )
        .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    let token = login.body["access_token"].as_str().unwrap().to_owned();
    let cookie = login.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with(&format!("ticketing_session={token};")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let listed = http.get("/shows", None).await;
    assert_eq!(listed.status, 200);
    let ids: Vec<_> = listed.body["shows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["show_id"].clone())
        .collect();
    assert!(ids.contains(&json!(show_id)), "{ids:?}");
    assert!(
        !ids.contains(&json!(hidden)),
        "an unpublished show is not listed"
    );
    let show = http.get(&format!("/shows/{show_id}"), None).await;
    assert_eq!(
        (
            show.body["status"].as_str(),
            show.body["seat_count"].as_u64()
        ),
        (Some("published"), Some(6))
    );

    let hold = json!({"show_id": show_id, "seat_labels": ["A-1", "A-2"]});
    let keyed = |key: &str| {
        http.request(reqwest::Method::POST, "/reservations", Some(&token))
            .header("idempotency-key", key)
            .json(&hold)
    };
    let first = Http::send(keyed("hold-1")).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let again = Http::send(keyed("hold-1")).await;
    assert_eq!(
        again.status, 201,
        "a replay answers as before: {:?}",
        again.body
    );
    assert_eq!(again.body["reservation_id"], first.body["reservation_id"]);
    let reservation_id = first.body["reservation_id"].as_str().unwrap().to_owned();

    let cart = http
        .post(
            "/cart/items",
            Some(&token),
            &json!({"reservation_id": reservation_id}),
        )
        .await;
    assert_eq!(cart.status, 200, "{:?}", cart.body);
    assert_eq!(
        (
            cart.body["status"].as_str(),
            cart.body["total_minor"].as_i64()
        ),
        (Some("cart"), Some(10_000))
    );
    let order_id = cart.body["order_id"].as_str().unwrap().to_owned();
    let checkout = format!("/orders/{order_id}/checkout");
    let declined = http
        .post(
            &checkout,
            Some(&token),
            &json!({"payment_token": "tok_declined"}),
        )
        .await;
    assert_eq!(declined.status, 200, "{:?}", declined.body);
    assert_eq!(declined.body["status"], "payment_failed");
    assert!(declined.body["failure_reason"].is_string());
    let paid = http
        .post(
            &checkout,
            Some(&token),
            &json!({"payment_token": "tok_visa"}),
        )
        .await;
    assert_eq!(paid.body["status"], "paid", "{:?}", paid.body);

    let orders = http.get("/orders", Some(&token)).await;
    assert_eq!(orders.status, 200);
    assert_eq!(orders.body["orders"][0]["order_id"], json!(order_id));
    let order = http.get(&format!("/orders/{order_id}"), Some(&token)).await;
    assert_eq!(order.body["status"], "paid");

    // Tickets are issued a moment after payment: wait for both.
    let deadline = Instant::now() + Duration::from_secs(20);
    let tickets = loop {
        let tickets = http
            .get(&format!("/orders/{order_id}/tickets"), Some(&token))
            .await;
        assert_eq!(tickets.status, 200, "{:?}", tickets.body);
        let list = tickets.body["tickets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if list.len() == 2 {
            break list;
        }
        assert!(Instant::now() < deadline, "tickets never issued: {list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut seats: Vec<_> = tickets
        .iter()
        .map(|t| t["seat_label"].as_str().unwrap())
        .collect();
    seats.sort();
    assert_eq!(seats, ["A-1", "A-2"]);
    let ticket_id = tickets[0]["ticket_id"].as_str().unwrap();
    // The page's download link carries only the session cookie.
    let pdf = http
        .client
        .get(http.url(&format!("/tickets/{ticket_id}.pdf")))
        .header("cookie", format!("ticketing_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    http.get(&format!("/tickets/{ticket_id}.pdf"), None)
        .await
        .problem(401, "UNAUTHENTICATED");
    http.get(&format!("/tickets/{ticket_id}"), Some(&token))
        .await
        .problem(404, "NOT_FOUND");

    let logout = http.post("/auth/logout", None, &json!({})).await;
    assert_eq!(logout.status, 204);
    let cleared = logout.headers["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("ticketing_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    app.stop().await;
}

/// Another buyer's hold reaches an open stream within a second; a client
/// that reconnects with `Last-Event-ID` gets every change it missed, and no
/// new snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_map_events_are_live_and_resumable() {
    let app = spawn_app(Backend::Sqlite).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 4).await;
    let http = app.http();
    let (alice, bob) = (http.customer().await, http.customer().await);

    let mut events = http.seat_map_events(&show_id, None).await;
    let snapshot = events.next_within(Duration::from_secs(5)).await;
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(
        snapshot.data["seat_map"]["seats"].as_array().unwrap().len(),
        4
    );
    assert_eq!(snapshot.id.as_deref(), snapshot.data["position"].as_str());

    let held = http
        .post(
            "/reservations",
            Some(&alice),
            &json!({"show_id": show_id, "seat_labels": ["A-1"]}),
        )
        .await;
    assert_eq!(held.status, 201);
    let answered = Instant::now();
    let change = events.next_within(Duration::from_secs(1)).await;
    assert!(answered.elapsed() < Duration::from_secs(1));
    assert_eq!(
        (
            change.event.as_str(),
            &change.data["label"],
            &change.data["status"]
        ),
        ("change", &json!("A-1"), &json!("held"))
    );
    let last_seen = change.id.clone().expect("changes carry ids");
    drop(events);

    // While the client is away: Bob holds two seats, Alice releases hers.
    let bobs = http
        .post(
            "/reservations",
            Some(&bob),
            &json!({"show_id": show_id, "seat_labels": ["A-2", "A-3"]}),
        )
        .await;
    assert_eq!(bobs.status, 201);
    let released = http
        .delete(
            &format!(
                "/reservations/{}",
                held.body["reservation_id"].as_str().unwrap()
            ),
            Some(&alice),
        )
        .await;
    assert_eq!(released.body["status"], "released", "{:?}", released.body);

    let mut resumed = http.seat_map_events(&show_id, Some(&last_seen)).await;
    let mut missed: Vec<(Value, Value)> = Vec::new();
    while missed.len() < 3 {
        let event = resumed.next_within(Duration::from_secs(5)).await;
        assert_eq!(
            event.event, "change",
            "a resumed stream sends no snapshot: {event:?}"
        );
        missed.push((event.data["label"].clone(), event.data["status"].clone()));
    }
    let held_again = missed.iter().filter(|(_, s)| s == "held").count();
    assert_eq!(held_again, 2, "{missed:?}");
    assert_eq!(
        missed[2],
        (json!("A-1"), json!("available")),
        "in log order: {missed:?}"
    );

    let bad = http
        .request(
            reqwest::Method::GET,
            &format!("/shows/{show_id}/seatmap/events"),
            None,
        )
        .header("last-event-id", "not-a-position");
    Http::send(bad).await.problem(400, "INVALID_ARGUMENT");
    http.get("/shows/s_01JZ00000000000000000000AA/seatmap/events", None)
        .await
        .problem(404, "NOT_FOUND");
    app.stop().await;
}

/// The document is OpenAPI 3.1, and every GET path in it answers, for a
/// real id and for an unknown one, with a status the document lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_get_path_answers_as_documented() {
    let app = spawn_app(Backend::Sqlite).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 2).await;
    let http = app.http();
    let customer = http.customer().await;
    let grpc_customer_order = {
        let token = customer.clone();
        app.buy(&token, &show_id, &["A-1"]).await.order_id
    };
    let tickets = app
        .wait_for_tickets(&customer, &grpc_customer_order, 1)
        .await;

    let document = http.get("/openapi.json", None).await;
    assert_eq!(document.status, 200);
    let document = document.body;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    let paths = document["paths"].as_object().unwrap();
    for needed in [
        "/reservations",
        "/shows/{show_id}/seatmap/events",
        "/orders/{order_id}/checkout",
    ] {
        assert!(paths.contains_key(needed), "{needed} is documented");
    }
    let mut checked = 0;
    for (path, item) in paths {
        let Some(get) = item.get("get") else { continue };
        let documented: Vec<&String> = get["responses"].as_object().unwrap().keys().collect();
        for real in [true, false] {
            let concrete = path
                .replace(
                    "{show_id}",
                    if real {
                        &show_id
                    } else {
                        "s_01JZ00000000000000000000AA"
                    },
                )
                .replace(
                    "{order_id}",
                    if real {
                        &grpc_customer_order
                    } else {
                        "o_01JZ00000000000000000000AA"
                    },
                )
                .replace(
                    "{ticket_pdf}",
                    &if real {
                        format!("{}.pdf", tickets[0].ticket_id)
                    } else {
                        "t_01JZ00000000000000000000AA.pdf".to_owned()
                    },
                );
            let response = http
                .request(reqwest::Method::GET, &concrete, Some(&customer))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16().to_string();
            assert!(
                documented.iter().any(|d| **d == status || *d == "default"),
                "GET {concrete} answered {status}, documented {documented:?}"
            );
            if real {
                assert!(response.status().is_success(), "GET {concrete}: {status}");
            } else if path.contains('{') {
                assert_eq!(status, "404", "GET {concrete}");
                assert!(
                    documented.iter().any(|d| **d == "404"),
                    "{path} documents its 404"
                );
            }
            drop(response);
            checked += 1;
        }
    }
    assert!(checked >= 14, "{checked} GETs checked");
    app.stop().await;
}

/// CORS is off unless origins are configured; then the JSON API and
/// grpc-web answer preflights for those origins only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_allows_only_configured_origins() {
    let preflight = |url: String,
                     origin: &'static str,
                     method: &'static str,
                     headers: &'static str| async move {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
            .await
            .unwrap()
    };
    let allowed = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let shop = "https://shop.example.com";

    let closed = spawn_app(Backend::Sqlite).await;
    let api = format!("http://{}/api/v1/reservations", closed.http_addr);
    let answer = preflight(api, shop, "POST", "authorization,content-type").await;
    assert_eq!(allowed(&answer), None, "CORS is off by default");
    closed.stop().await;

    let open = spawn_app_configured(database_url(Backend::Sqlite).await, |settings| {
        settings.cors_origins = ticketing_http::Origins::parse(&[shop.to_owned()]).unwrap();
    })
    .await;
    let api = format!("http://{}/api/v1/reservations", open.http_addr);
    let answer = preflight(
        api.clone(),
        shop,
        "POST",
        "authorization,content-type,idempotency-key",
    )
    .await;
    assert_eq!(allowed(&answer).as_deref(), Some(shop));
    let answer = preflight(api, "https://evil.example.com", "POST", "authorization").await;
    assert_eq!(allowed(&answer), None, "an origin not listed");

    let grpc_web = format!(
        "http://{}/ticketing.v1.InventoryService/ReserveSeats",
        open.addr
    );
    let answer = preflight(
        grpc_web.clone(),
        shop,
        "POST",
        "x-grpc-web,content-type,authorization",
    )
    .await;
    assert_eq!(allowed(&answer).as_deref(), Some(shop), "grpc-web too");
    let headers = answer.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(headers.contains("x-grpc-web"), "{headers}");
    let answer = preflight(grpc_web, "https://evil.example.com", "POST", "x-grpc-web").await;
    assert_eq!(allowed(&answer), None);
    open.stop().await;
}

/// Over HTTP a throttled login is 429 with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_login_is_429_with_retry_after() {
    let app = spawn_app(Backend::Sqlite).await;
    let http = app.http();
    let wrong = json!({"email": "mallory@example.com", "password": "not the password"});
    for _ in 0..5 {
        http.post("/auth/login", None, &wrong)
            .await
            .problem(401, "UNAUTHENTICATED");
    }
    let answer = http.post("/auth/login", None, &wrong).await;
    answer.problem(429, "LOGIN_THROTTLED");
    let after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&after), "Retry-After: {after}");
    app.stop().await;
}
