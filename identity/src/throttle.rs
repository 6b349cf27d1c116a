//! Failed-login throttling: a scripted guesser gets a few tries per email
//! and somewhat more per peer address per window, then RESOURCE_EXHAUSTED
//! with the time to wait, without the server spending argon2 on it.
//!
//! Fixed windows per key: the first failure opens a window of [`WINDOW`];
//! once a key has [`PER_EMAIL`] (email) or [`PER_PEER`] (peer) failures in
//! it, every login for that key is refused until the window ends, the right
//! password included (else guessing would go on, just slower).
//!
//! An attempt counts as a failure from the moment it is admitted
//! ([`LoginThrottle::admit`]), not once its password check has failed: a
//! burst of thousands of concurrent guesses would otherwise all pass the
//! check before the first failure was counted, and each would cost an
//! argon2 hash. A success takes its count back from the peer and clears the
//! email's; an attempt that could not be checked (the store was down, the
//! hasher busy) takes both back. The state is per process (each gateway
//! keeps its own) and bounded: at most [`MAX_KEYS`] keys per map; when
//! full, windows that ended are dropped, then the oldest.

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

    /// Takes back one failure counted by [`Counts::fail`].
    fn unfail(&mut self, key: &K) {
        if let Some(window) = self.windows.get_mut(key) {
            window.failures = window.failures.saturating_sub(1);
        }
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

    /// Admits a login for `email` from `peer`, counting it as a failure
    /// until it succeeds; or, if the email or the peer is throttled, how
    /// long to wait.
    pub fn admit(&self, email: &str, peer: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let mut state = self.state();
        let email = key(email);
        let by_email = state.0.wait(&email, PER_EMAIL, now);
        let by_peer = peer.and_then(|peer| state.1.wait(&peer, PER_PEER, now));
        if let Some(wait) = by_email.max(by_peer) {
            return Err(wait);
        }
        state.0.fail(&email, now);
        if let Some(peer) = peer {
            state.1.fail(&peer, now);
        }
        Ok(())
    }

    /// The admitted login succeeded: the email starts afresh, the peer's
    /// count of it is taken back.
    pub fn succeeded(&self, email: &str, peer: Option<IpAddr>) {
        let mut state = self.state();
        state.0.clear(&key(email));
        if let Some(peer) = peer {
            state.1.unfail(&peer);
        }
    }

    /// The admitted login could not be checked (not a wrong password):
    /// neither count keeps it.
    pub fn unchecked(&self, email: &str, peer: Option<IpAddr>) {
        let mut state = self.state();
        state.0.unfail(&key(email));
        if let Some(peer) = peer {
            state.1.unfail(&peer);
        }
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
            assert_eq!(throttle.admit("ada@example.com", None, t0), Ok(()));
        }
        let wait = throttle.admit("ADA@example.com", None, t0 + Duration::from_secs(60));
        assert_eq!(wait, Err(WINDOW - Duration::from_secs(60)));
        assert_eq!(
            throttle.admit("bob@example.com", None, t0),
            Ok(()),
            "others are not"
        );
        assert_eq!(
            throttle.admit("ada@example.com", None, t0 + WINDOW),
            Ok(()),
            "it ends"
        );
    }

    #[test]
    fn a_success_clears_the_email_but_not_the_peer() {
        let throttle = LoginThrottle::default();
        let (t0, peer) = (Instant::now(), Some(IpAddr::from([10, 0, 0, 1])));
        for i in 0..PER_PEER {
            let email = format!("user{}@example.com", i % 12);
            assert_eq!(throttle.admit(&email, peer, t0), Ok(()));
        }
        assert!(throttle.admit("more@example.com", peer, t0).is_err());
        // One of them was right: the peer gets that one back, no more.
        throttle.succeeded("user0@example.com", peer);
        assert_eq!(throttle.admit("more@example.com", peer, t0), Ok(()));
        assert!(
            throttle.admit("fresh@example.com", peer, t0).is_err(),
            "the peer is"
        );
        assert_eq!(throttle.admit("user0@example.com", None, t0), Ok(()));
        assert_eq!(
            throttle.admit("fresh@example.com", Some(IpAddr::from([10, 0, 0, 2])), t0),
            Ok(())
        );
    }

    /// A burst of concurrent guesses is cut off at the limit before any of
    /// them has finished; attempts that could not be checked are not held
    /// against anyone.
    #[test]
    fn attempts_count_from_their_admission() {
        let throttle = LoginThrottle::default();
        let (t0, peer) = (Instant::now(), Some(IpAddr::from([10, 0, 0, 9])));
        let admitted = (0..2_000)
            .filter(|i| {
                let email = format!("nobody{i}@example.com");
                throttle.admit(&email, peer, t0).is_ok()
            })
            .count();
        assert_eq!(admitted, PER_PEER as usize);
        for i in 0..PER_EMAIL {
            throttle.unchecked(&format!("nobody{i}@example.com"), peer);
        }
        let other = Some(IpAddr::from([10, 0, 0, 10]));
        for _ in 0..PER_EMAIL {
            assert_eq!(throttle.admit("ada@example.com", other, t0), Ok(()));
            throttle.unchecked("ada@example.com", other);
        }
        assert_eq!(throttle.admit("ada@example.com", other, t0), Ok(()));
        assert_eq!(
            throttle.admit("late@example.com", peer, t0),
            Ok(()),
            "the unchecked attempts were taken back"
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
