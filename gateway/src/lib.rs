//! The gRPC gateway: the inbound adapter that speaks `ticketing.v1` and
//! turns calls into use cases of the inner crates. Protobuf types stop here.
//!
//! * `server.rs` — [`GatewayServices`] and [`serve`]: the tonic server with
//!   health, reflection, grpc-web and a tracing span per call.
//! * `error.rs` — [`AppError`] and the one mapping to `tonic::Status` with
//!   `google.rpc` rich details.
//! * `auth.rs` — [`caller`]: the bearer token of a request, and role checks.
//! * `idempotency.rs` — the `idempotency-key` metadata entry and request
//!   fingerprints.
//! * `identity_service.rs` — `IdentityService` (Register, Login), and
//!   `accounts.rs` its admin RPCs (ListUsers, DisableUser, EnableUser,
//!   SetUserRole, ResetPassword).
//! * `catalog_service.rs` — `CatalogService` (schedule, publish, cancel, read shows).
//! * `inventory_service.rs` — `InventoryService` (reserve, release, seat map).
//! * `ordering_service.rs` — `OrderingService` (cart, checkout, orders).
//! * `fulfillment_service.rs` — `FulfillmentService` (tickets, their PDFs,
//!   check-in).
//! * `consistency.rs` — [`Consistency`]: read-your-writes tokens on
//!   commands, the wait for them on queries.
//! * `metrics.rs` — per-RPC latency histograms by RPC and code.
//! * `convert.rs` — protobuf ↔ domain values and inner errors → [`AppError`].
//! * `watch.rs` — `WatchSeatMap` streams: snapshot, live changes, resume.
//! * `quota.rs` — open watches bounded per process and per peer.
//! * `snapshots.rs` — seat-map snapshots shared by a show's new watches.
//! * `cors.rs` — [`Origins`] from `--cors-origin`, and CORS for grpc-web.
//! * `limits.rs` — [`ServerLimits`]: deadlines, load shedding, streams,
//!   keepalive, connection age, message size.

mod accounts;
mod auth;
mod catalog_service;
mod consistency;
mod convert;
mod cors;
mod error;
mod fulfillment_service;
mod idempotency;
mod identity_service;
mod inventory_service;
mod limits;
mod metrics;
mod ordering_service;
mod paging;
mod quota;
mod server;
mod snapshots;
mod watch;

pub use auth::{caller, Caller};
pub use catalog_service::CatalogApi;
pub use consistency::{Consistency, DEFAULT_WAIT, MIN_TOKEN_HEADER, TOKEN_HEADER};
pub use cors::{grpc_web_cors, Origins};
pub use error::{clip, AppError, FieldViolation, ERROR_DOMAIN, MAX_VIOLATIONS};
pub use fulfillment_service::FulfillmentApi;
pub use idempotency::{idempotency_key, request_hash, IDEMPOTENCY_KEY};
pub use identity_service::{role_to_pb, IdentityApi};
pub use inventory_service::InventoryApi;
pub use limits::{LimitsLayer, ServerLimits};
pub use ordering_service::OrderingApi;
pub use server::{serve, GatewayServices, ServeError};
