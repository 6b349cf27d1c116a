//! Answers about accounts remembered for a short time, bounded (emptied
//! when full, like the verified-token cache): [`Standings`], whether an
//! account still stands behind its tokens (it exists, is not disabled, and
//! is at the generation the token was issued at), asked on every
//! authenticated call; and the users the workers look up for every paid
//! order (a ticket's holder name, an email's address), which never change
//! their email or display name.
//!
//! A change made through another process takes effect here within the
//! TTL, one made through this process at once ([`Remembered::forget`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::{User, UserId};
use crate::users::Standing;

/// How long an account's standing is remembered.
pub const STANDING_TTL: Duration = Duration::from_secs(2);

/// How long a user looked up by id is remembered; only its role can change
/// meanwhile, which the workers that ask do not read.
pub const USER_TTL: Duration = Duration::from_secs(60);

/// Accounts remembered at most (some 100 to 300 bytes each).
const CAPACITY: usize = 65_536;

/// Whether an account stands: `None` for no such account.
pub(crate) type Standings = Remembered<Option<Standing>>;

/// Users by id.
pub(crate) type Users = Remembered<User>;

/// Values by account, each for `ttl` after it was put.
pub(crate) struct Remembered<V> {
    ttl: Duration,
    entries: Mutex<HashMap<UserId, (Instant, V)>>,
}

impl<V: Clone> Remembered<V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The remembered value, if it is recent.
    pub fn get(&self, user: &UserId, now: Instant) -> Option<V> {
        let entries = self.lock();
        let (at, value) = entries.get(user)?;
        (now.saturating_duration_since(*at) < self.ttl).then(|| value.clone())
    }

    pub fn put(&self, user: &UserId, value: V, now: Instant) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(user.clone(), (now, value));
    }

    /// Forgets `user`, after a change to the account made here.
    pub fn forget(&self, user: &UserId) {
        self.lock().remove(user);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, (Instant, V)>> {
        // Entries are inserted whole: a panic cannot leave one half-made.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standing_is_remembered_for_the_ttl_only_and_the_cache_stays_bounded() {
        let standings = Standings::new(Duration::from_secs(2));
        let user = UserId::generate();
        let now = Instant::now();
        let standing = Standing {
            disabled: false,
            generation: 3,
        };
        standings.put(&user, Some(standing), now);
        assert_eq!(standings.get(&user, now), Some(Some(standing)));
        let later = now + Duration::from_secs(2);
        assert_eq!(standings.get(&user, later), None, "stale after the ttl");
        standings.forget(&user);
        assert_eq!(standings.get(&user, now), None);
        for _ in 0..CAPACITY + 10 {
            standings.put(&UserId::generate(), None, now);
        }
        assert!(standings.lock().len() <= CAPACITY);
    }
}
