//! The seat gate: per-seat single-flight plus a short-lived memory of taken
//! seats, so that under contention only one request per seat reaches the
//! store and the losers are answered from memory.
//!
//! It is an optimisation, never the guarantee: the store's optimistic
//! concurrency decides who holds a seat. The memory only says "taken" (never
//! "free"), is set from the store's own answers, and is trusted for a short
//! TTL, so a release made by another process is seen within that TTL.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OwnedMutexGuard;

/// Above this many tracked seats, idle entries are dropped.
const PRUNE_ABOVE: usize = 50_000;

#[derive(Default)]
struct Slot {
    lock: Arc<tokio::sync::Mutex<()>>,
    /// The seat's deadline as last seen (`None` = sold), and when we saw it.
    taken: Option<(Option<DateTime<Utc>>, Instant)>,
    /// The seat's stream has events: this process saw it taken.
    written: bool,
}

pub struct SeatGate {
    slots: Mutex<HashMap<String, Slot>>,
    ttl: Duration,
}

/// Held while a command decides on its seats; dropping it lets the next in.
pub struct Passage {
    _guards: Vec<OwnedMutexGuard<()>>,
}

impl SeatGate {
    pub fn new(ttl: Duration) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding this lock leaves only cache entries behind,
        // which are safe to keep using.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the seat is known to be taken at `now`.
    pub fn is_taken(&self, seat_id: &str, now: DateTime<Utc>) -> bool {
        let slots = self.slots();
        let Some((until, seen)) = slots.get(seat_id).and_then(|slot| slot.taken) else {
            return false;
        };
        seen.elapsed() < self.ttl && until.is_none_or(|until| until > now)
    }

    /// Remembers that the seat is held until `until` (`None`: sold).
    pub fn mark_taken(&self, seat_id: &str, until: Option<DateTime<Utc>>) {
        let mut slots = self.slots();
        let slot = slots.entry(seat_id.to_owned()).or_default();
        slot.taken = Some((until, Instant::now()));
        slot.written = true;
    }

    /// Whether this process knows that any of the seats' streams has
    /// events (it saw the seat taken; a release does not undo that). A seat
    /// it knows nothing of may still have been held by another process.
    pub fn any_written(&self, seat_ids: &[String]) -> bool {
        let slots = self.slots();
        seat_ids
            .iter()
            .any(|id| slots.get(id).is_some_and(|slot| slot.written))
    }

    pub fn forget(&self, seat_id: &str) {
        if let Some(slot) = self.slots().get_mut(seat_id) {
            slot.taken = None;
        }
    }

    /// Waits for exclusive passage through every listed seat. Locks are taken
    /// in sorted order, so two multi-seat requests never deadlock.
    pub async fn enter(&self, seat_ids: &[String]) -> Passage {
        let mut sorted: Vec<&String> = seat_ids.iter().collect();
        sorted.sort();
        sorted.dedup();
        let locks: Vec<_> = {
            let mut slots = self.slots();
            if slots.len() > PRUNE_ABOVE {
                let ttl = self.ttl;
                slots.retain(|_, slot| {
                    Arc::strong_count(&slot.lock) > 1
                        || slot.taken.is_some_and(|(_, seen)| seen.elapsed() < ttl)
                });
            }
            sorted
                .iter()
                .map(|id| slots.entry((*id).clone()).or_default().lock.clone())
                .collect()
        };
        let mut guards = Vec::with_capacity(locks.len());
        for lock in locks {
            guards.push(lock.lock_owned().await);
        }
        Passage { _guards: guards }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn taken_seats_are_remembered_until_deadline_or_ttl() {
        let gate = SeatGate::new(Duration::from_millis(50));
        let now = Utc::now();
        gate.mark_taken("s/A-1", Some(now + chrono::Duration::minutes(1)));
        gate.mark_taken("s/A-2", Some(now));
        assert!(gate.is_taken("s/A-1", now));
        assert!(!gate.is_taken("s/A-2", now), "a deadline reached is free");
        gate.forget("s/A-1");
        assert!(!gate.is_taken("s/A-1", now));
        assert!(gate.any_written(&["s/A-0".into(), "s/A-1".into()]));
        assert!(!gate.any_written(&["s/A-0".into()]), "never seen taken");
        gate.mark_taken("s/A-3", None);
        assert!(gate.is_taken("s/A-3", now));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            !gate.is_taken("s/A-3", now),
            "memory is trusted only for the TTL"
        );
    }

    #[tokio::test]
    async fn passage_is_exclusive_per_seat() {
        let gate = Arc::new(SeatGate::new(Duration::from_secs(1)));
        let first = gate.enter(&["b".into(), "a".into()]).await;
        let second = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter(&["a".into()]).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !second.is_finished(),
            "a seat in passage blocks the next request"
        );
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), second)
            .await
            .expect("released passage lets the next in")
            .expect("task");
    }
}
