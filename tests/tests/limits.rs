//! What one client can make the gRPC server do is bounded: calls beyond the
//! in-flight cap are shed at once with RESOURCE_EXHAUSTED and RetryInfo
//! (health checks still answer), a call past its deadline ends with
//! DEADLINE_EXCEEDED, an oversized message is refused, and a connection
//! opens at most so many streams at a time. The HTTP face keeps the same
//! cap and deadline: 503 `SERVER_AT_CAPACITY` with Retry-After, and 504.

use std::time::Duration;

use futures::future::join_all;
use ticketing_identity::Role;
use ticketing_tests::v1::inventory_service_client::InventoryServiceClient;
use ticketing_tests::v1::*;
use ticketing_tests::*;
use tonic::Code;
use tonic_types::StatusExt;

async fn limited(configure: impl FnOnce(&mut ticketing_gateway::ServerLimits)) -> TestApp {
    let url = database_url(Backend::Sqlite).await;
    spawn_app_configured(url, |settings| configure(&mut settings.limits)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_in_flight_cap_are_shed_with_a_retry_hint() {
    let app = limited(|limits| limits.max_in_flight = 1).await;
    // Logins hash a password (tens of milliseconds): with one call in
    // flight allowed, most of forty at once are shed.
    let email = format!(
        "{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    app.identity()
        .register(RegisterRequest {
            email: email.clone(),
            password: "correct horse".into(),
            display_name: "Busy".into(),
        })
        .await
        .expect("register");
    let calls = (0..40).map(|_| {
        let mut identity = app.identity();
        let email = email.clone();
        async move {
            identity
                .login(LoginRequest {
                    email,
                    password: "correct horse".into(),
                })
                .await
        }
    });
    let answers = join_all(calls).await;
    let ok = answers.iter().filter(|a| a.is_ok()).count();
    let shed: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(ok >= 1, "one call at a time still gets through");
    assert!(!shed.is_empty(), "the rest are shed");
    for status in shed {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        let retry = status.get_details_retry_info().and_then(|r| r.retry_delay);
        assert!(retry.is_some_and(|d| d > Duration::ZERO), "{status:?}");
    }
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health is exempt");
    assert_eq!(serving.into_inner().status, 1, "SERVING");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_its_deadline_is_ended() {
    let app = limited(|limits| limits.request_timeout = Duration::from_millis(5)).await;
    // A login verifies a memory-hard hash: far longer than 5 ms.
    let status = app
        .identity()
        .login(LoginRequest {
            email: "nobody@example.com".into(),
            password: "wrong password".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_beyond_the_in_flight_cap_are_shed_with_retry_after() {
    let app = limited(|limits| limits.max_in_flight = 1).await;
    let http = app.http();
    // Each login hashes a password (tens of milliseconds): with one request
    // in flight allowed, most of forty at once are shed.
    let body = serde_json::json!({"email": "nobody@example.com", "password": "wrong password"});
    let calls = (0..40).map(|_| http.post("/auth/login", None, &body));
    let answers = join_all(calls).await;
    let shed: Vec<_> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(!shed.is_empty(), "the rest are shed");
    assert!(
        answers.iter().any(|a| a.status == 401),
        "one request at a time still gets through"
    );
    for answer in shed {
        answer.problem(503, "SERVER_AT_CAPACITY");
        assert_eq!(answer.headers["retry-after"], "1");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_request_past_its_deadline_is_ended() {
    let app = limited(|limits| limits.request_timeout = Duration::from_millis(5)).await;
    let body = serde_json::json!({"email": "nobody@example.com", "password": "wrong password"});
    let answer = app.http().post("/auth/login", None, &body).await;
    answer.problem(504, "DEADLINE_EXCEEDED");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_refused() {
    let app = limited(|limits| limits.max_message_bytes = 64 * 1024).await;
    let customer = app.customer().await;
    let status = app
        .inventory()
        .reserve_seats(authed(
            &customer,
            ReserveSeatsRequest {
                show_id: "s_01JZ00000000000000000000AA".into(),
                seat_labels: vec!["A-1".repeat(1000); 40],
            },
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_opens_only_so_many_streams_at_once() {
    let app = limited(|limits| limits.streams_per_connection = 2).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 2).await;
    let channel = app.new_channel().await;
    let watch = || {
        let mut inventory = InventoryServiceClient::new(channel.clone());
        let show_id = show_id.clone();
        async move {
            inventory
                .watch_seat_map(WatchSeatMapRequest {
                    min_consistency_token: Default::default(),
                    show_id,
                    resume_after: String::new(),
                })
                .await
                .expect("watch")
                .into_inner()
        }
    };
    let first = watch().await;
    let _second = watch().await;
    let third = tokio::spawn(watch());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third stream waits for a free one");
    drop(first);
    let third = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("the third stream opens once one closes")
        .unwrap();
    drop(third);
    app.stop().await;
}

/// Seat-map watches, gRPC streams and SSE alike, are bounded per address
/// and per process, and a closed one gives its place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_watches_are_bounded_per_address_and_in_all() {
    let app = limited(|limits| limits.watches_per_peer = 3).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 2).await;
    let request = || WatchSeatMapRequest {
        min_consistency_token: Default::default(),
        show_id: show_id.clone(),
        resume_after: String::new(),
    };
    let first = app
        .inventory()
        .watch_seat_map(request())
        .await
        .expect("1st");
    let _second = app
        .inventory()
        .watch_seat_map(request())
        .await
        .expect("2nd");
    let http = app.http();
    let _third = http.seat_map_events(&show_id, None).await;
    let refused = app.inventory().watch_seat_map(request()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(reason(&refused).as_deref(), Some("TOO_MANY_WATCHES"));
    assert!(refused.get_details_retry_info().is_some());
    http.get(&format!("/shows/{show_id}/seatmap/events"), None)
        .await
        .problem(429, "TOO_MANY_WATCHES");
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match app.inventory().watch_seat_map(request()).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the place never came back"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    app.stop().await;

    let app = limited(|limits| limits.max_watches = 1).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 2).await;
    let request = || WatchSeatMapRequest {
        min_consistency_token: Default::default(),
        show_id: show_id.clone(),
        resume_after: String::new(),
    };
    let _only = app
        .inventory()
        .watch_seat_map(request())
        .await
        .expect("one");
    let refused = app.inventory().watch_seat_map(request()).await.unwrap_err();
    assert_eq!(reason(&refused).as_deref(), Some("TOO_MANY_WATCHES"));
    app.stop().await;
}

/// `--db-max-connections` sizes the process's Postgres pools: a burst of
/// 30 reservations on pools of 2 all succeed, and the process opened at
/// most twice that plus one (the LISTEN connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_pools_are_as_large_as_configured() {
    use sqlx::Connection;
    const POOL: u32 = 2;
    let url = database_url(Backend::Postgres).await;
    let mut probe = sqlx::PgConnection::connect(&url).await.expect("probe");
    let count = "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let before: i64 = sqlx::query_scalar(count)
        .fetch_one(&mut probe)
        .await
        .expect("count");
    let app = spawn_app_configured(url, |settings| settings.db_max_connections = POOL).await;
    assert_eq!(app.store.read_pool().options().get_max_connections(), POOL);
    let organizer = app.user_with_role(Role::Organizer).await;
    let show = app.unlimited_show(&organizer, 30).await;
    let customer = app.customer().await;
    let calls = (1..=30).map(|seat| {
        let mut inventory = app.inventory();
        let request = authed(
            &customer,
            ReserveSeatsRequest {
                show_id: show.clone(),
                seat_labels: vec![format!("A-{seat}")],
            },
        );
        async move { inventory.reserve_seats(request).await }
    });
    for answer in join_all(calls).await {
        answer.expect("a reservation");
    }
    let after: i64 = sqlx::query_scalar(count)
        .fetch_one(&mut probe)
        .await
        .expect("count");
    assert!(
        after - before <= i64::from(2 * POOL + 1),
        "{before} connections before, {after} after"
    );
    app.stop().await;
}
