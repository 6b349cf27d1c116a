//! Application services of the write side: each command loads the aggregates
//! it needs from the event store, lets them decide, and appends every
//! resulting event in one atomic multi-stream append (with the idempotency
//! record, when the caller sent a key). On an optimistic-concurrency conflict
//! it reloads and decides again, so callers never see a conflict.
//!
//! * `engine.rs` — [`Engine`]: the handle, its config and the commit loop.
//! * `load.rs` — folding a stream into an aggregate; events into appends.
//! * `gate.rs` — per-seat single-flight and a cache of taken seats, so
//!   contention losers are answered without a database round trip.
//! * `locks.rs` — [`SeatLocks`], the port of advisory seat locks shared by
//!   processes (Redis), so losers in other processes fail fast too.
//! * `holds.rs` — the limit on the seats a customer holds of one show;
//!   `carts.rs` reads the tails of streams whose state is their last event.
//! * `shows.rs`, `reservations.rs`, `cart.rs`, `checkout.rs`, `settle.rs`,
//!   `expiry.rs` — the commands of the sale and the purchase; `sale.rs`
//!   reads an order's holds once for checkout and settlement.
//! * `tickets.rs` — issuing tickets for a paid order, check-in, reading
//!   an order's tickets.
//! * `cancellation.rs` — what a cancelled show undoes: holds withdrawn,
//!   paid orders refunded and their tickets voided.
//! * `views.rs` — what commands return (also what idempotency replays).
//! * `testing.rs` — fixtures for engine-level tests (feature `testing`).

mod cancellation;
mod cart;
mod carts;
mod checkout;
mod engine;
mod error;
mod expiry;
mod gate;
mod holds;
mod load;
mod locks;
mod orders;
mod reservations;
mod sale;
mod settle;
mod shows;
#[cfg(feature = "testing")]
pub mod testing;
mod tickets;
mod views;

pub use ticketing_aggregates::{Clock, SystemClock};

pub use checkout::VOID_INTERRUPTED_AFTER;
pub use engine::{Engine, EngineConfig, IdempotencyKey};
pub use error::CommandError;
pub use locks::{Lease, LockAttempt, SeatLocks};
pub use shows::ScheduleShow;
pub use tickets::{CheckIn, PaidOrder, PaidSeat, TicketView};
pub use views::{OrderView, ReservationView, ShowView};
