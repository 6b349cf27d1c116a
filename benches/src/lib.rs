//! What the benchmark binaries share: the engine under test as a black box
//! (`server`), the Postgres server and its pgbench baseline (`postgres`),
//! the fixture every measurement starts from — customers, an organizer,
//! a show on sale (`fixture`) — and a large log to start from (`seed`).

pub mod fixture;
pub mod postgres;
pub mod seed;
pub mod server;
