//! The admin port: `/metrics` exposes the engine's metrics (RPC latency by
//! code, conflicts, holds expired, projection lag and events, relay backlog
//! and published events, tickets issued and emails sent) and they move when
//! it works (scraped before and after a load); `/healthz` answers;
//! `/readyz` answers for the role: a gateway is ready while the store
//! answers, however far behind the projectors are; a process that runs them
//! reports their lag, which is also a metric.

use std::time::Duration;
use ticketing_commands::EngineConfig;
use ticketing_identity::Role;
use ticketing_tests::v1::ReserveSeatsRequest;
use ticketing_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect admin");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of the first sample whose line starts with `prefix` (0 if none).
fn sample(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_move_when_the_engine_works() {
    let short = EngineConfig {
        hold_ttl: Duration::from_millis(300),
        ..EngineConfig::default()
    };
    let app = spawn_app_with(database_url(Backend::Sqlite).await, short).await;
    assert_eq!(get(app.admin_addr, "/healthz").await, (200, "ok".into()));
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 20).await;
    let customer = app.customer().await;
    let before = get(app.admin_addr, "/metrics").await.1;

    let reserve_ok =
        r#"ticketing_rpc_duration_seconds_count{rpc="InventoryService/ReserveSeats",code="0"}"#;
    let reserve_taken =
        r#"ticketing_rpc_duration_seconds_count{rpc="InventoryService/ReserveSeats",code="9"}"#;
    for label in ["A-1", "A-2", "A-3", "A-1"] {
        let request = ReserveSeatsRequest {
            show_id: show_id.clone(),
            seat_labels: vec![label.into()],
        };
        let _ = app
            .inventory()
            .reserve_seats(authed(&customer, request))
            .await;
    }
    // A purchase: the in-process workers take its order-paid and
    // ticket-issued envelopes, each relayed under the worker's checkpoint.
    let buyer = app.customer().await;
    let order = app.buy(&buyer, &show_id, &["A-10"]).await;
    app.wait_for_tickets(&buyer, &order.order_id, 1).await;
    let relayed_paid =
        r#"ticketing_relay_published_total{checkpoint="worker:fulfillment",topic="order-paid"}"#;
    let relayed_issued =
        r#"ticketing_relay_published_total{checkpoint="worker:notifier",topic="ticket-issued"}"#;
    // Holds of 300 ms run out; the expirer takes them back.
    let mut after = String::new();
    for _ in 0..200 {
        after = get(app.admin_addr, "/metrics").await.1;
        if sample(&after, "ticketing_holds_expired_total")
            >= sample(&before, "ticketing_holds_expired_total") + 3.0
            && sample(&after, relayed_issued) >= sample(&before, relayed_issued) + 1.0
            && sample(&after, "ticketing_emails_sent_total")
                >= sample(&before, "ticketing_emails_sent_total") + 1.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(&after, reserve_ok) - sample(&before, reserve_ok),
        4.0,
        "three holds and the purchase's: {after}"
    );
    assert_eq!(
        sample(&after, reserve_taken) - sample(&before, reserve_taken),
        1.0,
        "FAILED_PRECONDITION is code 9"
    );
    assert!(
        sample(&after, "ticketing_holds_expired_total")
            >= sample(&before, "ticketing_holds_expired_total") + 3.0
    );
    assert!(
        sample(
            &after,
            r#"ticketing_projection_events_total{projection="seat_map",shard="0"}"#
        ) > sample(
            &before,
            r#"ticketing_projection_events_total{projection="seat_map",shard="0"}"#
        )
    );
    assert!(
        after.contains(r#"ticketing_projection_lag_events{projection="seat_map",shard="0"}"#),
        "{after}"
    );
    for relayed in [relayed_paid, relayed_issued] {
        assert_eq!(
            sample(&after, relayed) - sample(&before, relayed),
            1.0,
            "{relayed}: {after}"
        );
    }
    for counter in [
        "ticketing_tickets_issued_total",
        "ticketing_emails_sent_total",
    ] {
        assert_eq!(
            sample(&after, counter) - sample(&before, counter),
            1.0,
            "{counter}"
        );
    }
    assert!(
        after.contains(r#"ticketing_relay_backlog_events{checkpoint="worker:notifier"}"#),
        "{after}"
    );
    // A histogram (buckets aggregate across gateways; summaries do not).
    let bucket = r#"ticketing_rpc_duration_seconds_bucket{rpc="InventoryService/ReserveSeats",code="0",le="0.25"}"#;
    assert!(sample(&after, bucket) >= 1.0, "{after}");
    assert!(
        !after.contains("quantile="),
        "no summary is exported: {after}"
    );
    assert!(
        after.contains(r#"ticketing_projection_lag_seconds{projection="seat_map",shard="0"}"#),
        "{after}"
    );

    let mut ready = (0, String::new());
    for _ in 0..100 {
        ready = get(app.admin_addr, "/readyz").await;
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready.0, 200);
    assert!(
        ready.1.starts_with("ready; ") && ready.1.contains("seat_map is "),
        "role all reports its projectors' lag: {}",
        ready.1
    );
    app.stop().await;
}

/// A gateway with no projector running, on a log whose unprojected events
/// are an hour old, is ready: the read side's lag never takes the write
/// side out of the balancer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_is_ready_however_far_behind_the_projectors_are() {
    let url = database_url(Backend::Sqlite).await;
    let app = spawn_app_configured(url, |settings| settings.role = ticketing::Role::Gateway).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    app.catalog()
        .schedule_show(authed(&organizer, schedule_request(5)))
        .await
        .expect("schedule");
    sqlx::query("UPDATE events SET recorded_at = '2020-01-01T00:00:00.000Z'")
        .execute(app.store.read_pool())
        .await
        .expect("age the log");
    let lag = ticketing_projections::projection_lag_seconds(
        &app.store,
        "seat_map",
        ticketing_projections::Shard::WHOLE,
        chrono::Utc::now(),
    )
    .await
    .expect("lag");
    assert!(lag > 3600.0, "the seat map is behind: {lag}");
    assert_eq!(get(app.admin_addr, "/readyz").await, (200, "ready".into()));
    app.stop().await;
}

/// The `rpc` label names only methods the server serves: paths a client
/// makes up are counted under `unknown`, not as series of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_paths_do_not_become_metric_series() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    for i in 0..20 {
        let response = client
            .post(format!("http://{}/made.Up{i}/Method{i}x", app.addr))
            .header("content-type", "application/grpc-web+proto")
            .body(vec![0u8, 0, 0, 0, 0])
            .send()
            .await
            .expect("grpc-web call");
        assert_eq!(response.headers()["grpc-status"], "12", "UNIMPLEMENTED");
    }
    let (status, metrics) = get(app.admin_addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        !metrics.contains("Method3x"),
        "a client's path became a label"
    );
    assert!(
        sample(
            &metrics,
            "ticketing_rpc_duration_seconds_count{rpc=\"unknown\",code=\"12\"}"
        ) >= 20.0,
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("unknown"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    app.stop().await;
}
