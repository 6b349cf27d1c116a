//! Tables of the read models. Postgres keeps each bounded context in its own
//! schema; SQLite has one namespace, so the same tables go unqualified.

use sqlx::AnyPool;
use ticketing_event_store::Backend;

use crate::ProjectionError;

/// Suffix of the shadow table a rebuild fills before it swaps it in.
pub(crate) const SHADOW: &str = "__rebuild";

/// The live table, or its shadow during a rebuild.
pub(crate) fn table(live: &str, shadow: bool) -> String {
    if shadow {
        format!("{live}{SHADOW}")
    } else {
        live.to_owned()
    }
}

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

pub(crate) fn reservations_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "bc_inventory.reservations",
        Backend::Sqlite => "reservations",
    }
}

pub(crate) fn orders_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "bc_ordering.orders",
        Backend::Sqlite => "orders",
    }
}

pub(crate) fn order_items_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "bc_ordering.order_items",
        Backend::Sqlite => "order_items",
    }
}

/// Creates the read-model tables and their indexes if missing. Idempotent.
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), ProjectionError> {
    if backend == Backend::Postgres {
        for schema in ["bc_inventory", "bc_catalog", "bc_ordering"] {
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(pool)
                .await?;
        }
    }
    let statements = [
        seat_map_ddl(seat_map_table(backend)),
        shows_ddl(shows_table(backend)),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
                reservation_id TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                show_id TEXT NOT NULL,
                seat_labels TEXT NOT NULL,
                until BIGINT NOT NULL,
                status TEXT NOT NULL,
                order_id TEXT,
                global_seq BIGINT NOT NULL)",
            reservations_table(backend)
        ),
        // The expirer's scan: ACTIVE reservations by deadline.
        format!(
            "CREATE INDEX IF NOT EXISTS reservations_status_until ON {} (status, until)",
            reservations_table(backend)
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
                order_id TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                status TEXT NOT NULL,
                currency TEXT NOT NULL,
                total_minor BIGINT NOT NULL,
                payment_id TEXT,
                failure_reason TEXT,
                opened_at BIGINT NOT NULL,
                global_seq BIGINT NOT NULL)",
            orders_table(backend)
        ),
        // "My orders", newest first, paged by order id.
        format!(
            "CREATE INDEX IF NOT EXISTS orders_customer ON {} (customer_id, order_id)",
            orders_table(backend)
        ),
        // The payment saga's recovery scan of orders in CHECKOUT.
        format!(
            "CREATE INDEX IF NOT EXISTS orders_status ON {} (status)",
            orders_table(backend)
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
                order_id TEXT NOT NULL,
                reservation_id TEXT NOT NULL,
                show_id TEXT NOT NULL,
                seat_labels TEXT NOT NULL,
                price_minor BIGINT NOT NULL,
                PRIMARY KEY (order_id, reservation_id))",
            order_items_table(backend)
        ),
    ];
    for statement in statements {
        sqlx::query(&statement).execute(pool).await?;
    }
    Ok(())
}

/// The seat map's table under `name` (live or shadow).
pub(crate) fn seat_map_ddl(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (
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
            PRIMARY KEY (show_id, label))"
    )
}

/// The catalog's table under `name` (live or shadow).
pub(crate) fn shows_ddl(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (
            show_id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            venue TEXT NOT NULL,
            starts_at BIGINT NOT NULL,
            currency TEXT NOT NULL,
            status TEXT NOT NULL,
            seat_count BIGINT NOT NULL,
            organizer_id TEXT NOT NULL,
            global_seq BIGINT NOT NULL)"
    )
}
