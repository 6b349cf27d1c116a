//! Failed-login throttling: a scripted guesser gets a few tries per email
//! and somewhat more per peer address per window, then RESOURCE_EXHAUSTED
//! with the time to wait, without the server spending argon2 on it.
//!
//! Fixed windows per key: the first failure opens a window of [`WINDOW`];
//! once a key has [`PER_EMAIL`] (email) or [`PER_PEER`] (peer) failures in
//! it, every login for that key is refused until the window ends, the right
//! password included (else guessing would go on, just slower). A success
//! clears the email's count. The state is per process (each gateway keeps
//! its own) and bounded: at most [`MAX_KEYS`] keys per map; when full,
//! windows that ended are dropped, then the oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long failures are counted, and a throttled key waits at most.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);
/// Failed logins per email in a window before it is throttled.
pub const PER_EMAIL: u32 = 5;
/// Failed logins from one peer address in a window before it is throttled.
pub const PER_PEER: u32 = 50;
/// Keys each map keeps at most.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    failures: u32,
}

#[derive(Debug)]
struct Counts<K> {
    windows: HashMap<K, Window>,
}

impl<K> Default for Counts<K> {
    fn default() -> Self {
        Self {
            windows: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Counts<K> {
    /// How long `key` must still wait, if it is throttled at `now`.
    fn wait(&self, key: &K, limit: u32, now: Instant) -> Option<Duration> {
        let window = self.windows.get(key)?;
        let elapsed = now.saturating_duration_since(window.opened);
        (window.failures >= limit && elapsed < WINDOW).then(|| WINDOW - elapsed)
    }

    fn fail(&mut self, key: &K, now: Instant) {
        if !self.windows.contains_key(key) && self.windows.len() >= MAX_KEYS {
            self.make_room(now);
        }
        let window = self.windows.entry(key.clone()).or_insert(Window {
            opened: now,
            failures: 0,
        });
        if now.saturating_duration_since(window.opened) >= WINDOW {
            *window = Window {
                opened: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    fn clear(&mut self, key: &K) {
        self.windows.remove(key);
    }

    fn make_room(&mut self, now: Instant) {
        self.windows
            .retain(|_, w| now.saturating_duration_since(w.opened) < WINDOW);
        if self.windows.len() >= MAX_KEYS {
            if let Some(oldest) = self
                .windows
                .iter()
                .min_by_key(|(_, w)| w.opened)
                .map(|(k, _)| k.clone())
            {
                self.windows.remove(&oldest);
            }
        }
    }
}

/// The failed-login counts of one process.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    state: Mutex<(Counts<String>, Counts<IpAddr>)>,
}

impl LoginThrottle {
    fn state(&self) -> std::sync::MutexGuard<'_, (Counts<String>, Counts<IpAddr>)> {
        // Counts only: a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a login for `email` from `peer` must wait, if throttled.
    pub fn wait(&self, email: &str, peer: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let state = self.state();
        let by_email = state.0.wait(&key(email), PER_EMAIL, now);
        let by_peer = peer.and_then(|peer| state.1.wait(&peer, PER_PEER, now));
        by_email.max(by_peer)
    }

    pub fn failed(&self, email: &str, peer: Option<IpAddr>, now: Instant) {
        let mut state = self.state();
        state.0.fail(&key(email), now);
        if let Some(peer) = peer {
            state.1.fail(&peer, now);
        }
    }

    pub fn succeeded(&self, email: &str) {
        self.state().0.clear(&key(email));
    }
}

/// Emails compare case-insensitively, and a huge one costs no more memory
/// than a normal one.
fn key(email: &str) -> String {
    email
        .chars()
        .take(320)
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_throttled_after_its_failures_until_the_window_ends() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..PER_EMAIL {
            assert_eq!(throttle.wait("ada@example.com", None, t0), None);
            throttle.failed("ada@example.com", None, t0);
        }
        let wait = throttle.wait("ADA@example.com", None, t0 + Duration::from_secs(60));
        assert_eq!(wait, Some(WINDOW - Duration::from_secs(60)));
        assert_eq!(
            throttle.wait("bob@example.com", None, t0),
            None,
            "others are not"
        );
        assert_eq!(
            throttle.wait("ada@example.com", None, t0 + WINDOW),
            None,
            "it ends"
        );
    }

    #[test]
    fn a_success_clears_the_email_but_not_the_peer() {
        let throttle = LoginThrottle::default();
        let (t0, peer) = (Instant::now(), Some(IpAddr::from([10, 0, 0, 1])));
        for i in 0..PER_PEER {
            let email = format!("user{}@example.com", i % 3);
            throttle.failed(&email, peer, t0);
        }
        throttle.succeeded("user0@example.com");
        assert!(
            throttle.wait("fresh@example.com", peer, t0).is_some(),
            "the peer is"
        );
        assert_eq!(throttle.wait("fresh@example.com", None, t0), None);
        assert_eq!(
            throttle.wait("fresh@example.com", Some(IpAddr::from([10, 0, 0, 2])), t0),
            None
        );
    }

    #[test]
    fn the_maps_stay_bounded() {
        let mut counts = Counts::default();
        let t0 = Instant::now();
        for i in 0..MAX_KEYS + 10 {
            counts.fail(&i, t0 + Duration::from_nanos(i as u64));
        }
        assert!(counts.windows.len() <= MAX_KEYS);
        assert!(!counts.windows.contains_key(&0), "the oldest went first");
    }
}
