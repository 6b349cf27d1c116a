//! What the benchmark binaries share: the engine under test as a black box
//! (`server`), the Postgres server and its pgbench baseline (`postgres`),
//! the fixture every measurement starts from — customers, an organizer,
//! a show on sale (`fixture`) — a large log to start from (`seed`), and
//! call outcomes and latency percentiles (`stats`).

pub mod fixture;
pub mod postgres;
pub mod seed;
pub mod server;
pub mod stats;
