//! [`RelayHealth`]: whether a relay's batches keep failing, for the admin
//! port's `/readyz` detail and the `ticketing_relay_consecutive_failures`
//! gauge. A relay that cannot publish never makes its process unready
//! (restarting it would not bring the broker back); it says how long it has
//! been stuck and why, and the backlog gauge shows what waits.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Shared between the relay and whoever reports on it; cheap to clone.
#[derive(Clone, Default)]
pub struct RelayHealth(Arc<Mutex<Option<Failing>>>);

struct Failing {
    since: Instant,
    batches: u32,
    last_error: String,
}

impl RelayHealth {
    pub(crate) fn succeeded(&self) {
        self.state().take();
    }

    /// Records a failed batch; returns how many failed in a row.
    pub(crate) fn failed(&self, error: &dyn std::fmt::Display) -> u32 {
        let mut state = self.state();
        let failing = state.get_or_insert_with(|| Failing {
            since: Instant::now(),
            batches: 0,
            last_error: String::new(),
        });
        failing.batches += 1;
        // Bounded: an error message can quote a broker's answer.
        failing.last_error = error.to_string().chars().take(300).collect();
        failing.batches
    }

    /// How long batches have been failing, if they are.
    pub fn failing_for(&self) -> Option<Duration> {
        self.state().as_ref().map(|f| f.since.elapsed())
    }

    /// `None` while batches succeed, else "stuck for 42 s: 5 batches failed
    /// in a row; last: …".
    pub fn describe(&self) -> Option<String> {
        self.state().as_ref().map(|f| {
            format!(
                "stuck for {} s: {} batches failed in a row; last: {}",
                f.since.elapsed().as_secs(),
                f.batches,
                f.last_error
            )
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Option<Failing>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_until_a_success() {
        let health = RelayHealth::default();
        assert_eq!(health.describe(), None);
        assert_eq!(health.failed(&"broker down"), 1);
        assert_eq!(health.failed(&"x".repeat(1000)), 2);
        let said = health.describe().unwrap();
        assert!(said.contains("2 batches failed in a row"), "{said}");
        assert!(said.len() < 400, "the error is cut short: {said}");
        health.succeeded();
        assert_eq!(health.describe(), None);
        assert_eq!(health.failing_for(), None);
    }
}
