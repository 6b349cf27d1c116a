//! The `ticketing` binary's library half: the composition root, so black-box
//! tests can start the very engine the binary runs.
//!
//! * `cli.rs` — the clap command line.
//! * `config.rs` — database location, secrets, durations.
//! * `application.rs` — [`Application`]: build, run until stopped.
//! * `schema.rs` — versioned migrations of every context: `migrate`, and
//!   the check that `serve` on Postgres makes.
//! * `roles.rs` — what each role (gateway, projector, expirer) runs.
//! * `demo.rs` — `demo`: a sample venue, users and orders.
//! * `seatmap.rs` — `seatmap SHOW --as-of TIME` (time travel).
//! * `admin.rs` — `/metrics`, `/healthz`, `/readyz` on the admin port.
//! * `telemetry.rs` — JSON logs, and OTLP trace export when asked.
//! * `ops.rs` — `projections list|status|rebuild`.
//! * `analyst/` — `events export|replay|stats` over the event log.
//! * `expirer.rs` — the expirer: holds past their deadline, stalled
//!   payments, what a cancelled show leaves.
//! * `workers.rs` — the fulfillment and notifier roles, fed in process or
//!   by Kafka.
//! * `keys.rs` — `keys export-public|rotate` (ticket-signing keys).
//! * `notifications.rs` — `notifications list|retry` (the delivery log).
//! * `users.rs` — `users add|list|disable|enable|set-role|reset-password`.
//! * `serve.rs` — `serve`: settings from the flags, the checks a start
//!   makes (`--check-config` stops after them).
//! * `probe.rs` — `probe URL`: the containers' healthcheck.

pub mod admin;
pub mod analyst;
pub mod application;
pub mod cli;
pub mod config;
pub mod demo;
pub mod expirer;
pub mod keys;
pub mod notifications;
pub mod ops;
pub mod probe;
mod roles;
pub mod schema;
pub mod seatmap;
pub mod serve;
pub mod telemetry;
pub mod users;
pub mod workers;

pub use application::{shutdown_signal, Application, Role, Settings};
pub use schema::{migrate_store, open_store};
