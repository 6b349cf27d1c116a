//! Read models folded from the global feed, and the runner that keeps them
//! current.
//!
//! * `runner.rs` — [`Projector`]: tails the feed from its checkpoint and
//!   writes each batch's rows and the new checkpoint in one transaction, so
//!   a projector killed at any instant neither loses nor repeats an event.
//! * `seat_map.rs` — `seat_map` (schema `bc_inventory` on Postgres): every
//!   seat of every show with its status and price.
//! * `shows.rs` — `shows` (schema `bc_catalog`): the show catalog.
//! * `reservations.rs` — `reservations` (schema `bc_inventory`): each
//!   reservation's seats, deadline and status; the expirer's work list.
//! * `orders.rs` — `orders` and `order_items` (schema `bc_ordering`): each
//!   order with its items, total and payment state.
//! * `read_model.rs` — the read models by name, their tables, and
//!   [`AnyProjection`], which runs any of them.
//! * `rebuild.rs` — rebuild into shadow tables and swap; `fill.rs` folds
//!   the log into them.
//! * `as_of.rs` — a seat map at an instant, folded from the log.
//! * `drift.rs` — compare a fresh fold with the live model.
//! * `status.rs` — checkpoint, lag and last error of each projector.
//! * `shard.rs` — projector shards (`--shard K/N`): which shows a shard
//!   keeps, and which models are split; `layout.rs` — the shards of a model
//!   as its checkpoints record them, and what follows them (read-your-writes).
//! * `schema.rs` — the tables of all of them, per backend.
//!
//! Read models never see the write side's cache or in-process dispatch:
//! the durable feed is their only input.

mod as_of;
mod drift;
mod error;
mod fill;
mod layout;
mod orders;
mod read_model;
mod rebuild;
mod reservations;
mod runner;
mod schema;
mod seat_map;
mod shard;
mod shows;
mod status;

pub use as_of::seat_map_as_of;
pub use drift::{drift, Drift};
pub use error::ProjectionError;
pub use fill::Steps;
pub use layout::{applied_through, check_shard, model_shards, reached};
pub use orders::{CheckoutCursor, OrderItemRow, OrderRow, Orders, OrdersPage, OrdersProjection};
pub use read_model::{AnyProjection, ReadModel, Target};
pub use rebuild::{rebuild, rebuild_in_steps, reshard, shadow_lock, RebuildReport};
pub use reservations::{ReservationRow, Reservations, ReservationsProjection};
pub use runner::{Projection, Projector};
pub use schema::{migrate, READ_MODELS};
pub use seat_map::{SeatMapProjection, SeatMapRow, SeatMapStatus, SeatMaps};
pub use shard::{owner, BadShard, Shard, MAX_SHARDS};
pub use shows::{ShowQuery, ShowRow, Shows, ShowsPage, ShowsProjection};
pub use status::{projection_lag_seconds, projection_status, record_error, ProjectionStatus};

/// Milliseconds since the epoch: how read models store instants, because the
/// `Any` driver binds integers the same way on both backends.
pub(crate) fn millis(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
