//! Tables of the read models. Postgres keeps each bounded context in its own
//! schema; SQLite has one namespace, so the same tables go unqualified.

use sqlx::AnyPool;
use ticketing_event_store::Backend;

use crate::ProjectionError;

pub(crate) fn seat_map_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "bc_inventory.seat_map",
        Backend::Sqlite => "seat_map",
    }
}

pub(crate) fn shows_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "bc_catalog.shows",
        Backend::Sqlite => "shows",
    }
}

/// Creates the read-model tables if missing. Idempotent.
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), ProjectionError> {
    if backend == Backend::Postgres {
        for schema in ["bc_inventory", "bc_catalog"] {
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(pool)
                .await?;
        }
    }
    let statements = [
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
                show_id TEXT NOT NULL,
                label TEXT NOT NULL,
                section TEXT NOT NULL,
                row_name TEXT NOT NULL,
                position BIGINT NOT NULL,
                price_minor BIGINT NOT NULL,
                status TEXT NOT NULL,
                reservation_id TEXT,
                held_until BIGINT,
                global_seq BIGINT NOT NULL,
                PRIMARY KEY (show_id, label))",
            seat_map_table(backend)
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
                show_id TEXT PRIMARY KEY,
                title TEXT NOT NULL,
                venue TEXT NOT NULL,
                starts_at BIGINT NOT NULL,
                currency TEXT NOT NULL,
                status TEXT NOT NULL,
                seat_count BIGINT NOT NULL,
                organizer_id TEXT NOT NULL,
                global_seq BIGINT NOT NULL)",
            shows_table(backend)
        ),
    ];
    for statement in statements {
        sqlx::query(&statement).execute(pool).await?;
    }
    Ok(())
}
