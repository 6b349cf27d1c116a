//! What the benchmark binaries share: the engine under test as a black box
//! (`server`), the Postgres server and its pgbench baseline (`postgres`),
//! and the fixture every measurement starts from — customers, an organizer,
//! a show on sale (`fixture`).

pub mod fixture;
pub mod postgres;
pub mod server;
