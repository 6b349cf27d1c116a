//! `ticketing demo` loads a working sample: a published 2,000-seat show with
//! sold and held seats, and users who can log in with the printed
//! credentials. Running it twice changes nothing.

use std::process::Command;
use ticketing_commands::EngineConfig;
use ticketing_proto::v1::{ListShowsRequest, LoginRequest, SeatStatus, ShowStatus};
use ticketing_tests::{database_url, log, spawn_app_with, Backend};

fn demo(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args(["--log-format", "text", "demo", "--database-url", url])
        .env("TICKETING_LOG", "warn")
        .env(
            "TICKETING_JWT_SECRET",
            std::str::from_utf8(ticketing_tests::JWT_SECRET).expect("utf8"),
        )
        .output()
        .expect("run ticketing demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn loads_a_working_sample(backend: Backend) {
    let url = database_url(backend).await;
    let printed = demo(&url);
    assert!(
        printed.contains("demo-customer@example.com / demo-customer-pass"),
        "{printed}"
    );
    let app = spawn_app_with(url.clone(), EngineConfig::default()).await;
    // The engine's fulfillment worker issues the 3 sold seats' tickets;
    // count once it has, so only the second demo run could add events.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let tickets = || async {
        log(&app.store)
            .await
            .iter()
            .filter(|(_, _, event)| event == "TicketIssued")
            .count()
    };
    while tickets().await < 3 {
        assert!(tokio::time::Instant::now() < deadline, "the demo's tickets");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let events = log(&app.store).await.len();
    assert!(demo(&url).contains("already loaded"));
    assert_eq!(
        log(&app.store).await.len(),
        events,
        "a second run writes nothing"
    );

    let shows = app
        .catalog()
        .list_shows(ListShowsRequest::default())
        .await
        .expect("shows")
        .into_inner()
        .shows;
    assert_eq!(shows.len(), 1);
    assert_eq!(
        (shows[0].seat_count, shows[0].status),
        (2000, ShowStatus::Published as i32)
    );
    let map = app
        .wait_for_seat_map(&shows[0].show_id, |m| m.seats.len() == 2000)
        .await;
    let count = |status: SeatStatus| {
        map.seats
            .iter()
            .filter(|s| s.status == status as i32)
            .count()
    };
    assert_eq!((count(SeatStatus::Sold), count(SeatStatus::Held)), (3, 3));
    for (email, password) in [
        ("demo-organizer@example.com", "demo-organizer-pass"),
        ("demo-customer@example.com", "demo-customer-pass"),
    ] {
        let login = LoginRequest {
            email: email.into(),
            password: password.into(),
        };
        app.identity()
            .login(login)
            .await
            .expect("printed credentials log in");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_demo_loads_a_working_sample() {
    loads_a_working_sample(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_demo_loads_a_working_sample() {
    loads_a_working_sample(Backend::Postgres).await;
}
