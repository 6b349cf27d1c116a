//! `ticketing projections …` against a running engine: list shows every
//! projector caught up, rebuild swaps a fresh seat map in while the server
//! keeps serving, a dry run reports no drift, and bad names fail with one
//! line.

use std::process::Command;
use ticketing_identity::Role;
use ticketing_proto::v1::{ReserveSeatsRequest, SeatStatus};
use ticketing_tests::{authed, spawn_app, Backend};

fn projections(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args(["--log-format", "text", "projections"])
        .args(args)
        .args(["--database-url", url])
        .env("TICKETING_LOG", "warn")
        .output()
        .expect("run ticketing projections")
}

async fn ops_on_a_running_engine(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 6).await;
    let customer = app.customer().await;
    let reserve = ReserveSeatsRequest {
        show_id: show_id.clone(),
        seat_labels: vec!["A-2".into(), "A-5".into()],
    };
    app.inventory()
        .reserve_seats(authed(&customer, reserve))
        .await
        .expect("hold");
    let held = |m: &ticketing_proto::v1::SeatMap| {
        m.seats
            .iter()
            .filter(|s| s.status == SeatStatus::Held as i32)
            .count()
            == 2
    };
    app.wait_for_seat_map(&show_id, held).await;

    let url = app.database_url.clone();
    let listed = projections(&url, &["list"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed = String::from_utf8_lossy(&listed.stdout);
    for name in ["seat_map", "shows", "reservations", "orders"] {
        assert!(
            listed.lines().any(|l| l.starts_with(name)),
            "{name} missing from:\n{listed}"
        );
    }

    let rebuilt = projections(&url, &["rebuild", "seat_map"]);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    assert!(String::from_utf8_lossy(&rebuilt.stdout).contains("seat_map: rebuilt from"));
    // Still served, and still right, from the swapped-in table.
    let map = app.wait_for_seat_map(&show_id, held).await;
    assert_eq!(map.seats.len(), 6);

    let checked = projections(&url, &["rebuild", "--all", "--dry-run"]);
    let out = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        out.contains("seat_map: 0 rows only in the live model, 0 only in a fresh fold"),
        "{out}"
    );
    assert!(
        out.contains("shows: 0 rows only in the live model"),
        "{out}"
    );

    for bad in [
        &["rebuild", "orders_x"][..],
        &["status", "nope"][..],
        &["rebuild"][..],
    ] {
        let refused = projections(&url, bad);
        assert!(!refused.status.success(), "{bad:?} should fail");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{bad:?}: {stderr}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_projection_ops_on_a_running_engine() {
    ops_on_a_running_engine(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_projection_ops_on_a_running_engine() {
    ops_on_a_running_engine(Backend::Postgres).await;
}
