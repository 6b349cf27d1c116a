//! [`SeatLockHealth`]: whether Redis answers the seat locks, logged once
//! per change of state and shown on `/readyz` and `ticketing_seat_locks_up`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Shared by the adapter and the admin port; cheap to clone.
#[derive(Clone)]
pub struct SeatLockHealth(Arc<Mutex<State>>);

struct State {
    /// `None` while Redis answers; else since when it has not, and why.
    down: Option<(Instant, String)>,
}

impl Default for SeatLockHealth {
    fn default() -> Self {
        metrics::gauge!("ticketing_seat_locks_up").set(1.0);
        SeatLockHealth(Arc::new(Mutex::new(State { down: None })))
    }
}

impl SeatLockHealth {
    /// Redis answered.
    pub(crate) fn answered(&self) {
        let mut state = self.state();
        if let Some((since, _)) = state.down.take() {
            tracing::info!(
                down_for_ms = since.elapsed().as_millis() as u64,
                "Redis answers again; seat locks are used again"
            );
            metrics::gauge!("ticketing_seat_locks_up").set(1.0);
        }
    }

    /// Redis did not answer in time, or failed.
    pub(crate) fn failed(&self, why: &str) {
        let mut state = self.state();
        if state.down.is_none() {
            tracing::warn!(
                error = why,
                "Redis does not answer; seats are taken without locks (still never twice)"
            );
            metrics::gauge!("ticketing_seat_locks_up").set(0.0);
            // Bounded: an error can quote the server.
            state.down = Some((Instant::now(), why.chars().take(200).collect()));
        }
    }

    /// Whether the last call got an answer.
    pub fn is_up(&self) -> bool {
        self.state().down.is_none()
    }

    /// For `/readyz`: `seat locks: redis` or `seat locks: bypassed for 12 s
    /// (redis: …)`.
    pub fn describe(&self) -> String {
        match &self.state().down {
            None => "seat locks: redis".to_owned(),
            Some((since, why)) => format!(
                "seat locks: bypassed for {} s ({why})",
                since.elapsed().as_secs()
            ),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_until_the_next_answer() {
        let health = SeatLockHealth::default();
        assert!(health.is_up());
        health.failed("timed out");
        health.failed("connection refused");
        assert!(!health.is_up());
        let said = health.describe();
        assert!(
            said.contains("bypassed") && said.contains("timed out"),
            "{said}"
        );
        health.answered();
        assert_eq!(health.describe(), "seat locks: redis");
    }
}
