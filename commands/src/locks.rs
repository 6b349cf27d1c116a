//! The seat-lock port: advisory locks shared by every process that decides
//! on seats (the Redis adapter is the `ticketing-locks` crate).
//!
//! Around a seat decision, a command first asks for every seat's lock at
//! once. A seat whose lock another process holds — it is deciding on that
//! seat right now, or just took it — is answered SEAT_UNAVAILABLE at once,
//! without loading a stream: under a rush on one seat, the losers in other
//! processes cost one lock round trip each, not a read and a conflicting
//! append. A won decision leaves a "taken" mark for a short while; a lost
//! one frees the locks; a lock whose holder died expires by itself.
//!
//! The locks are advisory, never the guarantee: the store's optimistic
//! concurrency alone decides who holds a seat. A lock that expired while
//! its holder was still deciding, a lock service that is down or slow
//! (then [`LockAttempt::Bypassed`]: the command goes on without locks), or
//! a stale mark can cost a retry or a refusal that a moment later would
//! have succeeded, but never a seat held or sold twice.

use std::future::Future;
use std::pin::Pin;

use std::time::Duration;

/// What asking for a set of seat locks gave.
pub enum LockAttempt {
    /// Every seat is ours until the lease is dropped or marked.
    Acquired(Box<dyn Lease>),
    /// Another process holds the lock of the seat at this index.
    Contended(usize),
    /// The lock service did not answer in time: go on without locks.
    Bypassed,
}

/// Advisory locks on seats, shared by all processes.
pub trait SeatLocks: Send + Sync + 'static {
    /// Takes the locks of all `seat_ids` (of one show) at once, or none.
    fn acquire<'a>(
        &'a self,
        seat_ids: &'a [String],
    ) -> Pin<Box<dyn Future<Output = LockAttempt> + Send + 'a>>;

    /// Drops the seats' "taken" marks after a release (best effort).
    fn forget(&self, seat_ids: &[String]);
}

/// Held locks. Dropped without [`Lease::taken`], they are freed (in the
/// background; a lost release only means the lock expires by itself).
pub trait Lease: Send {
    /// The decision held the seats: the locks become "taken" marks, kept
    /// for `keep` (the engine's trust window for taken seats, cut to the
    /// hold's deadline).
    fn taken(self: Box<Self>, keep: Duration);
}
