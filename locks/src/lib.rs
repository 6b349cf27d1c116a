//! Advisory seat locks in Redis (`--redis-url`): the Redis adapter of the
//! commands' [`SeatLocks`](ticketing_commands::SeatLocks) port.
//!
//! * A single seat is locked with `SET key token NX PX <lock ttl>`, a
//!   random token per decision; several seats at once with a Lua script
//!   that sets them all only if none exists (all or nothing, so two
//!   multi-seat decisions never deadlock or half-lock).
//! * Releasing is compare-and-delete (Lua): only the token that took a lock
//!   frees it. A won decision turns its locks into `taken` marks that live
//!   as long as the engine trusts its memory of taken seats (2 s, at most
//!   until the hold's deadline), so other
//!   processes refuse the seat without a read; a release of the
//!   reservation deletes them.
//! * Keys are `ticketing:seat:{<show id>}/<label>`: one show's seats share
//!   a hash slot, so the scripts also run on a Redis Cluster.
//!
//! **Advisory, not Redlock.** One Redis, no fencing tokens: a lock can
//! expire while its holder still decides (a GC pause, a slow database), a
//! failover can lose a lock, a partitioned Redis is skipped. Each of these
//! costs at most a wasted read or a conflict. Who holds a seat is decided
//! only by the event store's optimistic concurrency (the expected sequence
//! of every seat stream in one atomic append), so no lock state can make
//! the engine sell a seat twice, and Redlock's extra round trips to a
//! majority of nodes would buy nothing.
//!
//! **When Redis is down or slow**, every call is bounded (`--redis-timeout`,
//! 20 ms by default): a command that gets no answer in time goes on without
//! locks ([`LockAttempt::Bypassed`](ticketing_commands::LockAttempt)). The
//! adapter logs once when Redis stops answering and once when it is back,
//! sets `ticketing_seat_locks_up` (1 or 0), counts each attempt's outcome in
//! `ticketing_seat_locks_total{outcome}`, and [`SeatLockHealth`] gives
//! `/readyz` its detail. The connection manager reconnects by itself.

mod health;
mod redis_locks;
#[cfg(feature = "testing")]
pub mod testing;

pub use health::SeatLockHealth;
pub use redis_locks::{RedisSeatLocks, SeatLockConfig};
