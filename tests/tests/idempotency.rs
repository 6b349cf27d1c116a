//! `idempotency-key`: the same key and request give the same response, also
//! after a restart; the same key with another request is refused.

use ticketing_commands::EngineConfig;
use ticketing_identity::Role;
use ticketing_tests::v1::*;
use ticketing_tests::*;
use tonic::Code;

/// A reservation without its consistency token.
fn untokened(reservation: Reservation) -> Reservation {
    Reservation {
        consistency_token: String::new(),
        ..reservation
    }
}

fn with_key<T>(key: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("idempotency-key", key.parse().expect("ascii"));
    request
}

async fn replays_survive_restarts(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let customer = app.customer().await;
    let show_id = app.published_show(&organizer, 6).await;
    let request = ReserveSeatsRequest {
        show_id: show_id.clone(),
        seat_labels: vec!["A-1".into(), "A-2".into()],
    };
    let first = app
        .inventory()
        .reserve_seats(keyed(&customer, "k-1", request.clone()))
        .await
        .expect("first call")
        .into_inner();
    let again = app
        .inventory()
        .reserve_seats(keyed(&customer, "k-1", request.clone()))
        .await
        .expect("replay")
        .into_inner();
    // The same answer but for its consistency token: a bound past the write
    // taken when answering, so a replay's may be further on.
    assert!(!again.consistency_token.is_empty());
    assert_eq!(
        untokened(first.clone()),
        untokened(again),
        "a replay answers with the stored response"
    );

    let other = ReserveSeatsRequest {
        show_id: show_id.clone(),
        seat_labels: vec!["A-3".into()],
    };
    let status = app
        .inventory()
        .reserve_seats(keyed(&customer, "k-1", other))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status).as_deref(), Some("IDEMPOTENCY_KEY_REUSED"));

    let register = RegisterRequest {
        email: "ann@example.com".into(),
        password: "ann-password".into(),
        display_name: "Ann".into(),
    };
    let ann = app
        .identity()
        .register(with_key("reg-1", register.clone()))
        .await
        .expect("register")
        .into_inner();
    let ann_again = app
        .identity()
        .register(with_key("reg-1", register.clone()))
        .await
        .expect("register replay")
        .into_inner();
    assert_eq!(ann, ann_again);
    let status = app.identity().register(register.clone()).await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::AlreadyExists,
        "without a key a second sign-up is refused"
    );
    let changed = RegisterRequest {
        display_name: "Anne".into(),
        ..register.clone()
    };
    let status = app
        .identity()
        .register(with_key("reg-1", changed))
        .await
        .unwrap_err();
    assert_eq!(reason(&status).as_deref(), Some("IDEMPOTENCY_KEY_REUSED"));

    // Built once: the request carries a start time derived from the clock.
    let schedule = schedule_request(3);
    let show_key = keyed(&organizer, "show-1", schedule.clone());
    let show = app
        .catalog()
        .schedule_show(show_key)
        .await
        .expect("schedule")
        .into_inner();

    let url = app.database_url.clone();
    let events_before = log(&app.store).await;
    app.stop().await;
    let app = spawn_app_with(url, EngineConfig::default()).await;
    let after_restart = app
        .inventory()
        .reserve_seats(keyed(&customer, "k-1", request))
        .await
        .expect("replay after restart")
        .into_inner();
    assert_eq!(untokened(first.clone()), untokened(after_restart));
    let show_again = app
        .catalog()
        .schedule_show(keyed(&organizer, "show-1", schedule))
        .await
        .expect("schedule replay")
        .into_inner();
    assert_eq!(
        Show {
            consistency_token: String::new(),
            ..show
        },
        Show {
            consistency_token: String::new(),
            ..show_again
        },
        "no second show is scheduled"
    );
    let ann_after_restart = app
        .identity()
        .register(with_key("reg-1", register))
        .await
        .expect("register replay after restart")
        .into_inner();
    assert_eq!(ann, ann_after_restart);
    assert_eq!(
        log(&app.store).await,
        events_before,
        "replays write nothing"
    );

    // Keys are scoped to their caller: another customer's "k-1" is a new request.
    let stranger = app.customer().await;
    let theirs = app
        .inventory()
        .reserve_seats(keyed(
            &stranger,
            "k-1",
            ReserveSeatsRequest {
                show_id,
                seat_labels: vec!["A-4".into()],
            },
        ))
        .await
        .expect("another caller's key")
        .into_inner();
    assert_ne!(theirs.reservation_id, first.reservation_id);
    app.stop().await;
}

async fn concurrent_twins_take_effect_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let customer = app.customer().await;
    let show_id = app.published_show(&organizer, 40).await;
    // Ten copies of one request with one key, sent at once (a client retrying
    // eagerly): one reservation, and every copy gets its answer.
    let calls = (0..10).map(|_| {
        let mut client = app.inventory();
        let request = ReserveSeatsRequest {
            show_id: show_id.clone(),
            seat_labels: vec!["A-7".into()],
        };
        let request = keyed(&customer, "twin", request);
        async move { client.reserve_seats(request).await }
    });
    let results = futures::future::join_all(calls).await;
    let ids: std::collections::HashSet<String> = results
        .into_iter()
        .map(|r| {
            r.expect("every twin gets the one answer")
                .into_inner()
                .reservation_id
        })
        .collect();
    assert_eq!(ids.len(), 1, "one reservation for one key");
    let created = log(&app.store)
        .await
        .into_iter()
        .filter(|(_, _, kind)| kind == "ReservationCreated")
        .count();
    assert_eq!(created, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_idempotent_replays_survive_restarts() {
    replays_survive_restarts(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_idempotent_replays_survive_restarts() {
    replays_survive_restarts(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_twins_take_effect_once() {
    concurrent_twins_take_effect_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_twins_take_effect_once() {
    concurrent_twins_take_effect_once(Backend::Postgres).await;
}

/// Register's idempotency record holds no plain hash of the request, which
/// carries the password: with a copy of the database, hashing guesses the
/// way the server once did confirms none of them, the right one included.
/// Replays and reuses still behave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_registration_confirms_no_password() {
    let app = spawn_app(Backend::Sqlite).await;
    let request = RegisterRequest {
        email: "eve@example.com".into(),
        password: "correct horse".into(),
        display_name: "Eve".into(),
    };
    let user = app
        .identity()
        .register(with_key("signup-1", request.clone()))
        .await
        .expect("register")
        .into_inner();
    let again = app
        .identity()
        .register(with_key("signup-1", request.clone()))
        .await
        .expect("a replay answers as before")
        .into_inner();
    assert_eq!(again.user_id, user.user_id);
    let other_password = RegisterRequest {
        password: "another horse".into(),
        ..request.clone()
    };
    let reused = app
        .identity()
        .register(with_key("signup-1", other_password))
        .await
        .unwrap_err();
    assert_eq!(reason(&reused).as_deref(), Some("IDEMPOTENCY_KEY_REUSED"));

    let mut conn = app.store.read_pool().acquire().await.unwrap();
    let record = ticketing_event_store::find_idempotency(
        &mut conn,
        app.store.backend(),
        "Register:eve@example.com",
        "signup-1",
    )
    .await
    .unwrap()
    .expect("the record");
    for guess in ["correct horse", "hunter22", "password1"] {
        let guessed = RegisterRequest {
            password: guess.into(),
            ..request.clone()
        };
        assert_ne!(
            record.request_hash,
            ticketing_gateway::request_hash("Register", &guessed),
            "the record confirms {guess:?}"
        );
    }
    drop(conn);
    app.stop().await;
}
