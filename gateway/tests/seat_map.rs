//! A seat map is never answered in part: when the shows read model lists a
//! show whose seats the seat-map projector has not all written, GetSeatMap
//! waits for them as long as a query waits for its token, then answers
//! UNAVAILABLE READ_MODEL_BEHIND. Read models written by hand, on SQLite.

use std::sync::Arc;
use std::time::Duration;

use ticketing_aggregates::{ShowId, SystemClock};
use ticketing_commands::{Engine, EngineConfig};
use ticketing_event_store::{Backend, Store};
use ticketing_gateway::{Consistency, InventoryApi};
use ticketing_identity::{Identity, TokenConfig};
use ticketing_projections::{SeatMaps, Shows};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::inventory_service_server::InventoryService;
use tonic_types::StatusExt;

async fn api(store: &Store, wait: Duration) -> InventoryApi {
    let pool = store.read_pool().clone();
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        EngineConfig::default(),
    );
    let tokens = TokenConfig {
        secret: b"seat-map-test-secret-seat-map-test".to_vec(),
        ttl: chrono::Duration::minutes(5),
        issuer: "test".into(),
    };
    let identity = Identity::new(pool.clone(), Backend::Sqlite, tokens);
    let backend = Backend::Sqlite;
    InventoryApi::new(
        engine,
        identity,
        SeatMaps {
            pool: pool.clone(),
            backend,
        },
        Shows { pool, backend },
        Consistency::new(store.clone(), wait),
    )
}

async fn seat(store: &Store, show: &ShowId, n: i64) {
    sqlx::query(
        "INSERT INTO seat_map (show_id, label, section, row_name, position, price_minor, \
         status, reservation_id, held_until, global_seq) \
         VALUES ($1, $2, 'Stalls', 'A', $3, 5000, 'AVAILABLE', NULL, NULL, $3)",
    )
    .bind(show.as_str())
    .bind(format!("A-{n}"))
    .bind(n)
    .execute(store.read_pool())
    .await
    .expect("seat row");
}

fn get(show: &ShowId) -> tonic::Request<pb::GetSeatMapRequest> {
    tonic::Request::new(pb::GetSeatMapRequest {
        show_id: show.to_string(),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seat_map_is_answered_whole_or_not_at_all() {
    let store = Store::connect(&ticketing_event_store::testing::fresh_sqlite_url())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    ticketing_projections::migrate(store.read_pool(), Backend::Sqlite)
        .await
        .expect("read models");
    ticketing_identity::migrate(store.read_pool(), Backend::Sqlite)
        .await
        .expect("users");
    let show = ShowId::generate();
    sqlx::query(
        "INSERT INTO shows (show_id, title, venue, starts_at, currency, status, seat_count, \
         organizer_id, global_seq, time_zone) \
         VALUES ($1, 'Hamlet', 'Globe', 4102444800000, 'EUR', 'PUBLISHED', 3, 'u', 1, 'UTC')",
    )
    .bind(show.as_str())
    .execute(store.read_pool())
    .await
    .expect("show row");
    seat(&store, &show, 1).await;
    seat(&store, &show, 2).await;

    let api = api(&store, Duration::from_millis(200)).await;
    let partial = api
        .get_seat_map(get(&show))
        .await
        .expect_err("2 of 3 seats");
    assert_eq!(partial.code(), tonic::Code::Unavailable, "{partial:?}");
    let reason = partial.get_details_error_info().map(|info| info.reason);
    assert_eq!(reason.as_deref(), Some("READ_MODEL_BEHIND"));

    // The last seat arrives while a call waits: it answers the whole map.
    let api = self::api(&store, Duration::from_secs(5)).await;
    let waiting = tokio::spawn({
        let api = api.clone();
        let show = show.clone();
        async move { api.get_seat_map(get(&show)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "it waits for the missing seat");
    seat(&store, &show, 3).await;
    let map = waiting.await.expect("task").expect("the whole map");
    assert_eq!(map.get_ref().seats.len(), 3);
}
