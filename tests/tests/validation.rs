//! Bad input and the wrong caller get clear errors (INVALID_ARGUMENT with
//! field violations, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND) and a
//! refused command writes nothing to the log.

use ticketing_identity::Role;
use ticketing_tests::v1::*;
use ticketing_tests::*;
use tonic::Code;

struct World {
    app: TestApp,
    organizer: String,
    customer: String,
    show_id: String,
}

async fn world(backend: Backend) -> World {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let customer = app.customer().await;
    let show_id = app.published_show(&organizer, 12).await;
    World {
        app,
        organizer,
        customer,
        show_id,
    }
}

fn reserve(show_id: &str, labels: &[&str]) -> ReserveSeatsRequest {
    ReserveSeatsRequest {
        show_id: show_id.into(),
        seat_labels: labels.iter().map(|l| l.to_string()).collect(),
    }
}

async fn bad_input_is_refused_and_writes_nothing(backend: Backend) {
    let w = world(backend).await;
    let before = log(&w.app.store).await;
    let mut inventory = w.app.inventory();
    let eleven: Vec<String> = (1..=11).map(|i| format!("A-{i}")).collect();
    let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
    let cases: Vec<(ReserveSeatsRequest, &str)> = vec![
        (reserve(&w.show_id, &[]), "seat_labels"),
        (reserve(&w.show_id, &eleven), "seat_labels"),
        (reserve(&w.show_id, &["A-1", "A-1"]), "seat_labels[1]"),
        (reserve(&w.show_id, &["A 1"]), "seat_labels[0]"),
        (reserve(&w.show_id, &["Z-99"]), "seat_labels"),
        (reserve("s_not-an-id", &["A-1"]), "show_id"),
        (reserve("", &["A-1"]), "show_id"),
    ];
    for (request, field) in cases {
        let status = inventory
            .reserve_seats(authed(&w.customer, request.clone()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
        assert!(
            violated_fields(&status).iter().any(|f| f == field),
            "{request:?}: {:?}",
            violated_fields(&status)
        );
    }
    let huge = ReserveSeatsRequest {
        show_id: w.show_id.clone(),
        seat_labels: vec!["A-1".into(); 100_000],
    };
    let status = inventory
        .reserve_seats(authed(&w.customer, huge))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let mut catalog = w.app.catalog();
    let mut plan_cases = Vec::new();
    let mut negative = schedule_request(2);
    negative.sections[0].rows[0].seats[1].price_minor = -100;
    plan_cases.push((negative, "sections[0].rows[0].seats[1].price_minor"));
    let mut empty = schedule_request(2);
    empty.sections.clear();
    plan_cases.push((empty, "sections"));
    let mut currency = schedule_request(2);
    currency.currency = "EURO".into();
    plan_cases.push((currency, "currency"));
    let mut unknown_currency = schedule_request(2);
    unknown_currency.currency = "XYZ".into();
    plan_cases.push((unknown_currency, "currency"));
    let mut untitled = schedule_request(2);
    untitled.title = " ".into();
    plan_cases.push((untitled, "title"));
    let mut past = schedule_request(2);
    past.starts_at = Some(prost_types::Timestamp {
        seconds: 1_000_000,
        nanos: 0,
    });
    plan_cases.push((past, "starts_at"));
    let mut duplicate = schedule_request(2);
    duplicate.sections[0].rows[0].seats[1].label = "A-1".into();
    plan_cases.push((duplicate, "sections[0].rows[0].seats[1].label"));
    for (request, field) in plan_cases {
        let status = catalog
            .schedule_show(authed(&w.organizer, request))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert!(
            violated_fields(&status).iter().any(|f| f == field),
            "{field}: {:?}",
            violated_fields(&status)
        );
    }
    let status = catalog
        .publish_show(authed(
            &w.organizer,
            PublishShowRequest {
                show_id: "garbage".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = inventory
        .release_reservation(authed(
            &w.customer,
            ReleaseReservationRequest {
                reservation_id: "r_".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["reservation_id"]);

    assert_eq!(
        log(&w.app.store).await,
        before,
        "refused commands wrote to the log"
    );
    w.app.stop().await;
}

async fn wrong_callers_are_refused_and_write_nothing(backend: Backend) {
    let w = world(backend).await;
    let before = log(&w.app.store).await;
    let mut inventory = w.app.inventory();
    let mut catalog = w.app.catalog();

    let status = inventory
        .reserve_seats(reserve(&w.show_id, &["A-1"]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "missing token");
    let forged = {
        let mut parts: Vec<String> = w.customer.split('.').map(String::from).collect();
        parts[2] = "c2lnbmF0dXJl".into();
        parts.join(".")
    };
    for token in [forged.as_str(), "not-a-jwt", ""] {
        let status = inventory
            .reserve_seats(authed(token, reserve(&w.show_id, &["A-1"])))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "token {token:?}");
    }
    let status = catalog
        .schedule_show(authed(&w.customer, schedule_request(3)))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::PermissionDenied,
        "customer scheduling a show"
    );
    let other_organizer = w.app.user_with_role(Role::Organizer).await;
    let status = catalog
        .cancel_show(authed(
            &other_organizer,
            CancelShowRequest {
                show_id: w.show_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::PermissionDenied,
        "organizer of another show"
    );
    let status = inventory
        .reserve_seats(authed(&w.organizer, reserve(&w.show_id, &["A-1"])))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "organizer reserving");
    let unknown_show = "s_01JZ00000000000000000000AA";
    let status = inventory
        .reserve_seats(authed(&w.customer, reserve(unknown_show, &["A-1"])))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        log(&w.app.store).await,
        before,
        "refused commands wrote to the log"
    );

    let reservation = inventory
        .reserve_seats(authed(&w.customer, reserve(&w.show_id, &["A-1"])))
        .await
        .unwrap()
        .into_inner();
    let after_reserve = log(&w.app.store).await;
    let mallory = w.app.customer().await;
    let release = ReleaseReservationRequest {
        reservation_id: reservation.reservation_id.clone(),
    };
    let status = inventory
        .release_reservation(authed(&mallory, release.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::PermissionDenied,
        "releasing another customer's reservation"
    );
    let unknown = ReleaseReservationRequest {
        reservation_id: "r_01JZ00000000000000000000AA".into(),
    };
    let status = inventory
        .release_reservation(authed(&w.customer, unknown))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        log(&w.app.store).await,
        after_reserve,
        "refused release wrote to the log"
    );
    w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bad_input() {
    bad_input_is_refused_and_writes_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bad_input() {
    bad_input_is_refused_and_writes_nothing(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wrong_callers() {
    wrong_callers_are_refused_and_write_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_wrong_callers() {
    wrong_callers_are_refused_and_write_nothing(Backend::Postgres).await;
}

/// A plan of 100,000 bad seats is refused with a status the client can
/// read: the first violations, one that counts the rest, and details well
/// under the 8 KiB a client accepts in a trailer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_bad_seats_get_a_bounded_answer() {
    let app = spawn_app(Backend::Sqlite).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let mut plan = schedule_request(100_000);
    for seat in &mut plan.sections[0].rows[0].seats {
        seat.label = seat.label.replace('-', " ");
    }
    let status = app
        .catalog()
        .schedule_show(authed(&organizer, plan))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = violated_fields(&status);
    assert!(fields.len() <= 51, "{} violations", fields.len());
    assert_eq!(fields[0], "sections[0].rows[0].seats[0].label");
    assert_eq!(fields.last().map(String::as_str), Some("*"));
    let details = status.details().len();
    assert!(details * 4 / 3 < 8 * 1024, "{details} bytes of details");
    assert!(
        status.message().contains("100000 invalid fields in all"),
        "{}",
        status.message()
    );
    app.stop().await;
}
