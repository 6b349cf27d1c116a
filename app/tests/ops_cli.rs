//! `ticketing projections …` against a running engine: list shows every
//! projector caught up, rebuild swaps a fresh seat map in while the server
//! keeps serving, a dry run reports no drift, a projector stuck on a
//! corrupt row shows its error in `list` and is repaired by a rebuild, and
//! bad names fail with one line.

use std::process::Command;
use ticketing_identity::Role;
use ticketing_proto::v1::ordering_service_client::OrderingServiceClient;
use ticketing_proto::v1::{
    AddToCartRequest, GetOrderRequest, RemoveFromCartRequest, ReserveSeatsRequest, SeatStatus,
};
use ticketing_tests::{authed, spawn_app, Backend, TestApp};

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
    let reservation_id = app
        .inventory()
        .reserve_seats(authed(&customer, reserve))
        .await
        .expect("hold")
        .into_inner()
        .reservation_id;
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
    for name in ["shows", "reservations", "orders"] {
        assert!(
            out.contains(&format!("{name}: 0 rows only in the live model, 0 only")),
            "{out}"
        );
    }

    stuck_projector_is_listed_and_repaired(&app, &customer, &reservation_id).await;

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

/// Loses an order's item row by hand, so the orders projector fails on the
/// item's removal: `list` shows that error, and a rebuild repairs the
/// model from the log while the engine runs, after which the order reads
/// right again.
async fn stuck_projector_is_listed_and_repaired(
    app: &TestApp,
    customer: &str,
    reservation_id: &str,
) {
    let mut ordering = OrderingServiceClient::new(app.channel.clone());
    let add = AddToCartRequest {
        reservation_id: reservation_id.to_owned(),
    };
    let order_id = ordering
        .add_to_cart(authed(customer, add))
        .await
        .expect("add to cart")
        .into_inner()
        .order_id;
    let store = ticketing_event_store::Store::connect(&app.database_url)
        .await
        .expect("connect");
    let items_table = match store.backend() {
        ticketing_event_store::Backend::Postgres => "bc_ordering.order_items",
        ticketing_event_store::Backend::Sqlite => "order_items",
    };
    let projected_items = || {
        let (pool, sql) = (
            store.read_pool().clone(),
            format!("SELECT COUNT(*) FROM {items_table} WHERE order_id = $1"),
        );
        let order_id = order_id.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&sql)
                .bind(order_id)
                .fetch_one(&pool)
                .await
                .expect("count items")
        }
    };
    wait_until("the cart's item is projected", || async {
        projected_items().await == 1
    })
    .await;
    sqlx::query(&format!("DELETE FROM {items_table} WHERE order_id = $1"))
        .bind(&order_id)
        .execute(store.read_pool())
        .await
        .expect("lose the item row");
    let remove = RemoveFromCartRequest {
        order_id: order_id.clone(),
        reservation_id: reservation_id.to_owned(),
    };
    ordering
        .remove_from_cart(authed(customer, remove))
        .await
        .expect("remove from cart");

    let orders_line = || {
        let listed = projections(&app.database_url, &["list"]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .find(|l| l.starts_with("orders"))
            .unwrap_or_default()
            .to_owned()
    };
    wait_until("list shows the orders projector's error", || async {
        orders_line().contains(&format!("corrupt read model row: order {order_id}"))
    })
    .await;
    let status = projections(&app.database_url, &["status", "orders"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains(&format!("order {order_id} has no item"))
    );

    let rebuilt = projections(&app.database_url, &["rebuild", "orders"]);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    wait_until("the orders projector caught up", || async {
        orders_line().split_whitespace().nth(2) == Some("0")
    })
    .await;
    let order = ordering
        .get_order(authed(
            customer,
            GetOrderRequest {
                min_consistency_token: Default::default(),
                order_id: order_id.clone(),
            },
        ))
        .await
        .expect("get order")
        .into_inner();
    assert!(order.items.is_empty());
    assert_eq!(projected_items().await, 0);
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_projection_ops_on_a_running_engine() {
    ops_on_a_running_engine(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_projection_ops_on_a_running_engine() {
    ops_on_a_running_engine(Backend::Postgres).await;
}
